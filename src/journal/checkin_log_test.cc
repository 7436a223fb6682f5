#include "journal/checkin_log.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <sys/resource.h>

#include "store/sqlite/sqlite_store.h"

namespace overdue::journal {
namespace {

namespace fs = std::filesystem;

LoggedCheckIn Record(const base::Uuid& watch, int64_t n, std::string body = "") {
  LoggedCheckIn r;
  r.watch_id = watch;
  r.runtime.status = model::Status::kUp;
  r.runtime.n_pings = n;
  r.runtime.last_ping = base::FromMicros(1'700'000'000'000'000 + n);
  r.runtime.alert_after = base::FromMicros(1'700'000'360'000'000 + n);
  r.check_in.watch_id = watch;
  r.check_in.n = n;
  r.check_in.at = r.runtime.last_ping;
  r.check_in.method = "GET";
  r.check_in.scheme = "http";
  r.check_in.remote_addr = "127.0.0.1";
  r.check_in.body = std::move(body);
  r.check_in.body_size = r.check_in.body.size();
  return r;
}

class CheckInLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("checkin_log_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<CheckInLog> Open(CheckInLogOptions o = {}) {
    auto log = CheckInLog::Open(dir_.string(), o);
    EXPECT_TRUE(log.ok()) << (log.ok() ? "" : log.error().message);
    return log.ok() ? std::move(log.value()) : nullptr;
  }

  // Appends and waits until the record is on disk.
  static uint64_t AppendSynced(CheckInLog& log, const LoggedCheckIn& r) {
    std::promise<base::Status> logged;
    const uint64_t seg = log.Append(r, [&](base::Status st) { logged.set_value(st); });
    EXPECT_TRUE(logged.get_future().get().ok());
    return seg;
  }

  std::vector<fs::path> Segments() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename().string().starts_with("checkins-")) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
};

TEST_F(CheckInLogTest, EncodesEveryFieldAndRefusesOtherBytes) {
  LoggedCheckIn r = Record(base::Uuid::Random(), 42, std::string("body\0with nul", 13));
  r.runtime.status = model::Status::kGrace;
  r.runtime.last_start = base::FromMicros(123);
  r.runtime.last_start_rid = base::Uuid::Random();
  r.runtime.last_duration = base::Duration{456};
  r.runtime.failures = 3;
  r.check_in.signal = model::Signal::kStart;
  r.check_in.exit_status = 0;
  r.check_in.rid = base::Uuid::Random();
  r.check_in.user_agent = "curl/8";
  r.check_in.body_size = 99;
  r.check_in.duration = base::Duration{789};
  const std::string bytes = EncodeCheckIn(r);
  auto back = DecodeCheckIn(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->watch_id, r.watch_id);
  EXPECT_EQ(back->runtime.status, model::Status::kGrace);
  EXPECT_EQ(back->runtime.last_ping, r.runtime.last_ping);
  EXPECT_EQ(back->runtime.last_start, r.runtime.last_start);
  EXPECT_EQ(back->runtime.last_start_rid, r.runtime.last_start_rid);
  EXPECT_EQ(back->runtime.last_duration, r.runtime.last_duration);
  EXPECT_EQ(back->runtime.n_pings, 42);
  EXPECT_EQ(back->runtime.failures, 3);
  EXPECT_EQ(back->runtime.alert_after, r.runtime.alert_after);
  EXPECT_EQ(back->check_in.watch_id, r.watch_id);
  EXPECT_EQ(back->check_in.n, 42);
  EXPECT_EQ(back->check_in.at, r.check_in.at);
  EXPECT_EQ(back->check_in.signal, model::Signal::kStart);
  EXPECT_EQ(back->check_in.exit_status, 0);
  EXPECT_EQ(back->check_in.rid, r.check_in.rid);
  EXPECT_EQ(back->check_in.remote_addr, "127.0.0.1");
  EXPECT_EQ(back->check_in.scheme, "http");
  EXPECT_EQ(back->check_in.method, "GET");
  EXPECT_EQ(back->check_in.user_agent, "curl/8");
  EXPECT_EQ(back->check_in.body, r.check_in.body);
  EXPECT_EQ(back->check_in.body_size, 99u);
  EXPECT_EQ(back->check_in.duration, r.check_in.duration);

  EXPECT_FALSE(DecodeCheckIn(""));
  EXPECT_FALSE(DecodeCheckIn(bytes.substr(0, bytes.size() - 1)));  // short
  EXPECT_FALSE(DecodeCheckIn(bytes + "x"));                        // trailing bytes
  std::string bad_version = bytes;
  bad_version[0] = 9;
  EXPECT_FALSE(DecodeCheckIn(bad_version));
  std::string bad_status = bytes;
  bad_status[17] = 77;  // after the version byte and the watch id
  EXPECT_FALSE(DecodeCheckIn(bad_status));
}

TEST_F(CheckInLogTest, RecordsSurviveARestartInOrderAndAreDroppedOnRequest) {
  const base::Uuid a = base::Uuid::Random();
  const base::Uuid b = base::Uuid::Random();
  {
    auto log = Open();
    ASSERT_TRUE(log);
    EXPECT_TRUE(log->recovered().empty());
    log->Start();
    AppendSynced(*log, Record(a, 1));
    AppendSynced(*log, Record(b, 7, "hello"));
    AppendSynced(*log, Record(a, 2));
    // Not released: the store never got them (the process "dies" here).
  }
  auto log = Open();
  ASSERT_TRUE(log);
  ASSERT_EQ(log->recovered().size(), 3u);
  EXPECT_EQ(log->recovered()[0].watch_id, a);
  EXPECT_EQ(log->recovered()[0].check_in.n, 1);
  EXPECT_EQ(log->recovered()[1].watch_id, b);
  EXPECT_EQ(log->recovered()[1].check_in.body, "hello");
  EXPECT_EQ(log->recovered()[2].check_in.n, 2);
  EXPECT_EQ(Segments().size(), 1u);
  ASSERT_TRUE(log->DropRecovered().ok());
  EXPECT_TRUE(log->recovered().empty());
  EXPECT_TRUE(Segments().empty());
  // The next run's records go to a newer segment and are read back alone.
  log->Start();
  AppendSynced(*log, Record(a, 3));
  log.reset();
  auto again = Open();
  ASSERT_TRUE(again);
  ASSERT_EQ(again->recovered().size(), 1u);
  EXPECT_EQ(again->recovered()[0].check_in.n, 3);
}

TEST_F(CheckInLogTest, AnUnfinishedWriteAtTheEndIsIgnored) {
  const base::Uuid a = base::Uuid::Random();
  {
    auto log = Open();
    ASSERT_TRUE(log);
    log->Start();
    AppendSynced(*log, Record(a, 1));
    AppendSynced(*log, Record(a, 2, std::string(300, 'x')));
  }
  ASSERT_EQ(Segments().size(), 1u);
  const fs::path seg = Segments()[0];
  const auto size = fs::file_size(seg);
  fs::resize_file(seg, size - 100);  // the second record torn
  {
    auto log = Open();
    ASSERT_TRUE(log);
    ASSERT_EQ(log->recovered().size(), 1u);
    EXPECT_EQ(log->recovered()[0].check_in.n, 1);
  }
  // A flipped byte inside a record's payload: the hash no longer matches.
  fs::resize_file(seg, size);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 10));
    f.put('y');
  }
  auto log = Open();
  ASSERT_TRUE(log);
  ASSERT_EQ(log->recovered().size(), 1u);
  // Garbage in a file that is not a segment is not read at all.
  std::ofstream(dir_ / "checkins-x.log") << "junk";
  auto other = Open();
  ASSERT_TRUE(other);
  EXPECT_EQ(other->recovered().size(), 1u);
}

