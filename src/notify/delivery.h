// Delivery: one concrete thing to send (an HTTP request, a mail, a local command), as built
// from a channel and a message by channels.h, and the outcome of one attempt to send it
// (transport.h). Plain data.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/time.h"

namespace overdue::notify {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpDelivery {
  std::string method = "POST";
  std::string url;  // http:// or https://
  Headers headers;  // e.g. {"Content-Type", "application/json"}
  std::string body;
  std::string username;  // HTTP basic auth when not empty (Twilio: account SID)
  std::string password;
};

struct MailDelivery {
  // smtp://host:port (STARTTLS when `starttls`) or smtps://host:port (implicit TLS).
  std::string smtp_url;
  bool starttls = false;  // require STARTTLS on smtp://
  std::string username;   // SMTP AUTH when not empty
  std::string password;
  std::string from;             // envelope sender, bare address
  std::vector<std::string> to;  // envelope recipients, bare addresses
  std::string message;          // the whole RFC 5322 message, headers and body, CRLF lines
};

struct CommandDelivery {
  std::string command;  // run with /bin/sh -c
  std::string stdin_data;
  Headers env;                                        // extra environment variables
  base::Duration timeout = std::chrono::seconds(10);  // killed (SIGKILL) after this
};

using Delivery = std::variant<HttpDelivery, MailDelivery, CommandDelivery>;

// Why an attempt failed, typed so the timeline and /metrics can count them.
enum class FailureReason {
  kNone,
  kTimeout,        // no answer within the timeout (connect or whole transfer)
  kRefused,        // connection refused / host unreachable
  kDns,            // the name did not resolve
  kTls,            // TLS handshake or certificate error
  kBlocked,        // private or loopback address refused (allow_private_targets off)
  kRateLimited,    // HTTP 429 (or SMTP 4xx "try later")
  kClientError,    // HTTP 4xx other than 429, SMTP 5xx: retrying will not help
  kServerError,    // HTTP 5xx, SMTP 4xx
  kCommandFailed,  // the command exited non-zero or was killed by a signal
  kProtocol,       // anything else the transport reported (bad response, reset, ...)
};
std::string_view FailureReasonName(FailureReason r);  // "timeout", "refused", "dns", "tls",
// "blocked", "rate_limited", "4xx", "5xx", "command_failed", "protocol", "" for kNone

// Whether another attempt may succeed (4xx other than 408/429 and blocked addresses: no).
bool Retryable(FailureReason r);

struct Outcome {
  bool ok = false;
  FailureReason reason = FailureReason::kNone;
  int code = 0;        // HTTP status, SMTP reply code, or command exit status; 0 if none
  std::string detail;  // short, printable: curl's error text or the start of the response
  base::Duration duration{0};
  std::optional<base::Duration> retry_after;  // from an HTTP Retry-After header
};

}  // namespace overdue::notify
