// `overdue ping`: sends one ping (success, start, fail, log or an exit status, optionally
// with a body and a run id) to a healthchecks-compatible server and prints its reply.
// Exit status: 0 when the server answered 2xx; 1 otherwise (the status or the network error
// on the error stream); 2 for a target that is not a ping URL, UUID or <ping-key>/<slug>.
#pragma once

#include <unistd.h>

#include <optional>
#include <ostream>
#include <string>

#include "base/uuid.h"
#include "cli/ping_client.h"

namespace overdue::cli {

// Where a bare UUID or <ping-key>/<slug> is sent when neither --server nor OVERDUE_SERVER
// says otherwise: `overdue serve`'s default listen address.
inline constexpr const char* kDefaultServer = "http://127.0.0.1:8000";

// A body read from a file or stdin is cut here (with a warning): the server's default
// max_body_bytes, beyond which it would refuse the whole ping with 413.
inline constexpr size_t kMaxPingBodyBytes = 1024 * 1024;

struct PingOptions {
  std::string target;                   // ping URL, UUID or <ping-key>/<slug>
  std::string server = kDefaultServer;  // base for a UUID or key/slug target
  PingSignal signal;
  std::optional<std::string> body_file;  // "-" = read `stdin_fd`
  std::optional<base::Uuid> rid;
  RetryPolicy retry;
  int stdin_fd = STDIN_FILENO;
};

int PingCommand(const PingOptions& options, std::ostream& out, std::ostream& err);

}  // namespace overdue::cli