TEST_F(CheckInLogTest, AReleasedSegmentIsDeletedOnceTheLogHasMovedOn) {
  CheckInLogOptions o;
  o.segment_bytes = 200;  // about two records per segment
  auto log = Open(o);
  ASSERT_TRUE(log);
  log->Start();
  const base::Uuid a = base::Uuid::Random();
  std::vector<uint64_t> segs;
  for (int n = 1; n <= 6; ++n) segs.push_back(AppendSynced(*log, Record(a, n)));
  EXPECT_GT(segs.back(), segs.front());
  EXPECT_EQ(Segments().size(), static_cast<size_t>(segs.back() - segs.front() + 1));
  EXPECT_EQ(log->outstanding(), 6);
  // Release all but the last record: every segment before the last can go.
  for (size_t i = 0; i + 1 < segs.size(); ++i) log->Release(segs[i]);
  EXPECT_EQ(log->outstanding(), 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Segments().size() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(Segments().size(), 1u);
  // The one left holds the unreleased record, which a restart would replay.
  log.reset();
  auto again = Open(o);
  ASSERT_TRUE(again);
  ASSERT_FALSE(again->recovered().empty());
  EXPECT_EQ(again->recovered().back().check_in.n, 6);
}

// The log thread's nice value is lowered by thread_nice where the process may (root, or
// RLIMIT_NICE), and the log reports which happened; 0 leaves it alone.
TEST_F(CheckInLogTest, TheLogThreadRunsAtAHigherPriorityWhereAllowed) {
  errno = 0;
  const int ours = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  ASSERT_EQ(errno, 0);
  for (const int delta : {-2, 0}) {
    SCOPED_TRACE(delta);
    CheckInLogOptions o;
    o.thread_nice = delta;
    auto log = Open(o);
    ASSERT_TRUE(log);
    log->Start();
    AppendSynced(*log, Record(base::Uuid::Random(), 1));  // the thread has run its start-up
    const std::optional<bool> raised = log->thread_priority_raised();
    ASSERT_TRUE(raised.has_value());
    ASSERT_NE(log->thread_id(), 0);
    errno = 0;
    const int theirs = ::getpriority(PRIO_PROCESS, static_cast<id_t>(log->thread_id()));
    ASSERT_EQ(errno, 0);
    if (delta == 0) {
      EXPECT_FALSE(*raised);
    }
    EXPECT_EQ(theirs, *raised ? ours + delta : ours);
    // Only that thread: this one keeps its value.
    EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())), ours);
    log->Stop();
  }
}

