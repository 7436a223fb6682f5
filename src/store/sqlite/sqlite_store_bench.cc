// Apply throughput of the journal's typical batch (runtime update + check-in per unit) and
// start-up load time, on a real SQLite file.
#include <unistd.h>

#include <filesystem>

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
  explicit Db(bool sync_full) {
    std::string name = "store_bench_";
    name += std::to_string(::getpid());
    dir = fs::temp_directory_path() / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    store = std::move(OpenSqlite(SqliteOptions{(dir / "b.db").string(), sync_full}).value());
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
