// Micro-benchmarks of the engine's hot paths: a check-in (lookup, rules, reschedule, record)
// and a tick over many watches with nothing due.
#include <benchmark/benchmark.h>

#include "engine/engine.h"

namespace overdue::engine {
namespace {

class NullSink final : public EventSink {
 public:
  void Record(Change&& change, Done done) override {
    benchmark::DoNotOptimize(change);
    if (done) done({});
  }
};

void BM_CheckIn(benchmark::State& state) {
  base::ManualClock clock(base::FromMicros(1'700'000'000'000'000));
  NullSink sink;
  Engine engine(clock, sink, EngineOptions{});
  std::vector<Uuid> ids;
  for (int i = 0; i < state.range(0); ++i) {
    model::WatchSpec s;
    s.id = Uuid::Random();
    s.schedule.period = std::chrono::seconds(60);
    ids.push_back(s.id);
    (void)engine.Load(s, {});
  }
  size_t i = 0;
  for (auto _ : state) {
    CheckInRequest r;
    r.method = "GET";
    auto res = engine.CheckIn(ids[i++ % ids.size()], std::move(r), {});
    benchmark::DoNotOptimize(res);
  }
}
BENCHMARK(BM_CheckIn)->Arg(10'000)->Arg(1'000'000);

void BM_TickIdle(benchmark::State& state) {
  base::ManualClock clock(base::FromMicros(1'700'000'000'000'000));
  NullSink sink;
  Engine engine(clock, sink, EngineOptions{});
  for (int i = 0; i < state.range(0); ++i) {
    model::WatchSpec s;
    s.id = Uuid::Random();
    s.schedule.period = std::chrono::hours(24);
    model::WatchRuntime rt;
    rt.status = model::Status::kUp;
    rt.last_ping = clock.Now();
    (void)engine.Load(s, rt);
  }
  for (auto _ : state) {
    clock.Advance(std::chrono::milliseconds(10));
    benchmark::DoNotOptimize(engine.Tick());
  }
}
BENCHMARK(BM_TickIdle)->Arg(1'000'000);

}  // namespace
}  // namespace overdue::engine

BENCHMARK_MAIN();
