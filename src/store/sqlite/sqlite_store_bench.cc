// Apply throughput of the journal's typical batch (runtime update + check-in per unit) and
// start-up load time, on a real SQLite file.
#include <unistd.h>

#include <filesystem>
#include <random>

#include <benchmark/benchmark.h>

// g++ 12 at -O2 reports false positives here when it inlines std::variant moves and
// std::string appends (GCC bugs 105329 and 105651); the code is plain value handling.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "store/sqlite/sqlite_store.h"

namespace overdue::store {
namespace {

namespace fs = std::filesystem;

struct Db {
  explicit Db(bool sync_full, int cache_kib = SqliteOptions{}.writer_cache_kib) {
    std::string name = "store_bench_";
    name += std::to_string(::getpid());
    dir = fs::temp_directory_path() / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    SqliteOptions options{(dir / "b.db").string(), sync_full};
    options.writer_cache_kib = cache_kib;
    store = std::move(OpenSqlite(options).value());
    std::vector<Mutation> init(1, UpsertProject{});
    auto& p = std::get<UpsertProject>(init[0]).project;
    p.id = 1;
    p.uuid = base::Uuid::Random();
    p.ping_key = "k";
    (void)store->Apply(init);
  }
  ~Db() {
    store.reset();
    fs::remove_all(dir);
  }
  fs::path dir;
  std::unique_ptr<Store> store;
};

void BM_ApplyBatch256(benchmark::State& state) {
  Db db(state.range(0) != 0);
  std::vector<model::Watch> watches(1000);
  std::vector<Mutation> seed;
  for (auto& w : watches) {
    w.spec.id = base::Uuid::Random();
    w.spec.project_id = 1;
    seed.push_back(UpsertWatch{w});
  }
  (void)db.store->Apply(seed);
  int64_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Mutation> batch;
    for (int i = 0; i < 256; ++i) {
      const auto& w = watches[static_cast<size_t>(i) % watches.size()];
      ++n;
      model::WatchRuntime rt;
      rt.n_pings = n;
      batch.push_back(UpdateRuntime{w.spec.id, rt});
      model::CheckIn ci;
      ci.watch_id = w.spec.id;
      ci.n = n;
      ci.method = "GET";
      batch.push_back(InsertCheckIn{ci});
    }
    state.ResumeTiming();
    if (!db.store->Apply(batch).ok()) state.SkipWithError("apply failed");
  }
  state.SetItemsProcessed(state.iterations() * 256);
}
BENCHMARK(BM_ApplyBatch256)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// One slice of an incident storm as the journal commits it: per incident the watch's runtime,
// the flip, the incident, its "opened" and "notification" timeline entries and the outbox row
// with a ~900-byte message context; 1,024 incidents per transaction, among 20,000 watches
// (durability=commit). Arg 1 leaves out the "notification" timeline entry (what the desk
// writes since schema 5), arg 2 both timeline entries, arg 3 the message context, arg 4 the
// runtime update and the "notification" entry: what each costs the writer (BENCHMARKS.md,
// "Incident storm"). The second argument is the writer's page cache in KiB (SQLite's default
// is 2,000).
void BM_IncidentSlice1024(benchmark::State& state) {
  Db db(true, static_cast<int>(state.range(1)));
  std::vector<model::Watch> watches(20'000);
  std::vector<Mutation> seed;
  for (auto& w : watches) {
    w.spec.id = base::Uuid::Random();
    w.spec.project_id = 1;
    w.spec.name = "backup of the database server";
    seed.push_back(UpsertWatch{w});
  }
  (void)db.store->Apply(seed);
  const std::string context(900, 'x');
  std::mt19937_64 rng(42);
  int64_t id = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Mutation> batch;
    for (int i = 0; i < 1024; ++i) {
      const auto& w = watches[rng() % watches.size()];
      ++id;
      model::WatchRuntime rt;
      rt.status = model::Status::kDown;
      if (state.range(0) != 4) batch.push_back(UpdateRuntime{w.spec.id, rt});
      model::Flip f;
      f.watch_id = w.spec.id;
      f.at = base::FromMicros(id);
      f.old_status = model::Status::kGrace;
      f.new_status = model::Status::kDown;
      f.reason = "timeout";
      batch.push_back(InsertFlip{f});
      model::Incident inc;
      inc.id = id;
      inc.project_id = 1;
      inc.watch_id = w.spec.id;
      inc.watch_name = w.spec.name;
      inc.cause = "timeout";
      inc.cause_detail = "missed its deadline: no check-in since 2026-12-01T10:00:00Z";
      inc.chain.steps.push_back(model::EscalationStep{{base::Uuid::Random()}, {}});
      batch.push_back(UpsertIncident{inc});
      if (state.range(0) != 2) {
        batch.push_back(AppendTimeline{model::TimelineEntry{id,
                                                            {},
                                                            "opened",
                                                            "system",
                                                            "down: missed its deadline",
                                                            R"({"cause":"timeout","policy":""})"}});
      }
      model::Notification n;
      n.id = id;
      n.incident_id = id;
      n.project_id = 1;
      n.watch_id = w.spec.id;
      n.channel_id = inc.chain.steps[0].channels[0];
      n.event = "down";
      n.idempotency_key = "overdue-" + std::to_string(id);
      n.context = state.range(0) == 3 ? std::string("{}") : context;
      batch.push_back(UpsertNotification{n});
      if (state.range(0) == 0 || state.range(0) == 3) {
        batch.push_back(AppendTimeline{model::TimelineEntry{
            id,
            {},
            "notification",
            "system",
            "down notification to bench (webhook)",
            R"({"channel":"5f0c0b3e-0000-4000-8000-000000000000","channel_name":"bench","event":"down","kind":"webhook","notification":1})"}});
      }
    }
    state.ResumeTiming();
    if (!db.store->Apply(batch).ok()) state.SkipWithError("apply failed");
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_IncidentSlice1024)
    ->Args({0, 8192})
    ->Args({1, 8192})
    ->Args({2, 8192})
    ->Args({3, 8192})
    ->Args({4, 8192})
    ->Args({0, 2000})
    ->Args({1, 2000})
    ->Args({1, 16384})
    ->Iterations(10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The journal's record of 1,024 deliveries, as the notifier writes them after a storm's
// incidents: the attempt and the outbox row's new state (delivered). Arg 0 is the record
// before schema 5: the attempt, the whole outbox row again (its ~800-byte message context
// too) and an "attempt" timeline entry. Arg 1 is the record since: the attempt and an UPDATE
// of the row's state columns only (BENCHMARKS.md, "Derived timeline entries"); since schema 6
// the row it rewrites no longer holds the context ("Slices in key order, narrow outbox
// rows").
void BM_DeliveryRecords1024(benchmark::State& state) {
  Db db(true);
  const std::string context(780, 'x');
  int64_t id = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Mutation> outbox;
    std::vector<model::Notification> sent;
    for (int i = 0; i < 1024; ++i) {
      model::Notification n;
      n.id = ++id;
      n.incident_id = id;
      n.project_id = 1;
      n.watch_id = base::Uuid::Random();
      n.channel_id = base::Uuid::Random();
      n.channel_name = "bench";
      n.channel_kind = "webhook";
      n.event = "down";
      n.idempotency_key = "overdue-" + std::to_string(id);
      n.context = context;
      outbox.push_back(UpsertNotification{n});
      sent.push_back(std::move(n));
    }
    (void)db.store->Apply(outbox);
    std::vector<Mutation> batch;
    for (model::Notification& n : sent) {
      n.status = model::NotificationStatus::kDelivered;
      n.attempts = 1;
      n.finished_at = base::FromMicros(n.id);
      batch.push_back(InsertAttempt{n.id, n.finished_at, true, "", 204, "", {}, {}});
      if (state.range(0) == 0) {
        batch.push_back(AppendTimeline{model::TimelineEntry{
            n.incident_id, n.finished_at, "attempt", "notifier",
            "down delivered to bench (204, 3 ms)",
            R"({"attempt":1,"channel":"5f0c0b3e-0000-4000-8000-000000000000","channel_name":"bench","code":204,"duration_ms":3.1,"event":"down","notification":1,"ok":true,"reason":""})"}});
        batch.push_back(UpsertNotification{n});
      } else {
        batch.push_back(UpdateNotificationState{n});
      }
    }
    state.ResumeTiming();
    if (!db.store->Apply(batch).ok()) state.SkipWithError("apply failed");
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_DeliveryRecords1024)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_LoadWatches(benchmark::State& state) {
  Db db(false);
  std::vector<Mutation> seed;
  for (int i = 0; i < state.range(0); ++i) {
    model::Watch w;
    w.spec.id = base::Uuid::Random();
    w.spec.project_id = 1;
    seed.push_back(UpsertWatch{w});
  }
  (void)db.store->Apply(seed);
  for (auto _ : state) {
    int64_t n = 0;
    (void)db.store->LoadWatches([&](model::Watch&&) { ++n; });
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_LoadWatches)->Arg(100'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace overdue::store

BENCHMARK_MAIN();