TEST_F(CheckInLogTest, AppendAfterStopFailsAtOnce) {
  auto log = Open();
  ASSERT_TRUE(log);
  log->Start();
  log->Stop();
  std::optional<base::Status> st;
  log->Append(Record(base::Uuid::Random(), 1), [&](base::Status s) { st = s; });
  ASSERT_TRUE(st);  // completed inside Append
  EXPECT_FALSE(st->ok());
}

TEST_F(CheckInLogTest, ReplayAppliesOnlyWhatTheStoreLacks) {
  auto s = store::OpenSqlite(store::SqliteOptions{(dir_ / "t.db").string(), false});
  ASSERT_TRUE(s.ok()) << s.error().message;
  store::Store& st = *s.value();
  store::Project p;
  p.id = 1;
  p.uuid = base::Uuid::Random();
  p.name = "p";
  p.ping_key = "key";
  ASSERT_TRUE(st.Apply({store::UpsertProject{p}}).ok());
  model::Watch w;
  w.spec.id = base::Uuid::Random();
  w.spec.project_id = 1;
  w.runtime = Record(w.spec.id, 3).runtime;  // the store has check-ins up to #3
  ASSERT_TRUE(st.Apply({store::UpsertWatch{w}}).ok());

  const base::Uuid gone = base::Uuid::Random();  // deleted since: skipped
  const std::vector<LoggedCheckIn> records = {Record(w.spec.id, 2), Record(gone, 1),
                                              Record(w.spec.id, 4, "four"), Record(w.spec.id, 3),
                                              Record(w.spec.id, 5)};
  auto applied = ReplayCheckIns(st, records);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ(applied.value(), 2u);  // #4 and #5
  auto got = st.GetWatch(w.spec.id);
  ASSERT_TRUE(got.ok() && got.value());
  EXPECT_EQ(got.value()->runtime.n_pings, 5);
  EXPECT_EQ(got.value()->runtime.last_ping, Record(w.spec.id, 5).runtime.last_ping);
  auto four = st.GetCheckIn(w.spec.id, 4);
  ASSERT_TRUE(four.ok() && four.value());
  EXPECT_EQ(four.value()->body, "four");
  EXPECT_FALSE(st.GetWatch(gone).value());
  // Replaying again changes nothing.
  auto twice = ReplayCheckIns(st, records);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice.value(), 0u);
}

}  // namespace
}  // namespace overdue::journal
