#include "server/audit.h"

#include <gtest/gtest.h>

namespace overdue::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const base::TimePoint kNow = base::FromMicros(1'800'000'000'000'000);

AuditInputs Healthy() {
  AuditInputs in;
  in.now = kNow;
  in.last_tick = kNow - milliseconds(10);
  in.next_escalation = kNow + seconds(60);
  in.oldest_outbox = kNow - seconds(1);  // due a second ago: being picked up
  return in;
}

TEST(AuditTest, HealthyWhenEverythingMakesProgress) {
  EXPECT_EQ(AuditProblem(Healthy()), "");
  AuditInputs idle = Healthy();
  idle.next_escalation = base::kNever;
  idle.oldest_outbox = base::kNever;
  EXPECT_EQ(AuditProblem(idle), "");
}

TEST(AuditTest, NamesEachStall) {
  AuditInputs tick = Healthy();
  tick.last_tick = kNow - kMaxTickAge - milliseconds(1);
  EXPECT_NE(AuditProblem(tick).find("ticker"), std::string::npos);

  AuditInputs store = Healthy();
  store.store_healthy = false;
  EXPECT_NE(AuditProblem(store).find("store"), std::string::npos);

  AuditInputs escalation = Healthy();
  escalation.next_escalation = kNow - kMaxEscalationLag - milliseconds(1);
  EXPECT_NE(AuditProblem(escalation).find("escalation"), std::string::npos);
  escalation.next_escalation = kNow - kMaxEscalationLag;  // exactly at the limit: still fine
  EXPECT_EQ(AuditProblem(escalation), "");

  AuditInputs outbox = Healthy();
  outbox.oldest_outbox = kNow - kMaxOutboxLag - milliseconds(1);
  EXPECT_NE(AuditProblem(outbox).find("outbox"), std::string::npos);
}

}  // namespace
}  // namespace overdue::server
