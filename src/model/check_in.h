// A check-in: one report from a watch, as it is kept in the history (healthchecks' Ping).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/time.h"
#include "base/uuid.h"

namespace overdue::model {

// The signal a check-in finally counts as, after URL, exit status, method and keyword rules.
// kIgnored: recorded in the history, changes nothing (healthchecks' "ign").
enum class Signal : uint8_t { kSuccess, kStart, kFail, kLog, kIgnored };

std::string_view SignalName(Signal s);  // "success", "start", "fail", "log", "ign"
std::optional<Signal> ParseSignal(std::string_view name);

struct CheckIn {
  base::Uuid watch_id;
  int64_t n = 0;  // 1-based sequence number per watch (healthchecks' Ping.n)
  base::TimePoint at{};
  Signal signal = Signal::kSuccess;
  std::optional<int> exit_status;  // 0–255 when sent as /ping/<uuid>/<code>
  std::optional<base::Uuid> rid;
  std::string remote_addr;
  std::string scheme;  // "http" / "https" (X-Forwarded-Proto)
  std::string method;
  std::string user_agent;  // at most kMaxUserAgent characters
  std::string body;        // at most the ping body limit; may be left unloaded by a listing
  size_t body_size = 0;    // bytes in the body, known even when the body is not loaded
  std::optional<base::Duration> duration;  // start→finish of the same run, when known
};

// healthchecks truncates the user agent to 200 characters.
inline constexpr size_t kMaxUserAgent = 200;

}  // namespace overdue::model
