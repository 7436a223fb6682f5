#include "model/state_machine.h"

#include <gtest/gtest.h>

namespace overdue::model {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kT0 = base::FromMicros(1'700'000'000'000'000);
const Uuid kId = *Uuid::Parse("07c2f548-9850-4b27-af5d-6c9dc157ec02");

TEST(ResolveSignalTest, ExitStatusAndMethods) {
  WatchSpec spec;
  const SignalRules rules = RulesOf(spec);
  EXPECT_EQ(ResolveSignal(rules, Status::kUp, Signal::kSuccess, 0, "GET", ""), Signal::kSuccess);
  EXPECT_EQ(ResolveSignal(rules, Status::kUp, Signal::kSuccess, 1, "GET", ""), Signal::kFail);
  EXPECT_EQ(ResolveSignal(rules, Status::kUp, Signal::kSuccess, 255, "GET", ""), Signal::kFail);
  spec.post_only = true;
  EXPECT_EQ(ResolveSignal(RulesOf(spec), Status::kUp, Signal::kSuccess, {}, "GET", ""),
            Signal::kIgnored);
  EXPECT_EQ(ResolveSignal(RulesOf(spec), Status::kUp, Signal::kSuccess, {}, "POST", ""),
            Signal::kSuccess);
}

TEST(ResolveSignalTest, KeywordsOverrideTheUrlInHealthchecksOrder) {
  WatchSpec spec;
  spec.filter_http_body = true;
  spec.success_kw = "SUCCESS, all good";
  spec.failure_kw = "ERROR";
  spec.start_kw = "STARTING";
  const SignalRules r = RulesOf(spec);
  EXPECT_EQ(ResolveSignal(r, Status::kUp, Signal::kSuccess, {}, "POST", "an ERROR and SUCCESS"),
            Signal::kFail);
  EXPECT_EQ(ResolveSignal(r, Status::kUp, Signal::kFail, {}, "POST", "all good here"),
            Signal::kSuccess);
  EXPECT_EQ(ResolveSignal(r, Status::kUp, Signal::kSuccess, {}, "POST", "STARTING up"),
            Signal::kStart);
  EXPECT_EQ(ResolveSignal(r, Status::kUp, Signal::kSuccess, {}, "POST", "nothing"),
            Signal::kIgnored);
  spec.filter_default_fail = true;
  EXPECT_EQ(ResolveSignal(RulesOf(spec), Status::kUp, Signal::kSuccess, {}, "POST", "nothing"),
            Signal::kFail);
}

TEST(ResolveSignalTest, ManualResumeTakesPrecedence) {
  WatchSpec spec;
  spec.manual_resume = true;
  spec.filter_http_body = true;
  spec.success_kw = "ok";
  EXPECT_EQ(ResolveSignal(RulesOf(spec), Status::kPaused, Signal::kSuccess, {}, "GET", "ok"),
            Signal::kIgnored);
  EXPECT_EQ(ResolveSignal(RulesOf(spec), Status::kUp, Signal::kSuccess, {}, "GET", "ok"),
            Signal::kSuccess);
}

TEST(MatchKeywordsTest, TrimsAndSkipsEmpty) {
  EXPECT_TRUE(MatchKeywords("hello world", " foo , world "));
  EXPECT_FALSE(MatchKeywords("hello world", " , ,"));
  EXPECT_FALSE(MatchKeywords("", "x"));
}

TEST(ApplyCheckInTest, SuccessFlipsNewToUp) {
  WatchRuntime rt;
  auto flip = ApplyCheckIn(kId, rt, Signal::kSuccess, {}, kT0);
  ASSERT_TRUE(flip);
  EXPECT_EQ(flip->old_status, Status::kNew);
  EXPECT_EQ(flip->new_status, Status::kUp);
  EXPECT_EQ(rt.status, Status::kUp);
  EXPECT_EQ(rt.last_ping, kT0);
  EXPECT_EQ(rt.n_pings, 1);
  EXPECT_FALSE(ApplyCheckIn(kId, rt, Signal::kSuccess, {}, kT0 + seconds(1)));
}

TEST(ApplyCheckInTest, StartNeverCountsAsSuccessAndLogChangesNothing) {
  WatchRuntime rt;
  EXPECT_FALSE(ApplyCheckIn(kId, rt, Signal::kStart, {}, kT0));
  EXPECT_EQ(rt.status, Status::kNew);
  EXPECT_EQ(rt.last_ping, base::kNoTime);
  EXPECT_EQ(rt.last_start, kT0);
  EXPECT_FALSE(ApplyCheckIn(kId, rt, Signal::kLog, {}, kT0 + seconds(1)));
  EXPECT_FALSE(ApplyCheckIn(kId, rt, Signal::kIgnored, {}, kT0 + seconds(1)));
  EXPECT_EQ(rt.status, Status::kNew);
  EXPECT_EQ(rt.n_pings, 3);
}

TEST(ApplyCheckInTest, FailGoesDownAtOnceWithReason) {
  WatchRuntime rt;
  rt.status = Status::kUp;
  auto flip = ApplyCheckIn(kId, rt, Signal::kFail, {}, kT0);
  ASSERT_TRUE(flip);
  EXPECT_EQ(flip->new_status, Status::kDown);
  EXPECT_EQ(flip->reason, "fail");
}

TEST(ApplyCheckInTest, RunIdPairing) {
  const Uuid rid1 = Uuid::Random();
  const Uuid rid2 = Uuid::Random();
  WatchRuntime rt;
  ApplyCheckIn(kId, rt, Signal::kStart, rid1, kT0);
  // Success with a different rid: last_start stays (another run is still going).
  ApplyCheckIn(kId, rt, Signal::kSuccess, rid2, kT0 + seconds(5));
  EXPECT_EQ(rt.last_start, kT0);
  EXPECT_FALSE(rt.last_duration);
  // Matching rid: duration measured, run closed.
  ApplyCheckIn(kId, rt, Signal::kSuccess, rid1, kT0 + seconds(30));
  EXPECT_EQ(rt.last_start, base::kNoTime);
  ASSERT_TRUE(rt.last_duration);
  EXPECT_EQ(*rt.last_duration, seconds(30));
  // A success without rid closes any run; a fail closes it whatever the rid.
  ApplyCheckIn(kId, rt, Signal::kStart, rid1, kT0 + seconds(40));
  ApplyCheckIn(kId, rt, Signal::kSuccess, {}, kT0 + seconds(41));
  EXPECT_EQ(rt.last_start, base::kNoTime);
  ApplyCheckIn(kId, rt, Signal::kStart, rid1, kT0 + seconds(50));
  ApplyCheckIn(kId, rt, Signal::kFail, rid2, kT0 + seconds(51));
  EXPECT_EQ(rt.last_start, base::kNoTime);
}

TEST(DeadlinesTest, PeriodGraceAndStart) {
  WatchRuntime rt;
  rt.status = Status::kUp;
  rt.last_ping = kT0;
  Deadlines d = ComputeDeadlines(rt, minutes(5), kT0 + hours(1));
  EXPECT_EQ(d.late_at, kT0 + hours(1));
  EXPECT_EQ(d.down_at, kT0 + hours(1) + minutes(5));
  EXPECT_EQ(d.Next(Status::kUp), kT0 + hours(1));
  EXPECT_EQ(d.Next(Status::kGrace), kT0 + hours(1) + minutes(5));
  // A start moves the down deadline to start + grace.
  rt.last_start = kT0 + minutes(10);
  d = ComputeDeadlines(rt, minutes(5), kT0 + hours(1));
  EXPECT_EQ(d.down_at, kT0 + minutes(15));
  // New watches have no deadline unless a run started; down ones have none at all.
  WatchRuntime fresh;
  EXPECT_EQ(ComputeDeadlines(fresh, minutes(5), kT0).Next(Status::kNew), base::kNever);
  fresh.last_start = kT0;
  EXPECT_EQ(ComputeDeadlines(fresh, minutes(5), base::kNever).down_at, kT0 + minutes(5));
  WatchRuntime down;
  down.status = Status::kDown;
  down.last_start = kT0;
  EXPECT_EQ(ComputeDeadlines(down, minutes(5), kT0).Next(Status::kDown), base::kNever);
}

TEST(DeadlinesTest, OnceIsArmedWhileNew) {
  WatchRuntime rt;
  Deadlines d = ComputeDeadlines(rt, minutes(30), kT0, /*armed_when_new=*/true);
  EXPECT_EQ(d.late_at, kT0);
  EXPECT_EQ(d.down_at, kT0 + minutes(30));
  auto flip = ApplyDeadline(kId, rt, d, kT0);
  ASSERT_TRUE(flip);
  EXPECT_EQ(flip->new_status, Status::kGrace);
}

TEST(ApplyDeadlineTest, GraceThenDownWithFlipTimesAtTheDeadlines) {
  WatchRuntime rt;
  rt.status = Status::kUp;
  rt.last_ping = kT0;
  const Deadlines d = ComputeDeadlines(rt, minutes(5), kT0 + hours(1));
  EXPECT_FALSE(ApplyDeadline(kId, rt, d, kT0 + minutes(59)));
  auto late = ApplyDeadline(kId, rt, d, kT0 + hours(1) + seconds(1));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->new_status, Status::kGrace);
  EXPECT_EQ(late->at, kT0 + hours(1));
  EXPECT_FALSE(ApplyDeadline(kId, rt, d, kT0 + hours(1) + minutes(4)));
  auto down = ApplyDeadline(kId, rt, d, kT0 + hours(2));
  ASSERT_TRUE(down);
  EXPECT_EQ(down->old_status, Status::kGrace);
  EXPECT_EQ(down->new_status, Status::kDown);
  EXPECT_EQ(down->reason, "timeout");
  EXPECT_EQ(down->at, kT0 + hours(1) + minutes(5));
  EXPECT_FALSE(ApplyDeadline(kId, rt, d, kT0 + hours(3)));  // never twice
}

TEST(ApplyDeadlineTest, MissedTicksGoStraightToDown) {
  WatchRuntime rt;
  rt.status = Status::kUp;
  const Deadlines d{kT0, kT0 + minutes(1)};
  auto flip = ApplyDeadline(kId, rt, d, kT0 + hours(5));
  ASSERT_TRUE(flip);
  EXPECT_EQ(flip->old_status, Status::kUp);
  EXPECT_EQ(flip->new_status, Status::kDown);
}

TEST(PauseResumeTest, HealthchecksSemantics) {
  WatchRuntime rt;
  rt.status = Status::kDown;
  rt.last_start = kT0;
  auto p = ApplyPause(kId, rt, kT0 + seconds(1));
  ASSERT_TRUE(p);
  EXPECT_EQ(rt.status, Status::kPaused);
  EXPECT_EQ(rt.last_start, base::kNoTime);
  EXPECT_FALSE(ApplyPause(kId, rt, kT0 + seconds(2)));  // already paused: no flip
  rt.last_ping = kT0;
  Flip r = ApplyResume(kId, rt, kT0 + seconds(3));
  EXPECT_EQ(r.new_status, Status::kNew);
  EXPECT_EQ(rt.status, Status::kNew);
  EXPECT_EQ(rt.last_ping, base::kNoTime);
  // A check-in on a paused watch (manual_resume off) resumes it.
  ApplyPause(kId, rt, kT0 + seconds(4));
  auto f = ApplyCheckIn(kId, rt, Signal::kSuccess, {}, kT0 + seconds(5));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->old_status, Status::kPaused);
  EXPECT_EQ(rt.status, Status::kUp);
}

