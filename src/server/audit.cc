#include "server/audit.h"

namespace overdue::server {

std::string AuditProblem(const AuditInputs& in) {
  if (in.now - in.last_tick > kMaxTickAge) return "the deadline ticker has not run for over 2 s";
  if (!in.store_healthy) return "the store does not accept commits";
  if (in.next_escalation != base::kNever && in.now - in.next_escalation > kMaxEscalationLag) {
    return "an escalation step is overdue and has not fired";
  }
  if (in.oldest_outbox != base::kNever && in.now - in.oldest_outbox > kMaxOutboxLag) {
    return "the outbox is not draining";
  }
  return "";
}

}  // namespace overdue::server
