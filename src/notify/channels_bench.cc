// What the notifier spends building one webhook delivery from a storm's message context:
// arg 0 checks the channel's stored config for every message (as before the notifier kept
// checked configs), arg 1 builds from a config checked once (PrepareConfig). BENCHMARKS.md,
// "Derived timeline entries".
#include <benchmark/benchmark.h>

#include "notify/channels.h"

namespace overdue::notify {
namespace {

// The context of a storm's incident (BENCHMARKS.md: ~780 bytes), as the desk stores it.
std::string StormContext() {
  return R"({"event":"down","incident":{"ack_url":"http://127.0.0.1:40873/ack/1.1796820553.9186dcc4b6e4e795814bb479890904b9","acked_by":"","cause":"timeout","cause_detail":"missed its deadline: no check-in since 2026-12-02T11:48:53.661676+00:00","id":1,"opened_at":"2026-12-02T12:49:13.661676+00:00","resolve_reason":"","resolved_by":"","round":1,"state":"open","step":1,"url":"http://127.0.0.1:40873/api/v1/incidents/1"},"last_check_in":null,"now":"2026-12-02T12:49:13.667247+00:00","server":{"url":"http://127.0.0.1:40873"},"watch":{"desc":"","id":"003ecd30-ad11-4480-8012-7ea0b93b1efd","kind":"job","last_ping":"2026-12-02T11:48:53.661676+00:00","name":"bench-4842","ping_url":"http://127.0.0.1:40873/ping/003ecd30-ad11-4480-8012-7ea0b93b1efd","slug":"","status":"down","tags":""}})";
}

// A signed webhook to the storm's receiver.
model::Channel ReceiverChannel() {
  model::Channel channel;
  channel.id = base::Uuid::Random();
  channel.project_id = 1;
  channel.name = "receiver";
  channel.kind = "webhook";
  channel.config =
      R"({"url":"http://127.0.0.1:9/hook","method":"POST","headers":{},"secret":"0123456789abcdef0123"})";
  return channel;
}

void BM_BuildWebhook(benchmark::State& state) {
  const model::Channel channel = ReceiverChannel();
  MessageInput input;
  input.event = "down";
  input.context = nlohmann::json::parse(StormContext());
  input.idempotency_key = "overdue-1-1";
  input.now = base::FromMicros(1'800'000'000'000'000);
  const nlohmann::json prepared = PrepareConfig(channel).value();
  for (auto _ : state) {
    auto d = state.range(0) == 0 ? BuildDelivery(channel, input)
                                 : BuildDelivery(channel, prepared, input);
    if (!d.ok()) state.SkipWithError("build failed");
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_BuildWebhook)->Arg(0)->Arg(1);

// The notifier's whole step from a stored outbox row to a webhook delivery: arg 0 parses the
// stored context and builds from the value (as before the notifier passed a default webhook
// the text, BENCHMARKS.md "Seventh round"), arg 1 passes the text (SendsContextAsText).
void BM_StoredContextToWebhook(benchmark::State& state) {
  const model::Channel channel = ReceiverChannel();
  const nlohmann::json prepared = PrepareConfig(channel).value();
  const std::string stored = StormContext();
  for (auto _ : state) {
    MessageInput input;
    input.event = "down";
    input.idempotency_key = "overdue-1-1";
    input.now = base::FromMicros(1'800'000'000'000'000);
    if (state.range(0) == 0) {
      input.context = nlohmann::json::parse(stored, nullptr, false);
    } else {
      input.context_text = stored;
    }
    auto d = BuildDelivery(channel, prepared, input);
    if (!d.ok()) state.SkipWithError("build failed");
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_StoredContextToWebhook)->Arg(0)->Arg(1);

}  // namespace
}  // namespace overdue::notify

BENCHMARK_MAIN();
