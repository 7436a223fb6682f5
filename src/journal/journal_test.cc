#include "journal/journal.h"

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "store/faulty_store.h"
#include "store/sqlite/sqlite_store.h"

namespace overdue::journal {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A random watch id whose first byte is `first`: ids sort by it (the bulk lane slices a run in
// watch order).
base::Uuid Ordered(uint8_t first) {
  base::Uuid u = base::Uuid::Random();
  u.bytes[0] = first;
  return u;
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("journal_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
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
    watch_.spec.id = Ordered(0x80);
    watch_.spec.project_id = 1;
    ASSERT_TRUE(sqlite_->Apply({store::UpsertWatch{watch_}}).ok());
  }
  void TearDown() override {
    faulty_.reset();
    sqlite_.reset();
    fs::remove_all(dir_);
  }

  std::vector<store::Mutation> CheckInUnit(int64_t n) {
    model::WatchRuntime rt;
    rt.n_pings = n;
    rt.status = model::Status::kUp;
    model::CheckIn ci;
    ci.watch_id = watch_.spec.id;
    ci.n = n;
    ci.at = base::FromMicros(1'700'000'000'000'000 + n);
    std::vector<store::Mutation> m;
    m.emplace_back(store::UpdateRuntime{watch_.spec.id, rt});
    m.emplace_back(store::InsertCheckIn{ci});
    return m;
  }

  int64_t StoredPings() {
    auto w = sqlite_->GetWatch(watch_.spec.id);
    return w.ok() && w.value() ? w.value()->runtime.n_pings : -1;
  }

  fs::path dir_;
  std::unique_ptr<store::Store> sqlite_;
  std::unique_ptr<store::FaultyStore> faulty_;
  model::Watch watch_;
};

TEST_F(JournalTest, CompletesEachUnitAfterItsCommit) {
  Journal j(*faulty_, JournalOptions{});
  j.Start();
  std::promise<base::Status> done;
  j.Submit(CheckInUnit(1), [&](base::Status st) {
    // By the time we hear OK, the check-in is in the store.
    EXPECT_EQ(StoredPings(), 1);
    done.set_value(st);
  });
  EXPECT_TRUE(done.get_future().get().ok());
  j.Stop();
}

TEST_F(JournalTest, ConcurrentSubmitsAreBatched) {
  faulty_->SetApplyDelay(milliseconds(20));  // a slow disk: submissions pile up meanwhile
  Journal j(*faulty_, JournalOptions{});
  std::atomic<size_t> max_units{0};
  std::atomic<int> commits{0};
  j.SetCommitObserver([&](const CommitStats& s) {
    commits++;
    size_t prev = max_units.load();
    while (s.units > prev && !max_units.compare_exchange_weak(prev, s.units)) {
    }
  });
  j.Start();
  constexpr int kUnits = 400;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUnits / 4; ++i) {
        j.Submit(CheckInUnit(t * 1000 + i + 1), [&](base::Status st) { ok += st.ok(); });
      }
    });
  }
  for (auto& t : threads) t.join();
  j.Stop();  // flushes everything submitted before
  EXPECT_EQ(ok.load(), kUnits);
  EXPECT_GT(max_units.load(), 1u);
  EXPECT_LT(commits.load(), kUnits);
  auto list = sqlite_->ListCheckIns(watch_.spec.id, 10000, false);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.value().size(), static_cast<size_t>(kUnits));
}

