#include "model/escalation.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/duration.h"

namespace overdue::model {
namespace {

void AddNotified(Incident& inc, const std::vector<Uuid>& channels) {
  for (const Uuid& c : channels) {
    if (std::find(inc.notified.begin(), inc.notified.end(), c) == inc.notified.end()) {
      inc.notified.push_back(c);
    }
  }
}

// Notifies step `step` of the chain now and schedules what follows it.
EscalationEffect RunStep(Incident& inc, int step, TimePoint now, std::string event,
                         std::string kind, std::string message) {
  inc.step = step;
  ++inc.escalation_id;
  EscalationEffect e{std::move(event), {}, std::move(kind), std::move(message)};
  if (inc.chain.steps.empty()) {
    inc.next_at = base::kNever;
    return e;
  }
  const EscalationStep& s = inc.chain.steps[static_cast<size_t>(step)];
  e.channels = s.channels;
  AddNotified(inc, e.channels);
  inc.next_at = now + s.wait;
  return e;
}

}  // namespace

std::vector<Uuid> ChainChannels(const EscalationChain& chain) {
  std::vector<Uuid> all;
  for (const EscalationStep& s : chain.steps) {
    for (const Uuid& c : s.channels) {
      if (std::find(all.begin(), all.end(), c) == all.end()) all.push_back(c);
    }
  }
  return all;
}

EscalationEffect OpenIncident(Incident& inc, TimePoint now) {
  inc.state = IncidentState::kOpen;
  inc.round = 0;
  return RunStep(inc, 0, now, "down", "opened", "incident opened: " + inc.cause_detail);
}

std::optional<EscalationEffect> OnEscalationDue(Incident& inc, int64_t escalation_id,
                                                TimePoint now) {
  if (escalation_id != inc.escalation_id || inc.state == IncidentState::kResolved ||
      inc.next_at == base::kNever || now < inc.next_at) {
    return std::nullopt;
  }
  if (inc.state == IncidentState::kAcknowledged) {
    // The acknowledgement timed out: the incident is everybody's problem again.
    inc.state = IncidentState::kOpen;
    inc.round = 0;
    return RunStep(inc, 0, now, "reopened", "reopened",
                   fmt::format("still down {} after the acknowledgement by {}: escalating again",
                               base::FormatDuration(inc.chain.ack_timeout), inc.acked_by));
  }
  const int steps = static_cast<int>(inc.chain.steps.size());
  if (inc.step + 1 < steps) {
    const int next = inc.step + 1;
    return RunStep(inc, next, now, "escalation", "escalation",
                   fmt::format("not acknowledged: escalating to step {}", next + 1));
  }
  // The last step's wait is over: the chain starts over, or reminders take over.
  ++inc.round;
  if (inc.round < inc.chain.repeat) {
    return RunStep(inc, 0, now, "escalation", "escalation",
                   fmt::format("not acknowledged: repeating the chain (run {} of {})",
                               inc.round + 1, inc.chain.repeat));
  }
  ++inc.escalation_id;
  if (inc.chain.remind_every <= base::Duration{0}) {
    inc.next_at = base::kNever;
    const base::Duration waited =
        inc.chain.steps.empty() ? base::Duration{0} : inc.chain.steps.back().wait;
    // No policy: the watch's channels were told once, which is all the implicit chain does.
    std::string message =
        inc.policy_name.empty()
            ? fmt::format(
                  "not acknowledged {} after the notification; no escalation policy, so "
                  "nobody else is told",
                  base::FormatDuration(waited))
            : fmt::format(
                  "not acknowledged {} after the last step of policy \"{}\" ({}); "
                  "escalation chain exhausted, nobody else is told",
                  base::FormatDuration(waited), inc.policy_name,
                  inc.chain.repeat == 1 ? std::string("one run")
                                        : fmt::format("{} runs", inc.chain.repeat));
    return EscalationEffect{"", {}, "escalation", std::move(message)};
  }
  inc.next_at = now + inc.chain.remind_every;
  EscalationEffect e{"reminder", ChainChannels(inc.chain), "reminder",
                     "not acknowledged: reminding every channel of the chain"};
  AddNotified(inc, e.channels);
  return e;
}

base::Result<std::optional<EscalationEffect>> Acknowledge(Incident& inc, const std::string& by,
                                                          TimePoint now) {
  if (inc.state == IncidentState::kResolved) {
    return base::Error{base::ErrorCode::kConflict, "incident is resolved"};
  }
  if (inc.state == IncidentState::kAcknowledged) return std::optional<EscalationEffect>{};
  inc.state = IncidentState::kAcknowledged;
  inc.acked_at = now;
  inc.acked_by = by;
  ++inc.escalation_id;
  inc.next_at =
      inc.chain.ack_timeout > base::Duration{0} ? now + inc.chain.ack_timeout : base::kNever;
  return std::optional<EscalationEffect>{
      EscalationEffect{"", {}, "acknowledged", "acknowledged by " + by}};
}

base::Result<EscalationEffect> Unacknowledge(Incident& inc, const std::string& by, TimePoint now) {
  if (inc.state != IncidentState::kAcknowledged) {
    return base::Error{base::ErrorCode::kConflict, "incident is not acknowledged"};
  }
  inc.state = IncidentState::kOpen;
  inc.acked_at = {};
  inc.acked_by.clear();
  inc.round = 0;
  return RunStep(inc, 0, now, "reopened", "unacknowledged",
                 "un-acknowledged by " + by + ": escalating again from the first step");
}

base::Result<EscalationEffect> Resolve(Incident& inc, const std::string& by,
                                       const std::string& reason, TimePoint now) {
  if (inc.state == IncidentState::kResolved) {
    return base::Error{base::ErrorCode::kConflict, "incident is already resolved"};
  }
  inc.state = IncidentState::kResolved;
  inc.resolved_at = now;
  inc.resolved_by = by;
  inc.resolve_reason = reason;
  ++inc.escalation_id;
  inc.next_at = base::kNever;
  return EscalationEffect{"recovery", inc.notified, "resolved",
                          "resolved by " + by + (reason.empty() ? "" : ": " + reason)};
}

}  // namespace overdue::model
