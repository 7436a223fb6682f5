#include "engine/engine.h"

#include <thread>

#include <gtest/gtest.h>

namespace overdue::engine {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kT0 = base::FromMicros(1'700'000'000'000'000);  // 2023-11-14T22:13:20Z

class RecordingSink final : public EventSink {
 public:
  void Record(Change&& change, Done done) override {
    changes.push_back(std::move(change));
    if (done) done(base::Status{});
  }
  std::vector<model::Flip> Flips() const {
    std::vector<model::Flip> out;
    for (const auto& c : changes) {
      if (c.flip) out.push_back(*c.flip);
    }
    return out;
  }
  std::vector<Change> changes;
};

model::WatchSpec PeriodWatch(base::Duration period, base::Duration grace, std::string slug = "") {
  model::WatchSpec s;
  s.id = Uuid::Random();
  s.project_id = 1;
  s.slug = std::move(slug);
  s.schedule.kind = model::Schedule::Kind::kPeriod;
  s.schedule.period = period;
  s.schedule.grace = grace;
  return s;
}

CheckInRequest Req(model::Signal s = model::Signal::kSuccess) {
  CheckInRequest r;
  r.url_signal = s;
  r.method = "GET";
  r.scheme = "http";
  r.remote_addr = "127.0.0.1";
  return r;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : clock_(kT0), engine_(clock_, sink_, EngineOptions{}) {}

  model::Signal Ping(const Uuid& id, model::Signal s = model::Signal::kSuccess) {
    bool done_called = false;
    auto r = engine_.CheckIn(id, Req(s), [&](base::Status st) { done_called = st.ok(); });
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(done_called);
    return r.ok() ? r.value() : model::Signal::kIgnored;
  }
  model::Status StatusOf(const Uuid& id) { return engine_.View(id)->runtime.status; }
  void AdvanceAndTick(base::Duration d) {
    clock_.Advance(d);
    engine_.Tick();
  }

  base::ManualClock clock_;
  RecordingSink sink_;
  Engine engine_;
};

TEST_F(EngineTest, UnknownWatchIsNotFound) {
  auto r = engine_.CheckIn(Uuid::Random(), Req(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::ErrorCode::kNotFound);
  EXPECT_TRUE(sink_.changes.empty());
}

TEST_F(EngineTest, PeriodWatchGoesLateThenDownAtTheRightTimes) {
  const auto spec = PeriodWatch(minutes(10), minutes(2));
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  Ping(spec.id);
  EXPECT_EQ(StatusOf(spec.id), model::Status::kUp);
  AdvanceAndTick(minutes(10) - milliseconds(1));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kUp);
  AdvanceAndTick(milliseconds(1));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kGrace);
  AdvanceAndTick(minutes(2) - milliseconds(1));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kGrace);
  AdvanceAndTick(milliseconds(1));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kDown);
  const auto flips = sink_.Flips();
  ASSERT_EQ(flips.size(), 3u);  // new→up, up→grace, grace→down
  EXPECT_EQ(flips[2].new_status, model::Status::kDown);
  EXPECT_EQ(flips[2].at, kT0 + minutes(12));
  EXPECT_EQ(flips[2].reason, "timeout");
  // Never fires twice.
  AdvanceAndTick(hours(48));
  EXPECT_EQ(sink_.Flips().size(), 3u);
  const StatusCounts counts = engine_.CountByStatus();
  EXPECT_EQ(counts.by_status[static_cast<int>(model::Status::kDown)], 1);
  EXPECT_EQ(counts.by_status[static_cast<int>(model::Status::kUp)], 0);
  EXPECT_TRUE(engine_.Remove(spec.id));
  EXPECT_EQ(engine_.CountByStatus().by_status[static_cast<int>(model::Status::kDown)], 0);
}

