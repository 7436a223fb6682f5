// A storm's message context (the desk's shape: BENCHMARKS.md, "Seventh round") written as
// text: arg 0 builds a nlohmann::json tree and dumps it (as the desk did), arg 1 writes the
// same text with ObjectText (as it does now). Both give the same bytes (checked once).
#include <string>

#include <benchmark/benchmark.h>

#include "base/json_text.h"

namespace overdue::base {
namespace {

using nlohmann::json;

constexpr const char* kUrl = "http://127.0.0.1:40873";
constexpr const char* kId = "0b9f5a8e-3c1d-4e2f-9a7b-6c5d4e3f2a1b";

std::string WithTree() {
  const std::string id = kId;
  json watch{
      {"id", id},         {"name", "storm-4711"}, {"slug", "storm-4711"},
      {"kind", "job"},    {"tags", ""},           {"desc", ""},
      {"status", "down"}, {"last_ping", ""},      {"ping_url", std::string(kUrl) + "/ping/" + id}};
  json incident{
      {"id", 4711},
      {"cause", "timeout"},
      {"cause_detail", "missed its deadline: no check-in yet"},
      {"state", "open"},
      {"opened_at", "2026-12-02T16:17:37.666000Z"},
      {"url", std::string(kUrl) + "/api/v1/incidents/4711"},
      {"ack_url", std::string(kUrl) + "/ack/4711.1796820553.9186dcc4b6e4e795814bb4798909"},
      {"step", 1},
      {"round", 1},
      {"acked_by", ""},
      {"resolved_by", ""},
      {"resolve_reason", ""}};
  json c{{"event", "down"},
         {"watch", std::move(watch)},
         {"last_check_in", nullptr},
         {"server", json{{"url", kUrl}}},
         {"now", "2026-12-02T16:17:37.701000Z"}};
  c["incident"] = std::move(incident);
  return JsonText(c);
}

std::string WithObjectText() {
  const std::string id = kId;
  std::string watch;
  {
    ObjectText o(watch);
    o.Str("desc", "")
        .Str("id", id)
        .Str("kind", "job")
        .Str("last_ping", "")
        .Str("name", "storm-4711")
        .Str("ping_url", std::string(kUrl) + "/ping/" + id)
        .Str("slug", "storm-4711")
        .Str("status", "down")
        .Str("tags", "");
  }
  std::string c;
  c.reserve(watch.size() + 768);
  {
    ObjectText o(c);
    o.Str("event", "down");
    {
      ObjectText inc(o.Member("incident"));
      inc.Str("ack_url", std::string(kUrl) + "/ack/4711.1796820553.9186dcc4b6e4e795814bb4798909")
          .Str("acked_by", "")
          .Str("cause", "timeout")
          .Str("cause_detail", "missed its deadline: no check-in yet")
          .Int("id", 4711)
          .Str("opened_at", "2026-12-02T16:17:37.666000Z")
          .Str("resolve_reason", "")
          .Str("resolved_by", "")
          .Int("round", 1)
          .Str("state", "open")
          .Int("step", 1)
          .Str("url", std::string(kUrl) + "/api/v1/incidents/4711");
    }
    o.Member("last_check_in").append("null");
    o.Str("now", "2026-12-02T16:17:37.701000Z");
    {
      ObjectText server(o.Member("server"));
      server.Str("url", kUrl);
    }
    o.Member("watch").append(watch);
  }
  return c;
}

void BM_StormContext(benchmark::State& state) {
  if (WithTree() != WithObjectText()) {
    state.SkipWithError("the two ways give different text");
    return;
  }
  for (auto _ : state) {
    std::string text = state.range(0) == 0 ? WithTree() : WithObjectText();
    benchmark::DoNotOptimize(text);
  }
}
BENCHMARK(BM_StormContext)->Arg(0)->Arg(1);

}  // namespace
}  // namespace overdue::base

BENCHMARK_MAIN();
