// Store: the durable truth behind overdue's in-memory index (DESIGN.md, Engine). One
// interface, two implementations: SQLite (embedded default, src/store/sqlite) and
// PostgreSQL (cluster mode, later). No SQL or driver types appear here.
//
// Threading: Apply() is called only by the journal's single writer thread. Read methods
// may be called from any thread concurrently with Apply(); implementations serialise or
// use separate connections as they need. Every method returns an error value instead of
// throwing; kUnavailable means the store could not be reached or written (disk full,
// fsync failed), and the caller decides whether to retry.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "base/time.h"
#include "base/uuid.h"
#include "model/check_in.h"
#include "model/flip.h"
#include "model/incident.h"
#include "model/watch.h"

namespace overdue::store {

using base::Result;
using base::Status;
using base::TimePoint;
using base::Uuid;

struct Project {
  int64_t id = 0;  // assigned by the caller (journal), unique per store
  Uuid uuid;
  std::string name;
  std::string ping_key;   // the <ping-key> of /ping/<ping-key>/<slug> URLs
  std::string badge_key;  // public part of the project's badge URLs (/badge/<badge_key>/...)
  TimePoint created{};
};

// An API key is never stored in clear: `hash` is a SHA-256 of the full key, `prefix` its
// first characters for listing ("hcw_ab12…").
struct ApiKey {
  int64_t project_id = 0;
  std::string prefix;
  std::string hash;
  bool read_only = false;
  std::string name;
  TimePoint created{};
};

// Mutations, applied in order inside one transaction by Apply().
struct UpsertProject {
  Project project;
};
struct InsertApiKey {
  ApiKey key;
};
struct DeleteApiKey {
  std::string hash;
};  // revocation
struct UpsertWatch {
  model::Watch watch;
};  // definition and runtime
struct UpdateRuntime {
  Uuid watch_id;
  model::WatchRuntime runtime;
};
struct DeleteWatch {
  Uuid watch_id;
};  // and its history and flips
struct InsertCheckIn {
  model::CheckIn check_in;
};
struct InsertFlip {
  model::Flip flip;
};
struct SetMeta {
  std::string key;
  std::string value;
};
// Incidents, escalation and notifications (schema v3).
struct UpsertChannel {
  model::Channel channel;
};
struct DeleteChannel {
  Uuid channel_id;
};
struct UpsertPolicy {
  model::Policy policy;
};
struct DeletePolicy {
  Uuid policy_id;
};
struct UpsertSilence {
  model::Silence silence;
};
struct DeleteSilence {
  Uuid silence_id;
};
struct UpsertIncident {
  model::Incident incident;
};  // insert, or replace every field of the incident with this id
struct AppendTimeline {
  model::TimelineEntry entry;
};
struct UpsertNotification {
  model::Notification notification;
};  // the outbox row: insert, or replace every field
// An attempt's outcome on an outbox row that exists: only its status, attempts,
// next_attempt_at, finished_at and last_error are written (the row's message context, often
// a kilobyte, and its incident index stay as they are).
struct UpdateNotificationState {
  model::Notification notification;
};
struct InsertAttempt {
  int64_t notification_id = 0;
  TimePoint at{};
  bool ok = false;
  std::string reason;  // notify::FailureReasonName, "" when ok
  int code = 0;
  std::string detail;
  base::Duration duration{0};
  TimePoint retry_at{};  // a failed attempt to be retried: when; else the epoch
};
// A late warning joins the incident its lapse opened: only the row's incident is written (the
// notifier may be recording an attempt on it meanwhile).
struct AttachNotification {
  int64_t notification_id = 0;
  int64_t incident_id = 0;
};
using Mutation =
    std::variant<UpsertProject, InsertApiKey, DeleteApiKey, UpsertWatch, UpdateRuntime, DeleteWatch,
                 InsertCheckIn, InsertFlip, SetMeta, UpsertChannel, DeleteChannel, UpsertPolicy,
                 DeletePolicy, UpsertSilence, DeleteSilence, UpsertIncident, AppendTimeline,
                 UpsertNotification, UpdateNotificationState, InsertAttempt, AttachNotification>;

struct IncidentFilter {
  int64_t project_id = 0;
  std::vector<model::IncidentState> states;  // empty: any
  std::optional<Uuid> watch_id;
  std::string cause;      // "" : any
  TimePoint since{};      // opened at or after
  int64_t before_id = 0;  // paging: ids below this (0: no bound)
  size_t limit = 100;
};

struct NotificationFilter {
  int64_t project_id = 0;
  std::vector<model::NotificationStatus> statuses;  // empty: any
  int64_t incident_id = 0;                          // 0: any
  size_t limit = 100;
};

struct Attempt {
  int64_t notification_id = 0;
  TimePoint at{};
  bool ok = false;
  std::string reason;
  int code = 0;
  std::string detail;
  base::Duration duration{0};
  TimePoint retry_at{};  // the epoch: not retried (delivered, failed for good, or schema < 5)
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies every mutation in one transaction: all or nothing. When it returns ok the
  // changes are as durable as the store's sync setting promises.
  virtual Status Apply(const std::vector<Mutation>& batch) = 0;

