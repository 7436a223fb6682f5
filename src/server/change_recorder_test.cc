#include "server/change_recorder.h"

#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "store/faulty_store.h"
#include "store/sqlite/sqlite_store.h"

namespace overdue::server {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr auto kSlowCommit = milliseconds(400);

class ChangeRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("change_recorder_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "log");
    auto s = store::OpenSqlite(store::SqliteOptions{(dir_ / "t.db").string(), false});
    ASSERT_TRUE(s.ok()) << s.error().message;
    sqlite_ = std::move(s.value());
    faulty_ = std::make_unique<store::FaultyStore>(*sqlite_);
    store::Project p;
    p.id = 1;
    p.uuid = base::Uuid::Random();
    p.name = "p";
    p.ping_key = "key";
    ASSERT_TRUE(sqlite_->Apply({store::UpsertProject{p}}).ok());
    for (base::Uuid* id : {&pinged_, &flipped_}) {
      model::Watch w;
      w.spec.id = base::Uuid::Random();
      w.spec.project_id = 1;
      w.runtime.status = model::Status::kUp;
      *id = w.spec.id;
      ASSERT_TRUE(sqlite_->Apply({store::UpsertWatch{w}}).ok());
    }
    auto log = journal::CheckInLog::Open((dir_ / "log").string());
    ASSERT_TRUE(log.ok()) << log.error().message;
    log_ = std::move(log.value());
    journal_ = std::make_unique<journal::Journal>(*faulty_, journal::JournalOptions{});
    recorder_ = std::make_unique<ChangeRecorder>(*journal_, log_.get(), 100, 2, &logged_);
    log_->Start();
    journal_->Start();
  }
  void TearDown() override {
    journal_.reset();
    log_.reset();
    faulty_.reset();
    sqlite_.reset();
    fs::remove_all(dir_);
  }

  // A deadline's flip of `flipped_` (the bulk lane), committing slowly: the journal is busy
  // with flips until it has.
  void StartAStorm() {
    faulty_->SetApplyDelay(kSlowCommit);
    engine::Change c;
    c.watch_id = flipped_;
    c.runtime.status = model::Status::kGrace;
    c.flip = model::Flip{flipped_, base::FromMicros(1'700'000'000'000'000), model::Status::kUp,
                         model::Status::kGrace, "timeout"};
    recorder_->Record(std::move(c), {});
    ASSERT_TRUE(journal_->bulk_busy());
  }

  engine::Change CheckIn(int64_t n, model::Signal signal = model::Signal::kSuccess) {
    engine::Change c;
    c.watch_id = pinged_;
    c.runtime.status = model::Status::kUp;
    c.runtime.n_pings = n;
    c.runtime.last_ping = base::FromMicros(1'700'000'000'000'000 + n);
    model::CheckIn ci;
    ci.watch_id = pinged_;
    ci.n = n;
    ci.at = c.runtime.last_ping;
    ci.signal = signal;
    ci.method = "GET";
    c.check_in = ci;
    return c;
  }

  // Records `change` and returns its reply's status and the pings the store had then.
  std::pair<base::Status, int64_t> RecordAndWait(engine::Change change) {
    std::promise<std::pair<base::Status, int64_t>> reply;
    recorder_->Record(std::move(change), [&](base::Status st) {
      reply.set_value({st, StoredPings()});
    });
    return reply.get_future().get();
  }

  int64_t StoredPings() {
    auto w = sqlite_->GetWatch(pinged_);
    return w.ok() && w.value() ? w.value()->runtime.n_pings : -1;
  }

  void AwaitStored(int64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (StoredPings() != n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_EQ(StoredPings(), n);
  }

  fs::path dir_;
  std::unique_ptr<store::Store> sqlite_;
  std::unique_ptr<store::FaultyStore> faulty_;
  std::unique_ptr<journal::CheckInLog> log_;
  std::unique_ptr<journal::Journal> journal_;
  std::unique_ptr<ChangeRecorder> recorder_;
  base::Counter logged_;
  base::Uuid pinged_;
  base::Uuid flipped_;
};

TEST_F(ChangeRecorderTest, DuringAStormAPlainCheckInIsAcknowledgedOnceTheLogHasIt) {
  StartAStorm();
  const auto [st, stored] = RecordAndWait(CheckIn(1));
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(stored, 0);  // the reply came before the store's commit...
  EXPECT_EQ(logged_.Value(), 1u);
  // ...because the record was on disk in the log: a restart now would replay it.
  auto reader = journal::CheckInLog::Open((dir_ / "log").string());
  ASSERT_TRUE(reader.ok());
  ASSERT_EQ(reader.value()->recovered().size(), 1u);
  EXPECT_EQ(reader.value()->recovered()[0].watch_id, pinged_);
  EXPECT_EQ(reader.value()->recovered()[0].check_in.n, 1);
  // Once the store has it, the log lets go of it.
  AwaitStored(1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log_->outstanding() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(log_->outstanding(), 0);
}

TEST_F(ChangeRecorderTest, OutsideStormsTheReplyFollowsTheStoresCommit) {
  ASSERT_FALSE(journal_->bulk_busy());
  const auto [st, stored] = RecordAndWait(CheckIn(1));
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(logged_.Value(), 0u);
  EXPECT_EQ(log_->segment_files(), 0u);
}

TEST_F(ChangeRecorderTest, FailSignalsAndStateChangesWaitForTheStoreEvenInAStorm) {
  StartAStorm();
  auto [fail_st, fail_stored] = RecordAndWait(CheckIn(1, model::Signal::kFail));
  EXPECT_TRUE(fail_st.ok());
  EXPECT_EQ(fail_stored, 1);
  engine::Change up = CheckIn(2);
  up.flip =
      model::Flip{pinged_, up.runtime.last_ping, model::Status::kDown, model::Status::kUp, ""};
  auto [up_st, up_stored] = RecordAndWait(std::move(up));
  EXPECT_TRUE(up_st.ok());
  EXPECT_EQ(up_stored, 2);
  EXPECT_EQ(logged_.Value(), 0u);
}

TEST_F(ChangeRecorderTest, BeyondTheBoundCheckInsWaitForTheStoreAgain) {
  StartAStorm();
  // Two check-ins may wait for the store (the bound this fixture sets); their replies come
  // from the log while the slow commit holds them.
  for (int64_t n = 1; n <= 2; ++n) {
    const auto [st, stored] = RecordAndWait(CheckIn(n));
    EXPECT_TRUE(st.ok());
    EXPECT_EQ(stored, 0);
  }
  EXPECT_EQ(log_->outstanding(), 2);
  // The third waits for the store's commit, as outside storms.
  const auto [st, stored] = RecordAndWait(CheckIn(3));
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(stored, 3);
  EXPECT_EQ(logged_.Value(), 2u);
}

TEST_F(ChangeRecorderTest, WhenTheLogCannotWriteTheReplyWaitsForTheStore) {
  fs::remove_all(dir_ / "log");  // its first segment cannot be created
  StartAStorm();
  const auto [st, stored] = RecordAndWait(CheckIn(1));
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(logged_.Value(), 1u);  // it tried
  EXPECT_FALSE(log_->healthy());
  // Later check-ins, even in a storm, do not try a broken log.
  StartAStorm();
  const auto [st2, stored2] = RecordAndWait(CheckIn(2));
  EXPECT_TRUE(st2.ok());
  EXPECT_EQ(stored2, 2);
  EXPECT_EQ(logged_.Value(), 1u);
}

}  // namespace
}  // namespace overdue::server