TEST_F(JournalTest, FailedCommitIsReportedThenRetriedUntilDurable) {
  JournalOptions o;
  o.retry_delay = milliseconds(5);
  Journal j(*faulty_, o);
  j.Start();
  faulty_->FailApplyAfter(0);  // the next Apply fails, and all after it until Heal
  std::promise<base::Status> first;
  j.Submit(CheckInUnit(1), [&](base::Status st) { first.set_value(st); });
  const base::Status st = first.get_future().get();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, base::ErrorCode::kUnavailable);
  EXPECT_FALSE(j.healthy());
  // While unhealthy, new units are answered at once (not durable yet) but kept.
  std::promise<base::Status> second;
  j.Submit(CheckInUnit(2), [&](base::Status s) { second.set_value(s); });
  EXPECT_FALSE(second.get_future().get().ok());
  faulty_->Heal();
  // The kept mutations reach the store once it heals.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  // healthy() turns true just after the commit is visible: wait for both.
  while ((StoredPings() != 2 || !j.healthy()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(StoredPings(), 2);
  auto list = sqlite_->ListCheckIns(watch_.spec.id, 10, false);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.value().size(), 2u);
  EXPECT_TRUE(j.healthy());
  j.Stop();
}

TEST_F(JournalTest, DurableRunsOnceWhenTheUnitIsInTheStoreEvenAfterARetry) {
  JournalOptions o;
  o.retry_delay = milliseconds(5);
  Journal j(*faulty_, o);
  j.Start();
  faulty_->FailApplyAfter(0);
  std::atomic<int> durable{0};
  std::atomic<int64_t> stored_at_durable{-1};
  std::promise<base::Status> done;
  j.Submit(
      CheckInUnit(1), [&](base::Status st) { done.set_value(st); }, Lane::kNormal, nullptr,
      [&] {
        stored_at_durable.store(StoredPings());
        durable.fetch_add(1);
      });
  EXPECT_FALSE(done.get_future().get().ok());  // the failed commit is reported...
  EXPECT_EQ(durable.load(), 0);                // ...and is not durable
  faulty_->Heal();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (durable.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  ASSERT_EQ(durable.load(), 1);
  EXPECT_EQ(stored_at_durable.load(), 1);  // it ran after the retry had committed
  // A later unit commits at once and runs its own durable, not the first one's again.
  std::promise<void> second;
  j.Submit(CheckInUnit(2), {}, Lane::kNormal, nullptr, [&] { second.set_value(); });
  second.get_future().get();
  EXPECT_EQ(durable.load(), 1);
  j.Stop();
}

TEST_F(JournalTest, BulkBusyWhileFlipsAreQueuedOrCommitting) {
  Journal j(*faulty_, JournalOptions{});
  EXPECT_FALSE(j.bulk_busy());
  const base::Uuid w = Ordered(1);
  j.Submit(CheckInUnit(1), {}, Lane::kBulk, &w);  // queued before Start: not committed yet
  EXPECT_TRUE(j.bulk_busy());
  std::promise<void> committed;
  j.Submit(CheckInUnit(2), [&](base::Status) { committed.set_value(); });
  faulty_->SetApplyDelay(milliseconds(0));
  j.Start();
  committed.get_future().get();
  // The bulk unit went in the same commit or the next; once the lane is empty and its last
  // slice committed, the flag drops.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (j.bulk_busy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_FALSE(j.bulk_busy());
  j.Stop();
}

TEST_F(JournalTest, PrunesHistoryInTheBackground) {
  JournalOptions o;
  o.history_limit = 5;
  Journal j(*faulty_, o);
  j.Start();
  for (int n = 1; n <= 20; ++n) j.Submit(CheckInUnit(n), {});
  j.RequestPrune(watch_.spec.id, 20);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  size_t kept = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto list = sqlite_->ListCheckIns(watch_.spec.id, 100, false);
    ASSERT_TRUE(list.ok());
    kept = list.value().size();
    if (kept == 5) break;
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(kept, 5u);
  auto newest = sqlite_->ListCheckIns(watch_.spec.id, 1, false);
  EXPECT_EQ(newest.value().front().n, 20);
  j.Stop();
}

TEST_F(JournalTest, SubmitAfterStopFailsAtOnce) {
  Journal j(*faulty_, JournalOptions{});
  j.Start();
  j.Stop();
  bool called = false;
  j.Submit(CheckInUnit(1), [&](base::Status st) {
    called = true;
    EXPECT_FALSE(st.ok());
  });
  EXPECT_TRUE(called);
}

// Records, per commit, the marker (runtime.n_pings) of every UpdateRuntime of the batch.
class BatchRecorder final : public CommitHook {
 public:
  void BeforeCommit(std::vector<store::Mutation>& batch, size_t first_new) override {
    std::vector<int64_t> markers;
    for (size_t i = first_new; i < batch.size(); ++i) {
      if (const auto* r = std::get_if<store::UpdateRuntime>(&batch[i])) {
        markers.push_back(r->runtime.n_pings);
      }
    }
    batches.push_back(std::move(markers));
  }
  void AfterCommit(bool) override {}
  std::vector<std::vector<int64_t>> batches;
};

std::vector<store::Mutation> Marker(const base::Uuid& watch, int64_t marker) {
  model::WatchRuntime rt;
  rt.n_pings = marker;
  std::vector<store::Mutation> m;
  m.emplace_back(store::UpdateRuntime{watch, rt});
  return m;
}

TEST_F(JournalTest, LanesSliceBulkUnitsAndKeepEachWatchsOrder) {
  JournalOptions o;
  o.max_bulk = 2;
  o.max_bulk_idle = 2;
  o.max_background = 1;
  Journal j(*faulty_, o);
  BatchRecorder hook;
  j.SetCommitHook(&hook);
  // In key order (a run is sliced in watch order); the third is a stored watch, whose final
  // runtime is checked.
  std::vector<base::Uuid> watches{Ordered(0x10), Ordered(0x20), watch_.spec.id, Ordered(0x90),
                                  Ordered(0xa0)};
  // Queued before the writer starts, so the batches are deterministic.
  for (int i = 0; i < 5; ++i) j.Submit(Marker(watches[i], 100 + i), {}, Lane::kBulk, &watches[i]);
  const base::Uuid other = base::Uuid::Random();
  j.Submit(Marker(other, 1), {}, Lane::kNormal, &other);  // another watch: jumps the storm
  for (int i = 0; i < 5; ++i)
    j.Submit(Marker(base::Uuid::Random(), 200 + i), {}, Lane::kBackground);
  // A later change of a watch with a bulk unit queued waits behind it.
  j.Submit(Marker(watches[2], 300), {}, Lane::kNormal, &watches[2]);
  EXPECT_EQ(j.queued(), 12u);
  j.Start();
  j.Stop();
  ASSERT_EQ(hook.batches.size(), 4u);
  EXPECT_EQ(hook.batches[0], (std::vector<int64_t>{1, 100, 101, 200}));
  // The later change of the stored watch joined the run behind the watch's flip: the run is
  // sorted by watch, stably.
  EXPECT_EQ(hook.batches[1], (std::vector<int64_t>{102, 300, 201}));
  // The last bulk slice too takes only max_background of the delivery records: the rest
  // commit next, so they do not hold back the incidents the slice opens.
  EXPECT_EQ(hook.batches[2], (std::vector<int64_t>{103, 104, 202}));
  EXPECT_EQ(hook.batches[3], (std::vector<int64_t>{203, 204}));
  EXPECT_EQ(StoredPings(), 300);
  EXPECT_EQ(j.queued(), 0u);
}

TEST_F(JournalTest, BulkSliceGrowsWhenNothingWaitsAndBulkWithoutWatchIsNormal) {
  JournalOptions o;
  o.max_bulk = 1;
  o.max_bulk_idle = 3;
  o.normal_quiet = base::Duration{0};
  Journal j(*faulty_, o);
  BatchRecorder hook;
  j.SetCommitHook(&hook);
  const base::Uuid a = Ordered(0x10);
  const base::Uuid b = Ordered(0x20);
  const base::Uuid c = Ordered(0x30);
  j.Submit(Marker(a, 1), {}, Lane::kBulk, &a);
  j.Submit(Marker(b, 2), {}, Lane::kBulk, &b);
  j.Submit(Marker(c, 4), {}, Lane::kBulk, &c);
  j.Submit(Marker(a, 3), {}, Lane::kBulk);  // no watch given: cannot be ordered, so normal
  j.Start();
  j.Stop();
  ASSERT_EQ(hook.batches.size(), 2u);
  // A normal unit waits: a slice of max_bulk; then nobody waits: up to max_bulk_idle.
  EXPECT_EQ(hook.batches[0], (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(hook.batches[1], (std::vector<int64_t>{2, 4}));
}

TEST_F(JournalTest, BulkSlicesStaySmallWhileNormalUnitsKeepComing) {
  JournalOptions o;
  o.max_bulk = 1;
  o.max_bulk_idle = 3;
  o.normal_quiet = std::chrono::hours(1);  // a normal unit came "recently" for the whole test
  o.max_background = 0;
  o.max_background_steady = 1;
  Journal j(*faulty_, o);
  BatchRecorder hook;
  j.SetCommitHook(&hook);
  const base::Uuid n = base::Uuid::Random();
  j.Submit(Marker(n, 1), {}, Lane::kNormal, &n);
  for (int i = 0; i < 3; ++i) {
    const base::Uuid w = Ordered(static_cast<uint8_t>(0x10 * (i + 1)));
    j.Submit(Marker(w, 10 + i), {}, Lane::kBulk, &w);
  }
  for (int i = 0; i < 2; ++i) j.Submit(Marker(base::Uuid::Random(), 20 + i), {}, Lane::kBackground);
  j.Start();
  j.Stop();
  // Bulk slices stay at max_bulk and carry no delivery records (max_background 0), the last
  // one too; then the delivery records are sliced (max_background_steady), since check-ins
  // keep coming.
  ASSERT_EQ(hook.batches.size(), 5u);
  EXPECT_EQ(hook.batches[0], (std::vector<int64_t>{1, 10}));
  EXPECT_EQ(hook.batches[1], (std::vector<int64_t>{11}));
  EXPECT_EQ(hook.batches[2], (std::vector<int64_t>{12}));
  EXPECT_EQ(hook.batches[3], (std::vector<int64_t>{20}));
  EXPECT_EQ(hook.batches[4], (std::vector<int64_t>{21}));
}

// A check-in that arrives while a bulk slice commits goes next, alone, instead of waiting
// for the next slice to be written with it.
TEST_F(JournalTest, NormalUnitsArrivingDuringABulkSliceCommitAlone) {
  JournalOptions o;
  o.max_bulk = 1;
  o.max_bulk_idle = 1;
  o.normal_quiet = std::chrono::hours(1);
  o.max_background = 1;
  Journal j(*faulty_, o);
  // Submits a normal unit (marker 1, then 2) from inside the commits of bulk markers 10, 11.
  class ArrivesDuringSlice final : public CommitHook {
   public:
    explicit ArrivesDuringSlice(Journal& j) : j_(j) {}
    void BeforeCommit(std::vector<store::Mutation>& batch, size_t first_new) override {
      recorder.BeforeCommit(batch, first_new);
      for (int64_t m : recorder.batches.back()) {
        if (m == 10 || m == 11) {
          const base::Uuid w = base::Uuid::Random();
          j_.Submit(Marker(w, m - 9), {}, Lane::kNormal, &w);
        }
      }
    }
    void AfterCommit(bool) override {}
    BatchRecorder recorder;

   private:
    Journal& j_;
  } hook(j);
  j.SetCommitHook(&hook);
  for (int i = 0; i < 3; ++i) {
    const base::Uuid w = Ordered(static_cast<uint8_t>(0x10 * (i + 1)));
    j.Submit(Marker(w, 10 + i), {}, Lane::kBulk, &w);
  }
  j.Submit(Marker(base::Uuid::Random(), 20), {}, Lane::kBackground);
  j.Start();
  j.Stop();
  const auto& b = hook.recorder.batches;
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[0], (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(b[1], (std::vector<int64_t>{1}));  // alone: no bulk, no background
  EXPECT_EQ(b[2], (std::vector<int64_t>{11}));
  EXPECT_EQ(b[3], (std::vector<int64_t>{2}));
  EXPECT_EQ(b[4], (std::vector<int64_t>{12}));
}

// A storm's flips commit in key order, so that a slice touches neighbouring pages; one
// watch's units keep their order, and units queued while a run is sliced wait for that run
// only, never for later units.
TEST_F(JournalTest, BulkRunsCommitInWatchOrderAndInTheOrderTheyFormed) {
  JournalOptions o;
  o.max_bulk = 2;
  o.max_bulk_idle = 2;
  Journal j(*faulty_, o);
  const base::Uuid w0 = Ordered(0x00);
  // Submits a bulk unit of the smallest key (marker 9) from inside the first commit.
  class LateUnit final : public CommitHook {
   public:
    LateUnit(Journal& j, const base::Uuid& w) : j_(j), w_(w) {}
    void BeforeCommit(std::vector<store::Mutation>& batch, size_t first_new) override {
      recorder.BeforeCommit(batch, first_new);
      if (recorder.batches.size() == 1) j_.Submit(Marker(w_, 9), {}, Lane::kBulk, &w_);
    }
    void AfterCommit(bool) override {}
    BatchRecorder recorder;

   private:
    Journal& j_;
    const base::Uuid& w_;
  } hook(j, w0);
  j.SetCommitHook(&hook);
  const base::Uuid w1 = Ordered(0x10);
  const base::Uuid w3 = Ordered(0x30);
  const base::Uuid w4 = Ordered(0x40);
  const base::Uuid w5 = Ordered(0x50);
  j.Submit(Marker(w5, 1), {}, Lane::kBulk, &w5);
  j.Submit(Marker(w3, 2), {}, Lane::kBulk, &w3);
  j.Submit(Marker(w1, 3), {}, Lane::kBulk, &w1);
  j.Submit(Marker(w3, 4), {}, Lane::kBulk, &w3);  // w3's second change: after its first
  j.Submit(Marker(w4, 5), {}, Lane::kBulk, &w4);
  j.Start();
  j.Stop();
  const auto& b = hook.recorder.batches;
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0], (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(b[1], (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(b[2], (std::vector<int64_t>{1}));  // the run's last unit, alone
  EXPECT_EQ(b[3], (std::vector<int64_t>{9}));  // queued during the run: the next run
}

// A run holds at most max_bulk_run units, the oldest: a restart's catch-up of every watch is
// sorted in pieces. One watch's later unit stays behind the run that holds its earlier one.
TEST_F(JournalTest, BulkRunsHoldAtMostMaxBulkRunUnits) {
  JournalOptions o;
  o.max_bulk = 2;
  o.max_bulk_idle = 2;
  o.max_bulk_run = 3;
  Journal j(*faulty_, o);
  BatchRecorder hook;
  j.SetCommitHook(&hook);
  const base::Uuid w1 = Ordered(0x10);
  const base::Uuid w2 = Ordered(0x20);
  const base::Uuid w3 = Ordered(0x30);
  const base::Uuid w4 = Ordered(0x40);
  j.Submit(Marker(w4, 1), {}, Lane::kBulk, &w4);
  j.Submit(Marker(w3, 2), {}, Lane::kBulk, &w3);
  j.Submit(Marker(w2, 3), {}, Lane::kBulk, &w2);
  j.Submit(Marker(w1, 4), {}, Lane::kBulk, &w1);  // the next run
  j.Submit(Marker(w3, 5), {}, Lane::kBulk, &w3);  // the next run too: after w3's first
  j.Start();
  j.Stop();
  ASSERT_EQ(hook.batches.size(), 3u);
  EXPECT_EQ(hook.batches[0], (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(hook.batches[1], (std::vector<int64_t>{1}));
  EXPECT_EQ(hook.batches[2], (std::vector<int64_t>{4, 5}));
}

}  // namespace
}  // namespace overdue::journal