TEST_F(EngineTest, EachCheckInPushesTheDeadline) {
  const auto spec = PeriodWatch(minutes(1), minutes(1));
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  for (int i = 0; i < 24 * 60; ++i) {  // a day of check-ins every 59 s
    Ping(spec.id);
    AdvanceAndTick(seconds(59));
  }
  EXPECT_EQ(StatusOf(spec.id), model::Status::kUp);
  EXPECT_EQ(sink_.Flips().size(), 1u);
  EXPECT_EQ(engine_.View(spec.id)->runtime.n_pings, 24 * 60);
}

TEST_F(EngineTest, StartWithoutFinishGoesDownAfterGrace) {
  const auto spec = PeriodWatch(hours(1), minutes(5));
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  Ping(spec.id, model::Signal::kStart);
  EXPECT_EQ(StatusOf(spec.id), model::Status::kNew);
  AdvanceAndTick(minutes(5) - seconds(1));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kNew);
  AdvanceAndTick(seconds(1));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kDown);
  EXPECT_EQ(sink_.Flips().back().at, kT0 + minutes(5));
}

TEST_F(EngineTest, ExitStatusAndFail) {
  const auto spec = PeriodWatch(hours(1), minutes(5));
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  auto req = Req();
  req.exit_status = 3;
  auto r = engine_.CheckIn(spec.id, std::move(req), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), model::Signal::kFail);
  EXPECT_EQ(StatusOf(spec.id), model::Status::kDown);
  req = Req();
  req.exit_status = 0;
  EXPECT_EQ(engine_.CheckIn(spec.id, std::move(req), {}).value(), model::Signal::kSuccess);
  EXPECT_EQ(StatusOf(spec.id), model::Status::kUp);
}

TEST_F(EngineTest, PauseStopsDeadlinesAndCheckInResumes) {
  const auto spec = PeriodWatch(minutes(1), minutes(1));
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  Ping(spec.id);
  ASSERT_TRUE(engine_.Pause(spec.id, {}).ok());
  AdvanceAndTick(hours(10));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kPaused);
  auto conflict = engine_.Resume(Uuid::Random(), {});
  EXPECT_EQ(conflict.error().code, base::ErrorCode::kNotFound);
  Ping(spec.id);
  EXPECT_EQ(StatusOf(spec.id), model::Status::kUp);
  EXPECT_EQ(engine_.Resume(spec.id, {}).error().code, base::ErrorCode::kConflict);
}

TEST_F(EngineTest, ManualResumeIgnoresCheckInsWhilePaused) {
  auto spec = PeriodWatch(minutes(1), minutes(1));
  spec.manual_resume = true;
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  ASSERT_TRUE(engine_.Pause(spec.id, {}).ok());
  EXPECT_EQ(Ping(spec.id), model::Signal::kIgnored);
  EXPECT_EQ(StatusOf(spec.id), model::Status::kPaused);
  ASSERT_TRUE(engine_.Resume(spec.id, {}).ok());
  EXPECT_EQ(StatusOf(spec.id), model::Status::kNew);
}

TEST_F(EngineTest, DeadlinesPassedWhileDownAreMarkedLate) {
  const auto spec = PeriodWatch(minutes(1), minutes(1));
  model::WatchRuntime rt;
  rt.status = model::Status::kUp;
  rt.last_ping = kT0 - hours(1);  // its deadline passed an hour ago
  engine_.SetLateBefore(kT0);
  ASSERT_TRUE(engine_.Load(spec, rt).ok());
  EXPECT_EQ(engine_.Tick(), 1u);
  const auto flips = sink_.Flips();
  ASSERT_EQ(flips.size(), 1u);
  EXPECT_EQ(flips[0].new_status, model::Status::kDown);
  EXPECT_TRUE(flips[0].detected_late);
  EXPECT_EQ(flips[0].at, kT0 - hours(1) + minutes(2));
  EXPECT_EQ(flips[0].detected_at, kT0);
}