  // Start-up loading. LoadWatches streams every watch (definition and runtime).
  virtual Result<std::vector<Project>> LoadProjects() = 0;
  virtual Result<std::vector<ApiKey>> LoadApiKeys() = 0;
  virtual Status LoadWatches(const std::function<void(model::Watch&&)>& visit) = 0;

  // Reads for the API and the dashboard.
  virtual Result<std::optional<model::Watch>> GetWatch(const Uuid& id) = 0;
  virtual Result<int64_t> CountWatches(int64_t project_id) = 0;
  // Every watch of a project, ordered by creation time then id.
  virtual Result<std::vector<model::Watch>> ListWatches(int64_t project_id) = 0;
  // Newest first, at most `limit`. Bodies are included only when `with_bodies`.
  virtual Result<std::vector<model::CheckIn>> ListCheckIns(const Uuid& watch_id, size_t limit,
                                                           bool with_bodies) = 0;
  virtual Result<std::optional<model::CheckIn>> GetCheckIn(const Uuid& watch_id, int64_t n) = 0;
  // Oldest first, flips at or after `since`, at most `limit`.
  virtual Result<std::vector<model::Flip>> ListFlips(const Uuid& watch_id, TimePoint since,
                                                     size_t limit) = 0;

  // Deletes check-ins of `watch_id` numbered below `keep_from_n`. Returns rows removed.
  // Called by the background pruner in small transactions.
  virtual Result<int64_t> PruneCheckIns(const Uuid& watch_id, int64_t keep_from_n) = 0;

  // Pages in the write-ahead log after the last commit, for /metrics (a WAL that keeps
  // growing means checkpoints cannot finish); -1 where the store has none. Thread-safe.
  virtual int64_t WalPages() const { return -1; }

  // Small key/value facts about the server itself (e.g. "last_alive" for detecting
  // deadlines that passed while the process was down).
  // Written through the SetMeta mutation.
  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;

  // Incidents, escalation and notifications. Lists are ordered by creation (channels,
  // policies by name then id; silences by starts), newest incident first.
  virtual Result<std::vector<model::Channel>> LoadChannels() = 0;  // every project
  virtual Result<std::vector<model::Policy>> LoadPolicies() = 0;   // every project
  virtual Result<std::vector<model::Silence>> LoadSilences() = 0;  // every project
  // Incidents not resolved, every project (start-up: escalation timers are rebuilt).
  virtual Result<std::vector<model::Incident>> LoadActiveIncidents() = 0;
  // Notifications still pending, every project (start-up: the notifier resumes them).
  virtual Result<std::vector<model::Notification>> LoadPendingNotifications() = 0;
  virtual Result<std::optional<model::Incident>> GetIncident(int64_t id) = 0;
  virtual Result<std::vector<model::Incident>> ListIncidents(const IncidentFilter& filter) = 0;
  // Oldest first.
  virtual Result<std::vector<model::TimelineEntry>> ListTimeline(int64_t incident_id) = 0;
  virtual Result<std::vector<model::Notification>> ListNotifications(
      const NotificationFilter& filter) = 0;                                       // newest first
  virtual Result<std::vector<Attempt>> ListAttempts(int64_t notification_id) = 0;  // oldest first
  // The highest incident and notification ids ever used (0 when none): ids continue from here.
  virtual Result<std::pair<int64_t, int64_t>> MaxIncidentAndNotificationIds() = 0;
};

}  // namespace overdue::store
