#include "model/escalation.h"

#include <gtest/gtest.h>

namespace overdue::model {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const Uuid kA = Uuid::Random();
const Uuid kB = Uuid::Random();
const Uuid kC = Uuid::Random();
const TimePoint kT0 = base::FromMicros(1'800'000'000'000'000);

Incident TwoSteps(int repeat = 1, base::Duration remind = {}, base::Duration ack_timeout = {}) {
  Incident inc;
  inc.id = 7;
  inc.cause_detail = "missed its deadline";
  inc.chain.steps = {EscalationStep{{kA}, minutes(5)}, EscalationStep{{kB, kC}, minutes(10)}};
  inc.chain.repeat = repeat;
  inc.chain.remind_every = remind;
  inc.chain.ack_timeout = ack_timeout;
  return inc;
}

TEST(EscalationTest, OpenNotifiesFirstStepAndSchedulesTheNext) {
  Incident inc = TwoSteps();
  EscalationEffect e = OpenIncident(inc, kT0);
  EXPECT_EQ(e.event, "down");
  EXPECT_EQ(e.channels, std::vector<Uuid>{kA});
  EXPECT_EQ(inc.next_at, kT0 + minutes(5));
  EXPECT_EQ(inc.step, 0);
  EXPECT_EQ(inc.notified, std::vector<Uuid>{kA});
}

TEST(EscalationTest, StepNeverFiresEarlyAndNeverTwice) {
  Incident inc = TwoSteps();
  OpenIncident(inc, kT0);
  const int64_t id = inc.escalation_id;
  EXPECT_FALSE(OnEscalationDue(inc, id, kT0 + minutes(5) - std::chrono::microseconds(1)));
  auto e = OnEscalationDue(inc, id, kT0 + minutes(5));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, "escalation");
  EXPECT_EQ(e->channels, (std::vector<Uuid>{kB, kC}));
  EXPECT_EQ(inc.next_at, kT0 + minutes(15));
  // The same timer delivered twice (a duplicate or stale timer) does nothing.
  EXPECT_FALSE(OnEscalationDue(inc, id, kT0 + minutes(20)));
}

TEST(EscalationTest, ChainStopsAfterRepeatRunsWithoutReminders) {
  Incident inc = TwoSteps(/*repeat=*/2);
  OpenIncident(inc, kT0);
  std::vector<std::string> events;
  TimePoint t = kT0;
  for (int i = 0; i < 6 && inc.next_at != base::kNever; ++i) {
    t = inc.next_at;
    auto e = OnEscalationDue(inc, inc.escalation_id, t);
    ASSERT_TRUE(e);
    events.push_back(e->event);
  }
  // step 2, then run 2: step 1, step 2, then exhausted ("" : nobody told).
  EXPECT_EQ(events, (std::vector<std::string>{"escalation", "escalation", "escalation", ""}));
  EXPECT_EQ(inc.next_at, base::kNever);
}

TEST(EscalationTest, ExhaustedChainSaysWhichPolicyRanOut) {
  Incident inc = TwoSteps(/*repeat=*/2);
  inc.policy_name = "ops";
  OpenIncident(inc, kT0);
  std::optional<EscalationEffect> last;
  while (inc.next_at != base::kNever) last = OnEscalationDue(inc, inc.escalation_id, inc.next_at);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->kind, "escalation");
  EXPECT_EQ(last->message,
            "not acknowledged 10m after the last step of policy \"ops\" (2 runs); escalation "
            "chain exhausted, nobody else is told");
}

TEST(EscalationTest, ImplicitChainSaysThereIsNoPolicyRatherThanExhausted) {
  // No policy: one step with the watch's channels and the default wait.
  Incident inc;
  inc.chain.steps = {EscalationStep{{kA}, minutes(10)}};
  OpenIncident(inc, kT0);
  auto e = OnEscalationDue(inc, inc.escalation_id, kT0 + minutes(10));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, "");
  EXPECT_TRUE(e->channels.empty());
  EXPECT_EQ(e->message,
            "not acknowledged 10m after the notification; no escalation policy, so nobody else "
            "is told");
  EXPECT_EQ(inc.next_at, base::kNever);
}

