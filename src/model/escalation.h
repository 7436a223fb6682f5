// The escalation rules of an incident, pure: (incident, event, now) -> (incident changed,
// what to tell whom). No I/O, no clock: the incident desk (src/incident) calls these and turns
// the effects into timeline entries and outbox rows.
//
// A chain runs its steps in order: a step notifies its channels, then waits `wait` for an
// acknowledgement before the next step. After the last step's wait the chain starts over,
// `repeat` runs in all; after that, when `remind_every` is set, every channel of the chain is
// reminded at that interval until someone acknowledges. An acknowledgement stops it; with an
// `ack_timeout`, an incident still acknowledged after that long re-opens and escalates again
// from the first step. Every change bumps `escalation_id`, so a timer scheduled before it
// (carrying the old id) does nothing.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/incident.h"

namespace overdue::model {

// What an escalation change asks for: tell `channels` about `event` (empty: tell nobody), and
// record a timeline entry of `kind` saying `message`.
struct EscalationEffect {
  std::string event;  // "down", "escalation", "reminder", "reopened", "recovery", or ""
  std::vector<Uuid> channels;
  std::string kind;  // timeline kind: opened, escalation, reminder, reopened, acknowledged, ...
  std::string message;
};

// Every distinct channel of the chain, in first-seen order.
std::vector<Uuid> ChainChannels(const EscalationChain& chain);

// A new incident (state open, step 0): notify the first step, schedule the next.
EscalationEffect OpenIncident(Incident& incident, TimePoint now);

// A timer scheduled with `escalation_id` fired at `now`. Nothing (nullopt) when the id is
// stale, the incident is resolved, or it is not due yet (never early).
std::optional<EscalationEffect> OnEscalationDue(Incident& incident, int64_t escalation_id,
                                                TimePoint now);

// kConflict when resolved. Acknowledging an acknowledged incident changes nothing (nullopt).
base::Result<std::optional<EscalationEffect>> Acknowledge(Incident& incident, const std::string& by,
                                                          TimePoint now);
// kConflict unless acknowledged. Escalation restarts from the first step.
base::Result<EscalationEffect> Unacknowledge(Incident& incident, const std::string& by,
                                             TimePoint now);
// kConflict when already resolved. Every channel told so far gets the recovery.
base::Result<EscalationEffect> Resolve(Incident& incident, const std::string& by,
                                       const std::string& reason, TimePoint now);

}  // namespace overdue::model
