// IncidentsApi: overdue's /api/v1 endpoints for incidents, escalation policies, channels,
// silences and notifications, and the signed acknowledgement pages under /ack/ (the
// contract is docs/openapi.yaml). Thin: validates, calls the incident desk, formats; writes
// answer after their commit. Same conventions as the v3 API: JSON in and out, unknown fields
// refused, errors as {"error": "<field>: <rule>"}.
//
// Thread-safety: Handle and Ack are called concurrently from every I/O thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/key_ring.h"
#include "base/clock.h"
#include "http/server.h"
#include "incident/desk.h"
#include "store/store.h"

namespace overdue::api {

struct IncidentsApiOptions {
  std::string public_url;
  std::string secret;  // signs acknowledgement links
  base::Duration ack_link_ttl = std::chrono::hours(24 * 7);
};

class IncidentsApi {
 public:
  IncidentsApi(incident::Desk& desk, store::Store& store, const base::Clock& clock,
               IncidentsApiOptions options);
  ~IncidentsApi();

  // Whether `path` is one of this class's /api/v1 collections.
  static bool Owns(std::string_view path);
  // REQUIRES: Owns(path), and the caller authenticated the request (`body`: the parsed JSON
  // object of a write, {} for reads; `principal.read_only` keys may only read).
  void Handle(const http::Request& request, std::string_view path, const Principal& principal,
              nlohmann::json body, http::Reply reply);
  // GET /ack/<token>: the confirmation page; POST: acknowledges. No API key: the token is the
  // authority.
  void Ack(const http::Request& request, std::string_view token, http::Reply reply);

  // Backup (GET /api/v1/export, POST /api/v1/import): the project's channels (secrets included)
  // and policies, in the shape the API reads.
  nlohmann::json ExportChannels(int64_t project_id) const;
  nlohmann::json ExportPolicies(int64_t project_id) const;
  // Validates exported channels and policies for `project_id` (ids kept; a policy may use the
  // channels imported with it). Nothing is written: `Commit` then puts them, in order, and
  // waits until they are durable.
  struct ImportPlan {
    std::vector<model::Channel> channels;
    std::vector<model::Policy> policies;
  };
  base::Result<ImportPlan> PrepareImport(int64_t project_id, const nlohmann::json& channels,
                                         const nlohmann::json& policies) const;
  base::Status Commit(ImportPlan plan) const;

  // The signed link put in notifications of incident `id`.
  std::string AckUrl(int64_t id) const;
  // REQUIRES: before the first request (the bound port is known only after Listen).
  void SetPublicUrl(std::string url);

  static const std::vector<std::string>& Routes();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace overdue::api
