// `overdue run`: wraps a job the way healthchecks' runitor does. It sends /start with a fresh
// run id, runs the command (stdin inherited; stdout and stderr passed through to ours while the
// last bytes of both are kept), then sends /<exit status> — or /fail when a signal killed the
// command — with the same run id and the output's tail as the body. The server measures the
// duration from the run-id pair.
//
// Monitoring never changes the job: RunCommand returns the command's exit status (128+signal
// when killed, 127/126 when it cannot be started, as shells do) whatever happened to the pings;
// a failed ping is only a warning on stderr. The /start ping is sent while the command already
// runs, so a slow or dead server never delays the job; the final ping waits for it, so the
// server always sees start before finish.
//
// While the command runs, SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to this process by kill(2)
// are forwarded to the command (ones the terminal sends already reach it through the process
// group) and SIGPIPE is ignored; the previous dispositions are restored on return. So one
// RunCommand at a time per process.
#pragma once

#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "base/uuid.h"
#include "cli/ping_client.h"

namespace overdue::cli {

// Output kept for the final ping: healthchecks' default PING_BODY_LIMIT, since a server keeps
// no more than that of a body. A smaller Ping-Body-Limit in the server's reply to /start
// lowers it.
inline constexpr size_t kOutputTailBytes = 10000;

struct RunOptions {
  std::string ping_url;              // http(s)://…/ping/<uuid> or …/ping/<key>/<slug>
  std::vector<std::string> command;  // argv; REQUIRES: not empty. Looked up in PATH.
  std::optional<base::Uuid> rid;     // default: a fresh random one
  RetryPolicy retry;
  size_t tail_bytes = kOutputTailBytes;
  int out_fd = STDOUT_FILENO;  // where the command's stdout goes on to
  int err_fd = STDERR_FILENO;  // where its stderr and our warnings go
};

// Runs the command and reports it. Returns the command's exit status (see above).
int RunCommand(const RunOptions& options);

}  // namespace overdue::cli
