// The auditor's verdict (DESIGN.md, safety property 5): is overdue itself making progress?
// Pure, so each stall it recognises is tested without stalling anything; server.cc feeds it
// every second and withholds the heartbeat (and answers /readyz 503) while it names a problem.
#pragma once

#include <string>

#include "base/time.h"

namespace overdue::server {

// How late a due thing may be before the server counts as stalled. The ticker runs every
// 10 ms, so this much slack hides nothing but a genuinely stuck thread.
inline constexpr base::Duration kMaxTickAge = std::chrono::seconds(2);
inline constexpr base::Duration kMaxEscalationLag = std::chrono::seconds(5);
// The oldest outbox row due but not picked up: retries wait in the future, so a row this far
// past its time means the notifier is not draining the outbox.
inline constexpr base::Duration kMaxOutboxLag = std::chrono::seconds(30);

struct AuditInputs {
  base::TimePoint now{};
  base::TimePoint last_tick{};                     // when the deadline ticker last ran
  bool store_healthy = true;                       // the journal's commits succeed
  base::TimePoint next_escalation = base::kNever;  // earliest escalation step not fired
  base::TimePoint oldest_outbox = base::kNever;    // earliest due notification not started
};

// What is stalled, or "" when everything makes progress.
std::string AuditProblem(const AuditInputs& in);

}  // namespace overdue::server
