// Api: maps HTTP requests to the engine and the store (DESIGN.md, Interfaces). Thin: parse,
// authenticate, call, format. Ping URLs answer after the check-in is durable (the journal's
// completion); reads answer at once.
//
// Routes (`Routes()` lists them): /ping/… (healthchecks ping URLs), /api/v3/… (healthchecks'
// Management API v3), /api/v1/… (overdue's own: PUT a check by UUID, export, import),
// /badge/… and /b/… (healthchecks' badges), /healthz, /readyz, /metrics.
// Thread-safety: Handle() is called concurrently from every I/O thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/key_ring.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "engine/engine.h"
#include "http/server.h"
#include "incident/desk.h"
#include "store/store.h"

namespace overdue::api {

struct ApiOptions {
  std::string public_url;          // "http://127.0.0.1:8000": base of ping_url and API URLs
  size_t ping_body_limit = 10000;  // bytes kept of a ping body (healthchecks' PING_BODY_LIMIT)
  base::Duration min_period = std::chrono::seconds(60);  // shortest timeout/grace accepted
  int64_t check_limit = 100000;                          // checks per project (403 beyond)
  int64_t history_limit = 100;                           // check-ins kept per watch
  std::string secret;  // server secret: signs badge URLs and acknowledgement links
  base::Duration ack_link_ttl = std::chrono::hours(24 * 7);  // how long an ack link works
};

struct ApiDeps {
  engine::Engine& engine;
  store::Store& store;
  KeyRing& keys;
  base::MetricsRegistry& metrics;
  const base::Clock& clock;
  std::function<bool()> ready;  // /readyz
  // Hands store mutations to the journal (history import); `done` runs once durable.
  std::function<void(std::vector<store::Mutation>&&, engine::Done)> submit;
  // Incidents, policies, channels, silences (/api/v1/…, /ack/…); null: those routes answer 404.
  incident::Desk* desk = nullptr;
};

// Every route the server answers, one per line: "METHOD /path/{param}" ("ANY" for the ping
// URLs, which take any method). Printed by `overdue routes`; the OpenAPI test checks
// docs/openapi.yaml against it.
const std::vector<std::string>& Routes();

class Api {
 public:
  Api(ApiDeps deps, ApiOptions options);
  ~Api();
  void Handle(http::Request&& request, http::Reply reply);
  // REQUIRES: called before the first Handle (the bound port is known only after Listen).
  void SetPublicUrl(std::string url);
  // The signed acknowledgement link of an incident (for the desk's messages).
  std::string AckUrl(int64_t incident_id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace overdue::api