TEST_F(EngineTest, SlugLookupCreateAndAmbiguity) {
  engine_.AddProject(1, "pingkey");
  EXPECT_EQ(engine_.ProjectByPingKey("pingkey"), 1);
  EXPECT_FALSE(engine_.ProjectByPingKey("other"));
  EXPECT_EQ(engine_.FindBySlug(1, "backup").error().code, base::ErrorCode::kNotFound);
  auto created = engine_.CreateForSlug(1, "backup");
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(sink_.changes.size(), 1u);
  ASSERT_TRUE(sink_.changes[0].spec);
  EXPECT_EQ(sink_.changes[0].spec->name, "backup");
  EXPECT_EQ(sink_.changes[0].spec->schedule.period, hours(24));
  EXPECT_EQ(engine_.FindBySlug(1, "backup").value(), created.value());
  EXPECT_EQ(engine_.FindBySlug(2, "backup").error().code, base::ErrorCode::kNotFound);
  ASSERT_TRUE(engine_.Load(PeriodWatch(hours(1), hours(1), "backup"), {}).ok());
  EXPECT_EQ(engine_.FindBySlug(1, "backup").error().code, base::ErrorCode::kConflict);
  EXPECT_TRUE(engine_.Remove(created.value()));
  EXPECT_TRUE(engine_.FindBySlug(1, "backup").ok());
}

TEST_F(EngineTest, CheckInRecordsHistoryFieldsAndRunDuration) {
  const auto spec = PeriodWatch(hours(1), minutes(5));
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  const Uuid rid = Uuid::Random();
  auto start = Req(model::Signal::kStart);
  start.rid = rid;
  ASSERT_TRUE(engine_.CheckIn(spec.id, std::move(start), {}).ok());
  clock_.Advance(seconds(42));
  auto finish = Req();
  finish.rid = rid;
  finish.body = "done";
  finish.user_agent = std::string(300, 'u');
  ASSERT_TRUE(engine_.CheckIn(spec.id, std::move(finish), {}).ok());
  const Change& c = sink_.changes.back();
  ASSERT_TRUE(c.check_in);
  EXPECT_EQ(c.check_in->n, 2);
  EXPECT_EQ(c.check_in->body, "done");
  EXPECT_EQ(c.check_in->user_agent.size(), model::kMaxUserAgent);
  ASSERT_TRUE(c.check_in->duration);
  EXPECT_EQ(*c.check_in->duration, seconds(42));
  EXPECT_EQ(c.runtime.n_pings, 2);
  EXPECT_EQ(c.runtime.alert_after, kT0 + seconds(42) + hours(1));
}

TEST_F(EngineTest, CronWatchFollowsItsScheduleInItsTimeZone) {
  model::WatchSpec spec;
  spec.id = Uuid::Random();
  spec.schedule.kind = model::Schedule::Kind::kCron;
  spec.schedule.cron = "0 3 * * *";
  spec.schedule.tz = "Europe/Berlin";
  spec.schedule.grace = minutes(30);
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  Ping(spec.id);  // 2023-11-14T22:13:20Z = 23:13 in Berlin (CET)
  // Next expected: 2023-11-15 03:00 CET = 02:00Z; down at 02:30Z.
  const TimePoint expected = kT0 + hours(3) + minutes(46) + seconds(40);
  EXPECT_EQ(engine_.View(spec.id)->next_expected, expected);
  AdvanceAndTick(expected - kT0 + minutes(30) - seconds(1));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kGrace);
  AdvanceAndTick(seconds(1));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kDown);
}

TEST_F(EngineTest, InvalidCronIsRefusedWithTheReason) {
  model::WatchSpec spec;
  spec.id = Uuid::Random();
  spec.schedule.kind = model::Schedule::Kind::kCron;
  spec.schedule.cron = "61 * * * *";
  auto st = engine_.Load(spec, {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("minute"), std::string::npos) << st.error().message;
  EXPECT_FALSE(engine_.View(spec.id));
}

TEST_F(EngineTest, OnceWatchFiresAtItsDeadlineWithoutAnyCheckIn) {
  model::WatchSpec spec;
  spec.id = Uuid::Random();
  spec.schedule.kind = model::Schedule::Kind::kOnce;
  spec.schedule.once_at = kT0 + hours(6);
  spec.schedule.grace = minutes(30);
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  AdvanceAndTick(hours(6) + minutes(30));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kDown);
}