TEST(DisplayStatusTest, MatchesHealthchecksGetStatus) {
  WatchRuntime rt;
  rt.status = Status::kUp;
  rt.last_ping = kT0;
  const Deadlines d = ComputeDeadlines(rt, minutes(5), kT0 + hours(1));
  EXPECT_EQ(DisplayStatus(rt, d, minutes(5), kT0 + minutes(1)), "up");
  EXPECT_EQ(DisplayStatus(rt, d, minutes(5), kT0 + hours(1)), "grace");
  EXPECT_EQ(DisplayStatus(rt, d, minutes(5), kT0 + hours(1) + minutes(5)), "down");
  rt.last_start = kT0 + minutes(2);
  EXPECT_EQ(DisplayStatus(rt, d, minutes(5), kT0 + minutes(3)), "started");
  EXPECT_EQ(DisplayStatus(rt, d, minutes(5), kT0 + minutes(3), false), "up");
  EXPECT_EQ(DisplayStatus(rt, d, minutes(5), kT0 + minutes(8)), "down");
  WatchRuntime paused;
  paused.status = Status::kPaused;
  EXPECT_EQ(DisplayStatus(paused, Deadlines{}, minutes(5), kT0), "paused");
}

TEST(StateMachineTest, CountsConsecutiveFailuresUntilASuccess) {
  WatchRuntime rt;
  const Uuid id = Uuid::Random();
  const TimePoint t = base::FromMicros(1'700'000'000'000'000);
  ApplyCheckIn(id, rt, Signal::kFail, std::nullopt, t);
  ApplyCheckIn(id, rt, Signal::kLog, std::nullopt, t);    // a log is not a failure
  ApplyCheckIn(id, rt, Signal::kStart, std::nullopt, t);  // nor a start
  ApplyCheckIn(id, rt, Signal::kFail, std::nullopt, t);
  EXPECT_EQ(rt.failures, 2);
  ApplyCheckIn(id, rt, Signal::kSuccess, std::nullopt, t);
  EXPECT_EQ(rt.failures, 0);
}

}  // namespace
}  // namespace overdue::model
