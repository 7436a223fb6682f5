// Fuzzes channel settings and message templates (notify/channels.h, notify/message.h): the
// first byte picks a channel kind, the rest is the `config` JSON a user sends to
// POST /api/v1/channels. Beyond "no crash, no sanitizer report": a refused config names the
// field ("config…" or "kind…"); an accepted one validates again unchanged (normalisation is a
// fixed point) and builds a delivery for every event without throwing, its HTTP header values
// free of CR/LF (no header injection from user data).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "notify/channels.h"

namespace {

void Require(bool ok) {
  if (!ok) std::abort();
}

const nlohmann::json& Context() {
  static const nlohmann::json c = nlohmann::json::parse(R"({
    "event": "down",
    "incident": {"id": 12, "cause": "timeout", "cause_detail": "no check-in\r\nBcc: x@y",
                 "state": "open", "opened_at": "2026-11-25T10:00:00Z",
                 "url": "http://h/api/v1/incidents/12", "ack_url": "http://h/ack/t",
                 "step": 1, "round": 1, "acked_by": "", "resolved_by": "", "resolve_reason": ""},
    "watch": {"id": "7f1c0c59-0f3e-4bd1-9d1e-0d7c8e2f2a11", "name": "a\"b<c>&\r\nX-Evil: 1",
              "slug": "s", "kind": "job", "tags": "t", "desc": "", "status": "down",
              "last_ping": "", "ping_url": "http://h/ping/x"},
    "last_check_in": null, "server": {"url": "http://h"}, "now": "2026-11-25T10:00:01Z"})");
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto& kinds = overdue::notify::ChannelKinds();
  const std::string kind = kinds[data[0] % kinds.size()];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return 0;
  auto normal = overdue::notify::ValidateChannel(kind, config);
  if (!normal.ok()) {
    const std::string& m = normal.error().message;
    Require(m.rfind("config", 0) == 0 || m.rfind("kind", 0) == 0);
    return 0;
  }
  auto again = overdue::notify::ValidateChannel(kind, normal.value());
  Require(again.ok() && again.value() == normal.value());
  overdue::model::Channel channel;
  channel.kind = kind;
  channel.name = "fuzz";
  channel.config = normal.value().dump();
  for (const char* event : {"down", "late", "escalation", "reminder", "recovery", "test"}) {
    overdue::notify::MessageInput in{
        event, Context(), "overdue-12-34", overdue::base::FromMicros(0), {}};
    auto d = overdue::notify::BuildDelivery(channel, in);
    if (!d.ok()) continue;  // a template that fails to render is an error value, not a crash
    if (const auto* http = std::get_if<overdue::notify::HttpDelivery>(&d.value())) {
      for (const auto& [name, value] : http->headers) {
        Require(name.find_first_of("\r\n") == std::string::npos);
        Require(value.find_first_of("\r\n") == std::string::npos);
      }
      // The notifier's path for a channel that sends the context as it is: the same request.
      if (overdue::notify::SendsContextAsText(channel, normal.value())) {
        const std::string stored = Context().dump();
        overdue::notify::MessageInput as_text{event, nullptr, "overdue-12-34",
                                              overdue::base::FromMicros(0), stored};
        auto t = overdue::notify::BuildDelivery(channel, as_text);
        Require(t.ok());
        const auto* same = std::get_if<overdue::notify::HttpDelivery>(&t.value());
        Require(same && same->body == http->body && same->headers == http->headers);
      }
    }
  }
  return 0;
}