TEST_F(EngineTest, ManyWatchesExpireEachAtItsOwnDeadline) {
  std::vector<Uuid> ids;
  for (int i = 0; i < 2000; ++i) {
    auto spec = PeriodWatch(seconds(60 + i), seconds(60));
    ids.push_back(spec.id);
    model::WatchRuntime rt;
    rt.status = model::Status::kUp;
    rt.last_ping = kT0;
    ASSERT_TRUE(engine_.Load(spec, rt).ok());
  }
  for (int step = 0; step < 2200; ++step) {
    AdvanceAndTick(seconds(1));
    const TimePoint now = clock_.Now();
    for (int i = 0; i < 2000; i += 97) {
      const TimePoint down_at = kT0 + seconds(120 + i);
      ASSERT_EQ(StatusOf(ids[i]) == model::Status::kDown, now >= down_at) << i << " at " << step;
    }
  }
  size_t downs = 0;
  for (const auto& f : sink_.Flips()) downs += f.new_status == model::Status::kDown;
  EXPECT_EQ(downs, 2000u);
}

TEST_F(EngineTest, ConcurrentCheckInsAreAllCounted) {
  const auto spec = PeriodWatch(hours(1), hours(1));
  ASSERT_TRUE(engine_.Load(spec, {}).ok());
  // The sink is not thread-safe: record from threads through a locked wrapper.
  struct LockedSink final : EventSink {
    void Record(Change&& c, Done done) override {
      std::lock_guard<std::mutex> l(mu);
      last_n = std::max(last_n, c.runtime.n_pings);
      count++;
      if (done) done({});
    }
    std::mutex mu;
    int64_t last_n = 0;
    int count = 0;
  } locked;
  Engine e(clock_, locked, EngineOptions{});
  ASSERT_TRUE(e.Load(spec, {}).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) ASSERT_TRUE(e.CheckIn(spec.id, Req(), {}).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(e.View(spec.id)->runtime.n_pings, 4000);
  EXPECT_EQ(locked.last_n, 4000);
  EXPECT_EQ(locked.count, 4000);
}

}  // namespace
}  // namespace overdue::engine

namespace overdue::engine {
namespace {

TEST(EngineIndexTest, LoadRemoveReloadKeepsEveryWatchFindable) {
  base::ManualClock clock(kT0);
  RecordingSink sink;
  Engine engine(clock, sink, EngineOptions{});
  std::vector<Uuid> ids;
  for (int i = 0; i < 5000; ++i) {
    ids.push_back(Uuid::Random());
    model::WatchSpec s;
    s.id = ids.back();
    ASSERT_TRUE(engine.Load(s, {}).ok());
  }
  for (int i = 0; i < 5000; i += 2) ASSERT_TRUE(engine.Remove(ids[i]));
  EXPECT_FALSE(engine.Remove(ids[0]));
  EXPECT_EQ(engine.size(), 2500u);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5000; i += 2) {
      model::WatchSpec s;
      s.id = ids[i];
      ASSERT_TRUE(engine.Load(s, {}).ok());
    }
    for (int i = 0; i < 5000; i += 2) ASSERT_TRUE(engine.Remove(ids[i]));
  }
  for (int i = 0; i < 5000; ++i) {
    EXPECT_EQ(engine.View(ids[i]).has_value(), i % 2 == 1) << i;
  }
  EXPECT_EQ(engine.size(), 2500u);
}

}  // namespace
}  // namespace overdue::engine

