// Incidents and what decides who hears about them (DESIGN.md, vocabulary: incident,
// escalation policy, contact/channel). Plain data; the escalation rules live in
// escalation.h, the JSON form in incident_json.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/time.h"
#include "base/uuid.h"

namespace overdue::model {

using base::Duration;
using base::TimePoint;
using base::Uuid;

// Where notifications go. `config` is the kind's settings as a JSON object (text), checked
// by notify::ValidateChannel when the channel is created or changed.
// Kinds: email, webhook, slack, mattermost, discord, teams, ntfy, telegram, pushover, sms,
// voice, command.
struct Channel {
  Uuid id;
  int64_t project_id = 0;
  std::string kind;
  std::string name;
  std::string config;  // JSON object text
  TimePoint created{};
};

// One rung of an escalation chain: notify these channels, then wait this long for an
// acknowledgement before the next rung.
struct EscalationStep {
  std::vector<Uuid> channels;
  Duration wait = std::chrono::minutes(10);
  bool operator==(const EscalationStep&) const = default;
};

// The part of a policy copied onto an incident when it opens: editing the policy later
// never changes an escalation already running.
struct EscalationChain {
  std::vector<EscalationStep> steps;
  int repeat = 1;  // how many times the whole chain runs (>= 1) unless acknowledged
  // After the chain has run `repeat` times: notify every channel of the chain again every
  // `remind_every` until acknowledged (0: stop after the chain).
  Duration remind_every{0};
  // An acknowledged incident still down after this long is re-opened and escalates again
  // from the first step (PagerDuty's acknowledgement timeout; 0: never).
  Duration ack_timeout{0};
  bool operator==(const EscalationChain&) const = default;
};

// An escalation policy. Which policy a watch uses: a policy listing the watch's id, else
// the first (by name) listing one of its tags, else the project's default policy, else the
// implicit one (one step: the watch's own channels).
struct Policy {
  Uuid id;
  int64_t project_id = 0;
  std::string name;
  bool is_default = false;
  std::vector<Uuid> watches;
  std::vector<std::string> tags;
  EscalationChain chain;
  // Open an incident for fail/exit signals only after this many consecutive failures
  // (a missed deadline always opens one at once).
  int alert_after_failures = 1;
  // Channels told early, when a watch enters its grace period ("late"), before "down".
  std::vector<Uuid> late_channels;
  TimePoint created{};
};

// Holds notifications back for a time range: state changes are still recorded.
// Matches a watch (watch_id), a tag, or the whole project (neither set).
struct Silence {
  Uuid id;
  int64_t project_id = 0;
  std::optional<Uuid> watch_id;
  std::string tag;
  TimePoint starts{};
  TimePoint ends{};
  std::string reason;
  std::string created_by;
  TimePoint created{};
};

enum class IncidentState : uint8_t { kOpen, kAcknowledged, kResolved };
std::string_view IncidentStateName(IncidentState s);  // "open", "acknowledged", "resolved"
std::optional<IncidentState> ParseIncidentState(std::string_view name);

struct Incident {
  int64_t id = 0;
  int64_t project_id = 0;
  Uuid watch_id;
  std::string watch_name;
  std::string cause;  // "timeout", "fail", "exit", "sos", "duress"
  std::string cause_detail;
  TimePoint opened_at{};  // when the watch went down (the deadline, for a timeout)
  IncidentState state = IncidentState::kOpen;
  TimePoint acked_at{};
  std::string acked_by;
  TimePoint resolved_at{};
  std::string resolved_by;  // "check-in" when a success check-in resolved it
  std::string resolve_reason;
  std::string policy_name;  // the policy the chain was copied from ("" : implicit)
  EscalationChain chain;
  // Bumped by every acknowledgement, un-acknowledgement, resolution and escalation step:
  // a timer carries the id it was scheduled with and does nothing when it no longer matches.
  int64_t escalation_id = 0;
  int step = 0;                      // index into chain.steps of the last rung notified
  int round = 0;                     // completed runs of the whole chain
  TimePoint next_at = base::kNever;  // when the escalation next acts
  std::vector<Uuid> notified;        // every channel told so far (recovery goes to these)
};

// One line of an incident's timeline. `kind`: check_in, state, opened, notification,
// attempt, delivery_failed, held, escalation, acknowledged, unacknowledged, note, resolved,
// reopened. `data` is a JSON object (text) with the details.
struct TimelineEntry {
  int64_t incident_id = 0;
  TimePoint at{};
  std::string kind;
  std::string actor;  // who: "system", "check-in", an API key name, "link"
  std::string message;
  std::string data = "{}";
};

enum class NotificationStatus : uint8_t { kPending, kDelivered, kFailed, kHeld };
std::string_view NotificationStatusName(NotificationStatus s);  // "pending", "delivered", ...
std::optional<NotificationStatus> ParseNotificationStatus(std::string_view name);

// An outbox row: one message for one channel, written in the transaction of the change
// that caused it and delivered at least once by the notifier.
struct Notification {
  int64_t id = 0;
  int64_t incident_id = 0;  // 0 for a late warning (no incident yet)
  int64_t project_id = 0;
  Uuid watch_id;
  Uuid channel_id;
  // The channel's name and kind when the notification was written: the incident's timeline
  // shows them even after the channel is renamed or deleted.
  std::string channel_name;
  std::string channel_kind;
  std::string event;  // "down", "late", "escalation", "reminder", "reopened", "recovery", "test"
  std::string idempotency_key;
  std::string context;  // JSON object text: the template variables (notify/message.h)
  NotificationStatus status = NotificationStatus::kPending;
  int attempts = 0;
  TimePoint created{};
  TimePoint next_attempt_at{};
  TimePoint finished_at{};  // delivered or finally failed
  std::string last_error;
};

}  // namespace overdue::model