TEST(EscalationTest, RemindersRepeatOnEveryChannelUntilAcknowledged) {
  Incident inc = TwoSteps(1, minutes(30));
  OpenIncident(inc, kT0);
  OnEscalationDue(inc, inc.escalation_id, inc.next_at);  // step 2
  auto e = OnEscalationDue(inc, inc.escalation_id, inc.next_at);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, "reminder");
  EXPECT_EQ(e->channels, (std::vector<Uuid>{kA, kB, kC}));
  const TimePoint reminded = kT0 + minutes(15);
  EXPECT_EQ(inc.next_at, reminded + minutes(30));
  auto again = OnEscalationDue(inc, inc.escalation_id, inc.next_at);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->event, "reminder");
  ASSERT_TRUE(Acknowledge(inc, "alice", inc.next_at).ok());
  EXPECT_EQ(inc.next_at, base::kNever);
}

TEST(EscalationTest, AcknowledgeStopsEscalationAndStaleTimerDoesNothing) {
  Incident inc = TwoSteps();
  OpenIncident(inc, kT0);
  const int64_t before = inc.escalation_id;
  auto r = Acknowledge(inc, "alice", kT0 + minutes(1));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r.value());
  EXPECT_EQ(inc.state, IncidentState::kAcknowledged);
  EXPECT_EQ(inc.acked_by, "alice");
  EXPECT_FALSE(OnEscalationDue(inc, before, kT0 + minutes(5)));
  // A second acknowledgement changes nothing.
  auto again = Acknowledge(inc, "bob", kT0 + minutes(2));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again.value());
  EXPECT_EQ(inc.acked_by, "alice");
}

TEST(EscalationTest, AckTimeoutReopensFromFirstStep) {
  Incident inc = TwoSteps(1, {}, minutes(60));
  OpenIncident(inc, kT0);
  OnEscalationDue(inc, inc.escalation_id, kT0 + minutes(5));
  ASSERT_TRUE(Acknowledge(inc, "alice", kT0 + minutes(6)).ok());
  EXPECT_EQ(inc.next_at, kT0 + minutes(66));
  EXPECT_FALSE(OnEscalationDue(inc, inc.escalation_id, kT0 + minutes(65)));
  auto e = OnEscalationDue(inc, inc.escalation_id, kT0 + minutes(66));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, "reopened");
  EXPECT_EQ(e->channels, std::vector<Uuid>{kA});
  EXPECT_EQ(inc.state, IncidentState::kOpen);
  EXPECT_EQ(inc.step, 0);
}

TEST(EscalationTest, UnacknowledgeRestartsAndRequiresAcknowledged) {
  Incident inc = TwoSteps();
  OpenIncident(inc, kT0);
  EXPECT_EQ(Unacknowledge(inc, "bob", kT0).error().code, base::ErrorCode::kConflict);
  ASSERT_TRUE(Acknowledge(inc, "alice", kT0).ok());
  auto e = Unacknowledge(inc, "alice", kT0 + minutes(1));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value().channels, std::vector<Uuid>{kA});
  EXPECT_EQ(inc.state, IncidentState::kOpen);
  EXPECT_TRUE(inc.acked_by.empty());
  EXPECT_EQ(inc.next_at, kT0 + minutes(6));
}

TEST(EscalationTest, ResolveTellsEveryChannelToldAndOnlyOnce) {
  Incident inc = TwoSteps();
  OpenIncident(inc, kT0);
  OnEscalationDue(inc, inc.escalation_id, kT0 + minutes(5));
  const int64_t before = inc.escalation_id;
  auto e = Resolve(inc, "check-in", "", kT0 + minutes(7));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value().event, "recovery");
  EXPECT_EQ(e.value().channels, (std::vector<Uuid>{kA, kB, kC}));
  EXPECT_EQ(inc.state, IncidentState::kResolved);
  EXPECT_FALSE(OnEscalationDue(inc, before, kT0 + minutes(20)));
  EXPECT_EQ(Resolve(inc, "bob", "again", kT0).error().code, base::ErrorCode::kConflict);
  EXPECT_EQ(Acknowledge(inc, "bob", kT0).error().code, base::ErrorCode::kConflict);
}

TEST(EscalationTest, EmptyChainOpensWithoutNotifying) {
  Incident inc;
  EscalationEffect e = OpenIncident(inc, kT0);
  EXPECT_TRUE(e.channels.empty());
  EXPECT_EQ(inc.next_at, base::kNever);
}

}  // namespace
}  // namespace overdue::model
