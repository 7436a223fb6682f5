// NextCron runs on every check-in of a cron watch. Each iteration asks for the next match
// after a different instant (stepping 7m13s through 2024, DST switches included).
#include <benchmark/benchmark.h>

#include "schedule/cron.h"

namespace overdue::schedule {
namespace {

void BM_NextCron(benchmark::State& state, const char* expr, const char* tz) {
  auto cron = CompileCron(expr, tz);
  if (!cron.ok()) {
    state.SkipWithError(cron.error().message.c_str());
    return;
  }
  const base::TimePoint start = base::FromMicros(int64_t{1'704'067'200} * 1'000'000);  // 2024-01-01
  base::TimePoint t = start;
  for (auto _ : state) {
    benchmark::DoNotOptimize(NextCron(*cron.value(), t));
    t += std::chrono::seconds(433);
    if (t > start + std::chrono::hours(24 * 366)) t = start;
  }
}

BENCHMARK_CAPTURE(BM_NextCron, every_5_minutes_berlin, "*/5 * * * *", "Europe/Berlin");
BENCHMARK_CAPTURE(BM_NextCron, weekdays_0300_berlin, "0 3 * * 1-5", "Europe/Berlin");
BENCHMARK_CAPTURE(BM_NextCron, every_5_minutes_utc, "*/5 * * * *", "UTC");
BENCHMARK_CAPTURE(BM_NextCron, first_monday_new_york, "0 9 1-7 * */7", "America/New_York");
BENCHMARK_CAPTURE(BM_NextCron, never_matches, "1 1 */100 * MON#4", "Europe/Berlin");

void BM_CompileCron(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(CompileCron("0,30 9-17 * * MON-FRI", "Europe/Berlin"));
  }
}
BENCHMARK(BM_CompileCron);

}  // namespace
}  // namespace overdue::schedule

BENCHMARK_MAIN();
