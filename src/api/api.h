// Api: maps HTTP requests to the engine and the store (DESIGN.md, Interfaces). Thin: parse,
// authenticate, call, format. Ping URLs answer after the check-in is durable (the journal's
// completion); reads answer at once.
//
// Routes: /ping/… (healthchecks ping URLs), /api/v3/checks/… (healthchecks' read endpoints:
// list, get, pings, ping body, flips), /healthz, /readyz, /metrics.
// Thread-safety: Handle() is called concurrently from every I/O thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/key_ring.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "engine/engine.h"
#include "http/server.h"
#include "store/store.h"

namespace overdue::api {

struct ApiOptions {
  std::string public_url;          // "http://127.0.0.1:8000": base of ping_url and API URLs
  size_t ping_body_limit = 10000;  // bytes kept of a ping body (healthchecks' PING_BODY_LIMIT)
};

struct ApiDeps {
  engine::Engine& engine;
  store::Store& store;
  KeyRing& keys;
  base::MetricsRegistry& metrics;
  const base::Clock& clock;
  std::function<bool()> ready;  // /readyz
};

class Api {
 public:
  Api(ApiDeps deps, ApiOptions options);
  ~Api();
  void Handle(http::Request&& request, http::Reply reply);
  // REQUIRES: called before the first Handle (the bound port is known only after Listen).
  void SetPublicUrl(std::string url);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace overdue::api
