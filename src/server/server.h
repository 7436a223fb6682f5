// The composition root: the only place that knows every concrete type. Builds the store,
// journal, engine, API and HTTP server from a Config, runs until SIGTERM/SIGINT, and stops
// gracefully (stop accepting, answer in-flight requests after their commits, flush the
// journal, exit 0).
#pragma once

#include "server/config.h"

namespace overdue::server {

// `overdue serve`. Returns the process exit code (0 after a graceful stop; 1 when the
// data dir or store cannot be opened or the address cannot be bound).
int Serve(const Config& config);

// `overdue init`: creates the data dir and the default project with its keys, and prints
// them (one JSON line with `json`, else readable text). Exit code 1 if already initialised.
int Init(const Config& config, bool json);

}  // namespace overdue::server
