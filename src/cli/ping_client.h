// The client side of healthchecks-compatible ping URLs, used by `overdue ping` and
// `overdue run`: building a ping URL (signal suffix, ?rid=) and sending one ping over HTTP
// (libcurl) with timeouts and retries. Works against any server that speaks healthchecks'
// ping API, not only overdue.
//
// SendPing blocks the calling thread for at most RetryPolicy::max_total plus one connect
// timeout. It is safe to call from several threads at once (each call has its own handle;
// libcurl's global state is initialised once, thread-safely).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/time.h"
#include "base/uuid.h"

namespace overdue::cli {

// "overdue/<version>", sent as User-Agent (healthchecks shows it in the check's log).
std::string UserAgent();

// What a ping reports: healthchecks' URL suffixes /start, /fail, /log, /<exit status>.
struct PingSignal {
  enum class Kind { kSuccess, kStart, kFail, kLog, kExit };
  Kind kind = Kind::kSuccess;
  int exit_status = 0;  // kExit only: 0-255

  // "" (success), "start", "fail", "log" or the exit status in decimal.
  std::string Suffix() const;
};

// The URL for `signal` on the ping URL `base` (http(s)://host/ping/<uuid> or
// .../ping/<ping-key>/<slug>, possibly with a query such as ?create=1): the suffix goes at the
// end of the path, `rid` joins any existing query.
std::string PingUrl(std::string_view base, const PingSignal& signal,
                    const std::optional<base::Uuid>& rid);

// Turns what a user typed into a ping URL: an http:// or https:// URL is used as is; a bare
// UUID or "<ping-key>/<slug>" becomes <server>/ping/<target>. The error names the rule.
base::Result<std::string> ResolvePingTarget(std::string_view target, std::string_view server);

// When and how often a ping is retried. Network errors, 5xx and 429 are retried (the server
// may be restarting); other 4xx are final (retrying a wrong URL does not make it right).
struct RetryPolicy {
  int max_attempts = 5;
  // Before attempt n+1 we wait first_delay * 2^(n-1), scaled by a random factor in
  // [0.75, 1.25) so that many cron jobs failing together do not retry in lockstep.
  base::Duration first_delay = std::chrono::milliseconds(500);
  // The whole exchange, attempts and waits, ends within this (a cron job's wrapper must not
  // hang on a dead server); the last attempt's timeout is cut to fit.
  base::Duration max_total = std::chrono::seconds(25);
  base::Duration connect_timeout = std::chrono::seconds(5);
  base::Duration request_timeout = std::chrono::seconds(10);  // per attempt, connect included
};

struct PingResponse {
  long status = 0;                        // HTTP status of the last attempt
  std::string body;                       // at most kMaxResponseBytes of it
  std::optional<size_t> ping_body_limit;  // the server's Ping-Body-Limit header, if sent
  int attempts = 0;
};

// A reply longer than this is cut: ping replies are "OK" and the like; a server sending
// megabytes is broken or hostile and must not fill our memory.
inline constexpr size_t kMaxResponseBytes = 64 * 1024;

// Called before each retry with the reason the last attempt failed and the wait.
using RetryObserver = std::function<void(const std::string& reason, base::Duration wait)>;

// POSTs `body` (text/plain) to `url`. Returns the last response when one arrived, even a 4xx
// or a 5xx after the last retry (the caller decides what a status means); an error
// (kUnavailable) when no attempt got a response. REQUIRES: url is http:// or https://.
base::Result<PingResponse> SendPing(const std::string& url, std::string_view body,
                                    const RetryPolicy& policy,
                                    const RetryObserver& on_retry = nullptr);

}  // namespace overdue::cli