namespace overdue::engine {
namespace {

TEST_F(EngineTest, PutCreatesThenReplacesTheDefinitionKeepingTheRuntime) {
  auto spec = PeriodWatch(hours(1), minutes(5), "db");
  bool durable = false;
  auto created = engine_.Put(spec, [&](base::Status st) { durable = st.ok(); });
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created.value());
  EXPECT_TRUE(durable);
  ASSERT_EQ(sink_.changes.size(), 1u);
  ASSERT_TRUE(sink_.changes[0].spec);
  EXPECT_EQ(sink_.changes[0].runtime.status, model::Status::kNew);

  Ping(spec.id);
  ASSERT_EQ(StatusOf(spec.id), model::Status::kUp);
  // A new schedule keeps the runtime (still up, same n_pings) and moves the deadline.
  spec.schedule.period = hours(2);
  spec.slug = "db2";
  auto replaced = engine_.Put(spec, {});
  ASSERT_TRUE(replaced.ok());
  EXPECT_FALSE(replaced.value());
  EXPECT_EQ(StatusOf(spec.id), model::Status::kUp);
  EXPECT_EQ(engine_.View(spec.id)->runtime.n_pings, 1);
  EXPECT_EQ(engine_.FindBySlug(1, "db").error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(engine_.FindBySlug(1, "db2").value(), spec.id);
  AdvanceAndTick(hours(1) + minutes(30));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kUp);  // the old 1 h period no longer applies
  AdvanceAndTick(minutes(32));  // 2 h 02 min after the check-in: in the grace period
  EXPECT_EQ(StatusOf(spec.id), model::Status::kGrace);
}

TEST_F(EngineTest, PutRefusesAnInvalidScheduleAndRecordsNothing) {
  auto spec = PeriodWatch(hours(1), minutes(5));
  spec.schedule.kind = model::Schedule::Kind::kCron;
  spec.schedule.cron = "61 * * * *";
  EXPECT_FALSE(engine_.Put(spec, {}).ok());
  EXPECT_TRUE(sink_.changes.empty());
  EXPECT_FALSE(engine_.View(spec.id));
}

TEST_F(EngineTest, DeleteRecordsTheRemovalAndForgetsDeadlines) {
  auto spec = PeriodWatch(minutes(1), minutes(1), "gone");
  ASSERT_TRUE(engine_.Put(spec, {}).ok());
  Ping(spec.id);
  bool durable = false;
  ASSERT_TRUE(engine_.Delete(spec.id, [&](base::Status st) { durable = st.ok(); }).ok());
  EXPECT_TRUE(durable);
  EXPECT_TRUE(sink_.changes.back().removed);
  EXPECT_FALSE(engine_.View(spec.id));
  EXPECT_EQ(engine_.Delete(spec.id, {}).error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(engine_.FindBySlug(1, "gone").error().code, base::ErrorCode::kNotFound);
  const size_t before = sink_.changes.size();
  AdvanceAndTick(hours(1));
  EXPECT_EQ(sink_.changes.size(), before);  // no flip for a deleted watch
  EXPECT_EQ(engine_.CountByStatus().by_status[static_cast<int>(model::Status::kUp)], 0);
}

TEST_F(EngineTest, RestoreReplacesTheRuntimeToo) {
  auto spec = PeriodWatch(hours(1), minutes(5));
  model::WatchRuntime rt;
  rt.status = model::Status::kUp;
  rt.last_ping = kT0 - minutes(10);
  rt.n_pings = 42;
  ASSERT_TRUE(engine_.Restore(spec, rt, {}).ok());
  EXPECT_EQ(engine_.View(spec.id)->runtime.n_pings, 42);
  EXPECT_EQ(sink_.changes.back().runtime.n_pings, 42);
  AdvanceAndTick(minutes(50));
  EXPECT_EQ(StatusOf(spec.id), model::Status::kGrace);
}

}  // namespace
}  // namespace overdue::engine
