#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "base/mutex.h"
#include "base/thread_name.h"
#include "store/sqlite/wal_vfs.h"

namespace overdue::store {
namespace {

using base::FromMicros;
using base::ToMicros;

// Schema migrations, applied in order inside one transaction each; PRAGMA user_version
// records how many were applied. Append, never edit: a released migration is history.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE projects (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  ping_key TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL
);
CREATE TABLE api_keys (
  hash TEXT PRIMARY KEY,
  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  prefix TEXT NOT NULL,
  read_only INTEGER NOT NULL,
  name TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE TABLE watches (
  id TEXT PRIMARY KEY,
  project_id INTEGER NOT NULL REFERENCES projects(id),
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  slug TEXT NOT NULL,
  tags TEXT NOT NULL,
  desc TEXT NOT NULL,
  schedule_kind TEXT NOT NULL,
  period_us INTEGER NOT NULL,
  cron TEXT NOT NULL,
  tz TEXT NOT NULL,
  once_at INTEGER NOT NULL,
  grace_us INTEGER NOT NULL,
  manual_resume INTEGER NOT NULL,
  post_only INTEGER NOT NULL,
  filter_http_body INTEGER NOT NULL,
  filter_default_fail INTEGER NOT NULL,
  start_kw TEXT NOT NULL,
  success_kw TEXT NOT NULL,
  failure_kw TEXT NOT NULL,
  created INTEGER NOT NULL,
  status TEXT NOT NULL,
  last_ping INTEGER NOT NULL,
  last_start INTEGER NOT NULL,
  last_start_rid TEXT,
  last_duration_us INTEGER,
  n_pings INTEGER NOT NULL,
  alert_after INTEGER NOT NULL
);
CREATE INDEX watches_by_project ON watches(project_id, created, id);
-- No foreign key to watches: a check-in row is history, written in the same batch as the
-- watch's runtime; DeleteWatch removes it explicitly.
CREATE TABLE check_ins (
  watch_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  at INTEGER NOT NULL,
  signal TEXT NOT NULL,
  exit_status INTEGER,
  rid TEXT,
  remote_addr TEXT NOT NULL,
  scheme TEXT NOT NULL,
  method TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  body BLOB NOT NULL,
  duration_us INTEGER,
  PRIMARY KEY (watch_id, n)
) WITHOUT ROWID;
CREATE TABLE flips (
  id INTEGER PRIMARY KEY,
  watch_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  old_status TEXT NOT NULL,
  new_status TEXT NOT NULL,
  reason TEXT NOT NULL,
  detected_late INTEGER NOT NULL,
  detected_at INTEGER NOT NULL
);
CREATE INDEX flips_by_watch ON flips(watch_id, at);
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
    // 2: the rest of healthchecks' check fields (issue 3) and badge keys.
    R"sql(
ALTER TABLE watches ADD COLUMN filter_subject INTEGER NOT NULL DEFAULT 0;
ALTER TABLE watches ADD COLUMN filter_body INTEGER NOT NULL DEFAULT 0;
ALTER TABLE watches ADD COLUMN badge_key TEXT NOT NULL DEFAULT '';
ALTER TABLE watches ADD COLUMN channels TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN badge_key TEXT NOT NULL DEFAULT '';
UPDATE watches SET badge_key = (SELECT (lower(substr(h,1,8)||'-'||substr(h,9,4)||'-4'||substr(h,14,3)||'-a'||substr(h,18,3)||'-'||substr(h,21,12))) FROM (SELECT hex(randomblob(16)) AS h));
UPDATE projects SET badge_key = (SELECT (lower(substr(h,1,8)||'-'||substr(h,9,4)||'-4'||substr(h,14,3)||'-a'||substr(h,18,3)||'-'||substr(h,21,12))) FROM (SELECT hex(randomblob(16)) AS h));
)sql",
    // 3: incidents, escalation and notifications. Lists of ids and escalation chains are JSON
    // text (see the codec below); times are microseconds since the epoch like every other
    // time column. No foreign keys: incidents, timelines, notifications and attempts are an
    // audit trail that outlives the watch and channel they name.
    R"sql(
ALTER TABLE watches ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
CREATE TABLE channels (
  id TEXT PRIMARY KEY,
  project_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  config TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE TABLE policies (
  id TEXT PRIMARY KEY,
  project_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  is_default INTEGER NOT NULL,
  watches TEXT NOT NULL,
  tags TEXT NOT NULL,
  chain TEXT NOT NULL,
  alert_after_failures INTEGER NOT NULL,
  late_channels TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE TABLE silences (
  id TEXT PRIMARY KEY,
  project_id INTEGER NOT NULL,
  watch_id TEXT,
  tag TEXT NOT NULL,
  starts INTEGER NOT NULL,
  ends INTEGER NOT NULL,
  reason TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX silences_by_watch ON silences(watch_id) WHERE watch_id IS NOT NULL;
CREATE TABLE incidents (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  watch_id TEXT NOT NULL,
  watch_name TEXT NOT NULL,
  cause TEXT NOT NULL,
  cause_detail TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  acked_at INTEGER NOT NULL,
  acked_by TEXT NOT NULL,
  resolved_at INTEGER NOT NULL,
  resolved_by TEXT NOT NULL,
  resolve_reason TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  chain TEXT NOT NULL,
  escalation_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  round INTEGER NOT NULL,
  next_at INTEGER NOT NULL,
  notified TEXT NOT NULL
);
CREATE INDEX incidents_by_project ON incidents(project_id, id DESC);
CREATE INDEX incidents_active ON incidents(id) WHERE state != 'resolved';
CREATE INDEX incidents_by_watch ON incidents(watch_id, id DESC);
CREATE TABLE timeline (
  id INTEGER PRIMARY KEY,
  incident_id INTEGER NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  message TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX timeline_by_incident ON timeline(incident_id, id);
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  incident_id INTEGER NOT NULL,
  project_id INTEGER NOT NULL,
  watch_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  event TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  context TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  created INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  last_error TEXT NOT NULL
);
CREATE INDEX notifications_pending ON notifications(id) WHERE status = 'pending';
CREATE INDEX notifications_by_incident ON notifications(incident_id, id);
CREATE INDEX notifications_by_project ON notifications(project_id, status, id);
CREATE TABLE attempts (
  id INTEGER PRIMARY KEY,
  notification_id INTEGER NOT NULL,
  at INTEGER NOT NULL,
  ok INTEGER NOT NULL,
  reason TEXT NOT NULL,
  code INTEGER NOT NULL,
  detail TEXT NOT NULL,
  duration_us INTEGER NOT NULL
);
CREATE INDEX attempts_by_notification ON attempts(notification_id, id);
)sql",
    // 4: a watch's runtime (status, last check-in, counters) moves to its own narrow table.
    // Every check-in and every state change rewrites it, and rewriting the whole definition
    // row each time was half the cost of opening an incident (BENCHMARKS.md, "Incident
    // storm"). Both tables are keyed by id WITHOUT ROWID, so loading every watch walks the
    // two in the same order instead of one random lookup per watch.
    R"sql(
CREATE TABLE watch_runtime (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  last_ping INTEGER NOT NULL,
  last_start INTEGER NOT NULL,
  last_start_rid TEXT,
  last_duration_us INTEGER,
  n_pings INTEGER NOT NULL,
  alert_after INTEGER NOT NULL,
  failures INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO watch_runtime (id, status, last_ping, last_start, last_start_rid, last_duration_us,
                           n_pings, alert_after, failures)
  SELECT id, status, last_ping, last_start, last_start_rid, last_duration_us, n_pings,
         alert_after, failures FROM watches;
CREATE TABLE watch_definitions (
  id TEXT PRIMARY KEY,
  project_id INTEGER NOT NULL REFERENCES projects(id),
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  slug TEXT NOT NULL,
  tags TEXT NOT NULL,
  desc TEXT NOT NULL,
  schedule_kind TEXT NOT NULL,
  period_us INTEGER NOT NULL,
  cron TEXT NOT NULL,
  tz TEXT NOT NULL,
  once_at INTEGER NOT NULL,
  grace_us INTEGER NOT NULL,
  manual_resume INTEGER NOT NULL,
  post_only INTEGER NOT NULL,
  filter_http_body INTEGER NOT NULL,
  filter_default_fail INTEGER NOT NULL,
  start_kw TEXT NOT NULL,
  success_kw TEXT NOT NULL,
  failure_kw TEXT NOT NULL,
  created INTEGER NOT NULL,
  filter_subject INTEGER NOT NULL,
  filter_body INTEGER NOT NULL,
  badge_key TEXT NOT NULL,
  channels TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO watch_definitions
  SELECT id, project_id, kind, name, slug, tags, desc, schedule_kind, period_us, cron, tz,
         once_at, grace_us, manual_resume, post_only, filter_http_body, filter_default_fail,
         start_kw, success_kw, failure_kw, created, filter_subject, filter_body, badge_key,
         channels FROM watches;
DROP TABLE watches;
ALTER TABLE watch_definitions RENAME TO watches;
CREATE INDEX watches_by_project ON watches(project_id, created, id);
)sql",
    // 5: an incident's "notification" and "attempt" timeline entries are no longer stored but
    // derived when the timeline is read (incident/timeline.h) from the outbox row and the
    // attempt row, which hold the same facts: two rows fewer for the journal to write per
    // notification (BENCHMARKS.md, "Derived timeline entries"). The outbox row now keeps the
    // channel's name and kind as they were, and the attempt row when it is retried. The
    // stored entries of older notifications give their channel's name and kind and are then
    // dropped; their failed attempts lose the "retry in" of their message.
    R"sql(
ALTER TABLE notifications ADD COLUMN channel_name TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN channel_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN retry_at INTEGER NOT NULL DEFAULT 0;
UPDATE notifications SET
  channel_name = COALESCE((SELECT json_extract(t.data, '$.channel_name') FROM timeline t
                           WHERE t.incident_id = notifications.incident_id
                             AND t.kind IN ('notification', 'held')
                             AND json_extract(t.data, '$.notification') = notifications.id), ''),
  channel_kind = COALESCE((SELECT json_extract(t.data, '$.kind') FROM timeline t
                           WHERE t.incident_id = notifications.incident_id
                             AND t.kind IN ('notification', 'held')
                             AND json_extract(t.data, '$.notification') = notifications.id), '')
  WHERE incident_id != 0;
DELETE FROM timeline WHERE kind = 'attempt'
  OR (kind = 'notification' AND json_extract(data, '$.notification') IS NOT NULL);
)sql",
    // 6: a notification's message context (about 1 KB of JSON, written once) moves to its own
    // table. Every delivery rewrites its outbox row's state; with the context in the row that
    // rewrote ~1.3 KB and a third of a page per delivery (BENCHMARKS.md, "Slices in key order,
    // narrow outbox rows").
    R"sql(
CREATE TABLE notification_contexts (
  id INTEGER PRIMARY KEY,
  context TEXT NOT NULL
);
INSERT INTO notification_contexts (id, context) SELECT id, context FROM notifications;
ALTER TABLE notifications DROP COLUMN context;
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// Waiting for a lock held by another process (a backup, an operator's sqlite3 shell).
constexpr int kBusyTimeoutMs = 5000;

// Copies the WAL back into the database file on its own thread and connection. SQLite's own
// automatic checkpoint runs inside the commit that crosses 1,000 WAL pages, on the writer
// thread: a write of those pages to the database file and an fsync, paid for by whichever
// check-ins were waiting on that commit (BENCHMARKS.md, "Background checkpoints"). Here the
// writer's WAL hook only signals this thread, which runs PASSIVE checkpoints: they never
// block the writer or a reader. Under sustained writes such a checkpoint never quite catches
// up (frames keep arriving while it copies), and SQLite rewinds the WAL only once every frame
// is copied, so when the WAL reaches `inline_pages` the writer checkpoints the few frames
// left itself; the next transaction then starts the WAL again from the beginning.
class Checkpointer {
 public:
  Checkpointer(sqlite3* db, int background_pages, int inline_pages)
      : db_(db), background_pages_(background_pages), inline_pages_(inline_pages) {}
  ~Checkpointer() { Stop(); }

  void Start() {
    thread_ = std::thread([this] {
      base::NameThisThread("od-checkpoint");
      Run();
    });
  }

  void Stop() {
    {
      base::MutexLock lock(&mu_);
      stopping_ = true;
      cv_.Signal();
    }
    if (thread_.joinable()) thread_.join();
  }

  // The writer's WAL hook: called after each of its commits, on the writer thread, with the
  // number of frames now in the WAL.
  static int Hook(void* self, sqlite3* writer, const char* /*db_name*/, int wal_pages) {
    static_cast<Checkpointer*>(self)->Committed(writer, wal_pages);
    return SQLITE_OK;
  }

  // The WAL's size in pages after the last commit (any thread).
  int wal_pages() const { return wal_pages_.load(std::memory_order_relaxed); }

 private:
  void Committed(sqlite3* writer, int wal_pages) {
    if (wal_pages < last_pages_) next_signal_ = background_pages_;  // the WAL was rewound
    last_pages_ = wal_pages;
    wal_pages_.store(wal_pages, std::memory_order_relaxed);
    if (wal_pages >= inline_pages_) {
      int log = 0, copied = 0;
      const int rc =
          sqlite3_wal_checkpoint_v2(writer, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        spdlog::warn("store: checkpoint on the writer failed: {}", sqlite3_errmsg(writer));
      }
      return;
    }
    if (wal_pages >= next_signal_) {
      next_signal_ = wal_pages + background_pages_;
      base::MutexLock lock(&mu_);
      wanted_ = true;
      cv_.Signal();
    }
  }

  void Run() {
    while (true) {
      {
        base::MutexLock lock(&mu_);
        while (!wanted_ && !stopping_) cv_.Wait(&mu_);
        if (stopping_) return;
        wanted_ = false;
      }
      int log = 0, copied = 0;
      const int rc =
          sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        spdlog::warn("store: background checkpoint failed: {}", sqlite3_errmsg(db_));
      }
    }
  }

  sqlite3* const db_;
  const int background_pages_;
  const int inline_pages_;
  // Writer thread only.
  int last_pages_ = 0;
  int next_signal_ = background_pages_;
  std::atomic<int> wal_pages_{0};
  base::Mutex mu_;
  base::CondVar cv_;
  bool wanted_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// A watch's definition (table watches) and its runtime (table watch_runtime), in the column
// order ReadWatch expects: the definition at 0-24, the runtime at kRuntimeFirst.
constexpr const char* kWatchDefinitionColumns =
    "id, project_id, kind, name, slug, tags, desc, schedule_kind, period_us, cron, tz, "
    "once_at, grace_us, manual_resume, post_only, filter_http_body, filter_default_fail, "
    "start_kw, success_kw, failure_kw, created, filter_subject, filter_body, badge_key, "
    "channels";
constexpr const char* kRuntimeColumns =
    "status, last_ping, last_start, last_start_rid, last_duration_us, n_pings, alert_after, "
    "failures";
constexpr int kRuntimeFirst = 25;

constexpr const char* kIncidentColumns =
    "id, project_id, watch_id, watch_name, cause, cause_detail, opened_at, state, acked_at, "
    "acked_by, resolved_at, resolved_by, resolve_reason, policy_name, chain, escalation_id, "
    "step, round, next_at, notified";

// The outbox row as written (UpsertNotification); the context goes to notification_contexts.
constexpr const char* kNotificationColumns =
    "id, incident_id, project_id, watch_id, channel_id, event, idempotency_key, status, "
    "attempts, created, next_attempt_at, finished_at, last_error, channel_name, channel_kind";
// ... and as read (ReadNotification), with the context at column 7.
constexpr const char* kNotificationSelect =
    "SELECT id, incident_id, project_id, watch_id, channel_id, event, idempotency_key, "
    "COALESCE((SELECT context FROM notification_contexts c WHERE c.id = notifications.id), ''), "
    "status, attempts, created, next_attempt_at, finished_at, last_error, channel_name, "
    "channel_kind FROM notifications";

// "INSERT INTO table (c1, ..., cn) VALUES (?1, ..., ?n) ON CONFLICT(c1) DO UPDATE SET
// c2=?2, ..., cn=?n": an upsert replacing every column, keyed by the first.
std::string UpsertSql(std::string_view table, std::string_view columns) {
  std::vector<std::string_view> names;
  for (size_t start = 0; start <= columns.size();) {
    size_t end = columns.find(',', start);
    if (end == std::string_view::npos) end = columns.size();
    std::string_view name = columns.substr(start, end - start);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    names.push_back(name);
    start = end + 1;
  }
  std::string values;
  std::string set;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string param(1, '?');
    param += std::to_string(i + 1);
    if (i > 0) values += ',';
    values += param;
    if (i > 1) set += ", ";
    if (i > 0) {
      set.append(names[i]);
      set += '=';
      set += param;
    }
  }
  return "INSERT INTO " + std::string(table) + " (" + std::string(columns) + ") VALUES (" + values +
         ") ON CONFLICT(" + std::string(names[0]) + ") DO UPDATE SET " + set;
}

// The JSON codec of the list and chain columns (schema 3). Durations are integer
// microseconds, like the *_us columns. Reading never throws: a malformed value (only a
// hand-edited database can have one) reads as empty or default.
using nlohmann::json;

std::string DumpJson(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json ParseJson(std::string_view text) { return json::parse(text, nullptr, false); }

int64_t IntMember(const json& object, const char* key, int64_t fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return fallback;
  return it->get<int64_t>();
}

json UuidsJson(const std::vector<base::Uuid>& ids) {
  json a = json::array();
  for (const base::Uuid& id : ids) a.push_back(id.ToString());
  return a;
}

std::vector<base::Uuid> UuidsFromJson(const json& a) {
  std::vector<base::Uuid> out;
  if (!a.is_array()) return out;
  for (const json& e : a) {
    if (!e.is_string()) continue;
    if (auto id = base::Uuid::Parse(e.get_ref<const std::string&>())) out.push_back(*id);
  }
  return out;
}

std::string StringsText(const std::vector<std::string>& list) {
  json a = json::array();
  for (const std::string& s : list) a.push_back(s);
  return DumpJson(a);
}

std::vector<std::string> StringsFrom(std::string_view text) {
  std::vector<std::string> out;
  const json a = ParseJson(text);
  if (!a.is_array()) return out;
  for (const json& e : a) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

std::string UuidsText(const std::vector<base::Uuid>& ids) { return DumpJson(UuidsJson(ids)); }
std::vector<base::Uuid> UuidsFrom(std::string_view text) { return UuidsFromJson(ParseJson(text)); }

std::string ChainText(const model::EscalationChain& chain) {
  json steps = json::array();
  for (const model::EscalationStep& step : chain.steps) {
    steps.push_back({{"channels", UuidsJson(step.channels)},
                     {"wait_us", static_cast<int64_t>(step.wait.count())}});
  }
  return DumpJson({{"steps", std::move(steps)},
                   {"repeat", chain.repeat},
                   {"remind_every_us", static_cast<int64_t>(chain.remind_every.count())},
                   {"ack_timeout_us", static_cast<int64_t>(chain.ack_timeout.count())}});
}

model::EscalationChain ChainFrom(std::string_view text) {
  model::EscalationChain chain;
  const json j = ParseJson(text);
  if (!j.is_object()) return chain;
  if (const auto steps = j.find("steps"); steps != j.end() && steps->is_array()) {
    for (const json& s : *steps) {
      model::EscalationStep step;
      if (s.is_object()) {
        if (const auto c = s.find("channels"); c != s.end()) step.channels = UuidsFromJson(*c);
      }
      step.wait = base::Duration(IntMember(s, "wait_us", step.wait.count()));
      chain.steps.push_back(std::move(step));
    }
  }
  chain.repeat = static_cast<int>(IntMember(j, "repeat", chain.repeat));
  chain.remind_every = base::Duration(IntMember(j, "remind_every_us", 0));
  chain.ack_timeout = base::Duration(IntMember(j, "ack_timeout_us", 0));
  return chain;
}

std::string_view ScheduleKindName(model::Schedule::Kind k) {
  switch (k) {
    case model::Schedule::Kind::kPeriod:
      return "period";
    case model::Schedule::Kind::kCron:
      return "cron";
    case model::Schedule::Kind::kOnce:
      return "once";
  }
  return "period";
}

model::Schedule::Kind ParseScheduleKind(std::string_view s) {
  if (s == "cron") return model::Schedule::Kind::kCron;
  if (s == "once") return model::Schedule::Kind::kOnce;
  return model::Schedule::Kind::kPeriod;
}

// A prepared statement, reset after each use.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  base::Status Prepare(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      return base::Internal(std::string("sqlite: prepare: ") + sqlite3_errmsg(db));
    }
    return {};
  }
  sqlite3_stmt* get() { return stmt_; }

  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  void Bind(int i, const std::optional<base::Uuid>& u) {
    if (u) {
      Bind(i, std::string_view(u->ToString()));
    } else {
      BindNull(i);
    }
  }

  int64_t Int(int c) { return sqlite3_column_int64(stmt_, c); }
  bool IsNull(int c) { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  std::string Text(int c) {
    const unsigned char* p = sqlite3_column_text(stmt_, c);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, c)))
             : std::string();
  }
  std::string Blob(int c) {
    const void* p = sqlite3_column_blob(stmt_, c);
    return p ? std::string(static_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, c)))
             : std::string();
  }
  std::optional<base::Uuid> OptUuid(int c) {
    if (IsNull(c)) return std::nullopt;
    return base::Uuid::Parse(Text(c));
  }

  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

base::Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = std::string("sqlite: ") + (err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return base::Unavailable(msg);
  }
  return {};
}

base::Status StepDone(sqlite3* db, Stmt& s) {
  const int rc = sqlite3_step(s.get());
  s.Reset();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    return base::Unavailable(std::string("sqlite: ") + sqlite3_errmsg(db));
  }
  return {};
}

// The runtime columns (kRuntimeColumns) starting at column `first`.
model::WatchRuntime ReadRuntime(Stmt& s, int first) {
  model::WatchRuntime rt;
  rt.status = model::ParseStatus(s.Text(first)).value_or(model::Status::kNew);
  rt.last_ping = FromMicros(s.Int(first + 1));
  rt.last_start = FromMicros(s.Int(first + 2));
  rt.last_start_rid = s.OptUuid(first + 3);
  if (!s.IsNull(first + 4)) rt.last_duration = base::Duration(s.Int(first + 4));
  rt.n_pings = s.Int(first + 5);
  rt.alert_after = FromMicros(s.Int(first + 6));
  rt.failures = static_cast<int32_t>(s.Int(first + 7));
  return rt;
}

// The definition columns (kWatchDefinitionColumns), and the runtime at kRuntimeFirst when
// the statement selects it too.
model::Watch ReadWatch(Stmt& s, bool with_runtime = true) {
  model::Watch w;
  w.spec.id = base::Uuid::Parse(s.Text(0)).value_or(base::Uuid{});
  w.spec.project_id = s.Int(1);
  w.spec.kind = model::ParseWatchKind(s.Text(2)).value_or(model::WatchKind::kJob);
  w.spec.name = s.Text(3);
  w.spec.slug = s.Text(4);
  w.spec.tags = s.Text(5);
  w.spec.desc = s.Text(6);
  w.spec.schedule.kind = ParseScheduleKind(s.Text(7));
  w.spec.schedule.period = base::Duration(s.Int(8));
  w.spec.schedule.cron = s.Text(9);
  w.spec.schedule.tz = s.Text(10);
  w.spec.schedule.once_at = FromMicros(s.Int(11));
  w.spec.schedule.grace = base::Duration(s.Int(12));
  w.spec.manual_resume = s.Int(13) != 0;
  w.spec.post_only = s.Int(14) != 0;
  w.spec.filter_http_body = s.Int(15) != 0;
  w.spec.filter_default_fail = s.Int(16) != 0;
  w.spec.start_kw = s.Text(17);
  w.spec.success_kw = s.Text(18);
  w.spec.failure_kw = s.Text(19);
  w.spec.created = FromMicros(s.Int(20));
  w.spec.filter_subject = s.Int(21) != 0;
  w.spec.filter_body = s.Int(22) != 0;
  w.spec.badge_key = base::Uuid::Parse(s.Text(23)).value_or(base::Uuid{});
  w.spec.channels = s.Text(24);
  if (with_runtime) w.runtime = ReadRuntime(s, kRuntimeFirst);
  return w;
}

model::Incident ReadIncident(Stmt& s) {
  model::Incident i;
  i.id = s.Int(0);
  i.project_id = s.Int(1);
  i.watch_id = base::Uuid::Parse(s.Text(2)).value_or(base::Uuid{});
  i.watch_name = s.Text(3);
  i.cause = s.Text(4);
  i.cause_detail = s.Text(5);
  i.opened_at = FromMicros(s.Int(6));
  i.state = model::ParseIncidentState(s.Text(7)).value_or(model::IncidentState::kOpen);
  i.acked_at = FromMicros(s.Int(8));
  i.acked_by = s.Text(9);
  i.resolved_at = FromMicros(s.Int(10));
  i.resolved_by = s.Text(11);
  i.resolve_reason = s.Text(12);
  i.policy_name = s.Text(13);
  i.chain = ChainFrom(s.Text(14));
  i.escalation_id = s.Int(15);
  i.step = static_cast<int>(s.Int(16));
  i.round = static_cast<int>(s.Int(17));
  i.next_at = FromMicros(s.Int(18));
  i.notified = UuidsFrom(s.Text(19));
  return i;
}

model::Notification ReadNotification(Stmt& s) {
  model::Notification n;
  n.id = s.Int(0);
  n.incident_id = s.Int(1);
  n.project_id = s.Int(2);
  n.watch_id = base::Uuid::Parse(s.Text(3)).value_or(base::Uuid{});
  n.channel_id = base::Uuid::Parse(s.Text(4)).value_or(base::Uuid{});
  n.event = s.Text(5);
  n.idempotency_key = s.Text(6);
  n.context = s.Text(7);
  n.status =
      model::ParseNotificationStatus(s.Text(8)).value_or(model::NotificationStatus::kPending);
  n.attempts = static_cast<int>(s.Int(9));
  n.created = FromMicros(s.Int(10));
  n.next_attempt_at = FromMicros(s.Int(11));
  n.finished_at = FromMicros(s.Int(12));
  n.last_error = s.Text(13);
  n.channel_name = s.Text(14);
  n.channel_kind = s.Text(15);
  return n;
}

// A LIMIT bound from a size_t count.
int64_t LimitOf(size_t limit) {
  return static_cast<int64_t>(
      std::min<uint64_t>(limit, static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));
}

// The distinct names of `wanted` (every name of `all` when empty), padded to all.size() by
// repeating the first: bound to a fixed `col IN (?a, ?b, ...)` so one prepared statement
// serves every combination.
template <typename Enum, size_t N>
std::array<std::string_view, N> InList(const std::vector<Enum>& wanted,
                                       const std::array<Enum, N>& all,
                                       std::string_view (*name)(Enum)) {
  std::array<std::string_view, N> out;
  size_t n = 0;
  for (Enum e : all) {
    bool in = wanted.empty();
    for (Enum w : wanted) in = in || w == e;
    if (in) out[n++] = name(e);
  }
  if (n == 0) out[n++] = name(wanted.front());  // a value outside `all`: matches nothing named
  for (size_t i = n; i < N; ++i) out[i] = out[0];
  return out;
}

constexpr std::array<model::IncidentState, 3> kIncidentStates = {
    model::IncidentState::kOpen, model::IncidentState::kAcknowledged,
    model::IncidentState::kResolved};
constexpr std::array<model::NotificationStatus, 4> kNotificationStatuses = {
    model::NotificationStatus::kPending, model::NotificationStatus::kDelivered,
    model::NotificationStatus::kFailed, model::NotificationStatus::kHeld};

model::CheckIn ReadCheckIn(Stmt& s, const base::Uuid& watch_id, bool with_body) {
  model::CheckIn ci;
  ci.watch_id = watch_id;
  ci.n = s.Int(0);
  ci.at = FromMicros(s.Int(1));
  ci.signal = model::ParseSignal(s.Text(2)).value_or(model::Signal::kSuccess);
  if (!s.IsNull(3)) ci.exit_status = static_cast<int>(s.Int(3));
  ci.rid = s.OptUuid(4);
  ci.remote_addr = s.Text(5);
  ci.scheme = s.Text(6);
  ci.method = s.Text(7);
  ci.user_agent = s.Text(8);
  if (!s.IsNull(9)) ci.duration = base::Duration(s.Int(9));
  if (with_body) {
    ci.body = s.Blob(10);
    ci.body_size = ci.body.size();
  }
  return ci;
}

class SqliteStore final : public Store {
 public:
  ~SqliteStore() override {
    // The checkpointer's connection first: the writer's close, the last, checkpoints what is
    // left and removes the WAL.
    if (writer_) sqlite3_wal_hook(writer_, nullptr, nullptr);
    checkpointer_.reset();
    sqlite3_close_v2(checkpoint_db_);
    // Statements before connections.
    writer_stmts_.reset();
    reader_stmts_.reset();
    sqlite3_close_v2(writer_);
    sqlite3_close_v2(reader_);
  }

  base::Status Open(const SqliteOptions& o) {
    // The writer gathers each commit's WAL frames into one write (wal_vfs.h says why only with
    // synchronous=FULL).
    const char* vfs = o.sync_full && o.gather_wal_writes ? WalCoalescingVfs() : nullptr;
    if (auto st = OpenConnection(o.path, &writer_, vfs); !st.ok()) return st;
    if (auto st =
            Exec(writer_, o.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        !st.ok()) {
      return st;
    }
    const std::string cache = "PRAGMA cache_size=-" + std::to_string(o.writer_cache_kib);
    if (auto st = Exec(writer_, cache.c_str()); !st.ok()) return st;
    if (auto st = Migrate(); !st.ok()) return st;
    if (auto st = OpenConnection(o.path, &reader_); !st.ok()) return st;
    if (auto st = OpenConnection(o.path, &checkpoint_db_); !st.ok()) return st;
    if (auto st = Exec(checkpoint_db_,
                       o.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        !st.ok()) {
      return st;
    }
    checkpointer_ = std::make_unique<Checkpointer>(checkpoint_db_, o.checkpoint_pages,
                                                   o.inline_checkpoint_pages);
    checkpointer_->Start();
    // Replaces SQLite's automatic checkpoint on the writer.
    sqlite3_wal_hook(writer_, &Checkpointer::Hook, checkpointer_.get());
    writer_stmts_ = std::make_unique<WriterStmts>();
    reader_stmts_ = std::make_unique<ReaderStmts>();
    return PrepareAll();
  }

  int64_t WalPages() const override { return checkpointer_ ? checkpointer_->wal_pages() : -1; }

  base::Status Apply(const std::vector<Mutation>& batch) override {
    WriterStmts& w = *writer_stmts_;
    if (auto st = StepDone(writer_, w.begin); !st.ok()) return st;
    for (const Mutation& m : batch) {
      base::Status st = std::visit([&](const auto& mut) { return Write(mut); }, m);
      if (!st.ok()) {
        (void)StepDone(writer_, w.rollback);
        return st;
      }
    }
    if (auto st = StepDone(writer_, w.commit); !st.ok()) {
      (void)StepDone(writer_, w.rollback);
      return st;
    }
    return {};
  }

  Result<std::vector<Project>> LoadProjects() override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->projects;
    std::vector<Project> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      Project p;
      p.id = s.Int(0);
      p.uuid = base::Uuid::Parse(s.Text(1)).value_or(base::Uuid{});
      p.name = s.Text(2);
      p.ping_key = s.Text(3);
      p.created = FromMicros(s.Int(4));
      p.badge_key = s.Text(5);
      out.push_back(std::move(p));
    }
    return Finish(s, rc, std::move(out));
  }

  Result<int64_t> CountWatches(int64_t project_id) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->count_watches;
    s.Bind(1, project_id);
    int64_t n = 0;
    const int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) n = s.Int(0);
    s.Reset();
    if (rc != SQLITE_ROW)
      return base::Unavailable(std::string("sqlite: ") + sqlite3_errmsg(reader_));
    return n;
  }

  Result<std::vector<ApiKey>> LoadApiKeys() override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->api_keys;
    std::vector<ApiKey> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      ApiKey k;
      k.hash = s.Text(0);
      k.project_id = s.Int(1);
      k.prefix = s.Text(2);
      k.read_only = s.Int(3) != 0;
      k.name = s.Text(4);
      k.created = FromMicros(s.Int(5));
      out.push_back(std::move(k));
    }
    return Finish(s, rc, std::move(out));
  }

  // A merge of two scans in id order (both tables are WITHOUT ROWID, keyed by id): a join
  // would look up every runtime row in the tree, which costs about as much again as both
  // scans. A definition without a runtime row (never written by this store) loads as new.
  Status LoadWatches(const std::function<void(model::Watch&&)>& visit) override {
    base::MutexLock lock(&read_mu_);
    Stmt& defs = reader_stmts_->all_watch_definitions;
    Stmt& rts = reader_stmts_->all_runtimes;
    auto id_of = [](Stmt& s) {
      const unsigned char* p = sqlite3_column_text(s.get(), 0);
      return p ? std::string_view(reinterpret_cast<const char*>(p),
                                  static_cast<size_t>(sqlite3_column_bytes(s.get(), 0)))
               : std::string_view();
    };
    // One read transaction, so both scans see the same snapshot.
    if (auto st = Exec(reader_, "BEGIN"); !st.ok()) return st;
    int rc_rt = sqlite3_step(rts.get());
    int rc;
    while ((rc = sqlite3_step(defs.get())) == SQLITE_ROW) {
      model::Watch w = ReadWatch(defs, /*with_runtime=*/false);
      const std::string_view id = id_of(defs);
      while (rc_rt == SQLITE_ROW && id_of(rts) < id) rc_rt = sqlite3_step(rts.get());
      if (rc_rt == SQLITE_ROW && id_of(rts) == id) w.runtime = ReadRuntime(rts, 1);
      visit(std::move(w));
    }
    if (rc_rt != SQLITE_ROW && rc_rt != SQLITE_DONE) rc = rc_rt;
    sqlite3_reset(rts.get());
    auto r = Finish(defs, rc, true);
    (void)Exec(reader_, "COMMIT");
    if (!r.ok()) return r.error();
    return {};
  }

  Result<std::optional<model::Watch>> GetWatch(const Uuid& id) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->get_watch;
    s.Bind(1, std::string_view(id.ToString()));
    std::optional<model::Watch> out;
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) {
      out = ReadWatch(s);
      rc = SQLITE_DONE;
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::Watch>> ListWatches(int64_t project_id) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->project_watches;
    s.Bind(1, project_id);
    std::vector<model::Watch> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadWatch(s));
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::CheckIn>> ListCheckIns(const Uuid& watch_id, size_t limit,
                                                   bool with_bodies) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->list_check_ins;
    s.Bind(1, std::string_view(watch_id.ToString()));
    s.Bind(2, static_cast<int64_t>(limit));
    std::vector<model::CheckIn> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      model::CheckIn ci = ReadCheckIn(s, watch_id, with_bodies);
      ci.body_size = static_cast<size_t>(s.Int(11));
      out.push_back(std::move(ci));
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::optional<model::CheckIn>> GetCheckIn(const Uuid& watch_id, int64_t n) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->get_check_in;
    s.Bind(1, std::string_view(watch_id.ToString()));
    s.Bind(2, n);
    std::optional<model::CheckIn> out;
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) {
      out = ReadCheckIn(s, watch_id, true);
      rc = SQLITE_DONE;
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::Flip>> ListFlips(const Uuid& watch_id, TimePoint since,
                                             size_t limit) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->list_flips;
    s.Bind(1, std::string_view(watch_id.ToString()));
    s.Bind(2, ToMicros(since));
    s.Bind(3, static_cast<int64_t>(limit));
    std::vector<model::Flip> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      model::Flip f;
      f.watch_id = watch_id;
      f.at = FromMicros(s.Int(0));
      f.old_status = model::ParseStatus(s.Text(1)).value_or(model::Status::kNew);
      f.new_status = model::ParseStatus(s.Text(2)).value_or(model::Status::kNew);
      f.reason = s.Text(3);
      f.detected_late = s.Int(4) != 0;
      f.detected_at = FromMicros(s.Int(5));
      out.push_back(std::move(f));
    }
    return Finish(s, rc, std::move(out));
  }

  Result<int64_t> PruneCheckIns(const Uuid& watch_id, int64_t keep_from_n) override {
    Stmt& s = writer_stmts_->prune;
    s.Bind(1, std::string_view(watch_id.ToString()));
    s.Bind(2, keep_from_n);
    if (auto st = StepDone(writer_, s); !st.ok()) return st.error();
    return static_cast<int64_t>(sqlite3_changes(writer_));
  }

  Result<std::optional<std::string>> GetMeta(const std::string& key) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->get_meta;
    s.Bind(1, std::string_view(key));
    std::optional<std::string> out;
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) {
      out = s.Text(0);
      rc = SQLITE_DONE;
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::Channel>> LoadChannels() override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->channels;
    std::vector<model::Channel> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      model::Channel c;
      c.id = base::Uuid::Parse(s.Text(0)).value_or(base::Uuid{});
      c.project_id = s.Int(1);
      c.kind = s.Text(2);
      c.name = s.Text(3);
      c.config = s.Text(4);
      c.created = FromMicros(s.Int(5));
      out.push_back(std::move(c));
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::Policy>> LoadPolicies() override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->policies;
    std::vector<model::Policy> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      model::Policy p;
      p.id = base::Uuid::Parse(s.Text(0)).value_or(base::Uuid{});
      p.project_id = s.Int(1);
      p.name = s.Text(2);
      p.is_default = s.Int(3) != 0;
      p.watches = UuidsFrom(s.Text(4));
      p.tags = StringsFrom(s.Text(5));
      p.chain = ChainFrom(s.Text(6));
      p.alert_after_failures = static_cast<int>(s.Int(7));
      p.late_channels = UuidsFrom(s.Text(8));
      p.created = FromMicros(s.Int(9));
      out.push_back(std::move(p));
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::Silence>> LoadSilences() override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->silences;
    std::vector<model::Silence> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      model::Silence x;
      x.id = base::Uuid::Parse(s.Text(0)).value_or(base::Uuid{});
      x.project_id = s.Int(1);
      x.watch_id = s.OptUuid(2);
      x.tag = s.Text(3);
      x.starts = FromMicros(s.Int(4));
      x.ends = FromMicros(s.Int(5));
      x.reason = s.Text(6);
      x.created_by = s.Text(7);
      x.created = FromMicros(s.Int(8));
      out.push_back(std::move(x));
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::Incident>> LoadActiveIncidents() override {
    base::MutexLock lock(&read_mu_);
    return ReadIncidents(reader_stmts_->active_incidents);
  }

  Result<std::vector<model::Notification>> LoadPendingNotifications() override {
    base::MutexLock lock(&read_mu_);
    return ReadNotifications(reader_stmts_->pending_notifications);
  }

  Result<std::optional<model::Incident>> GetIncident(int64_t id) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->get_incident;
    s.Bind(1, id);
    std::optional<model::Incident> out;
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) {
      out = ReadIncident(s);
      rc = SQLITE_DONE;
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::Incident>> ListIncidents(const IncidentFilter& f) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = f.watch_id ? reader_stmts_->list_incidents_by_watch : reader_stmts_->list_incidents;
    s.Bind(1, f.project_id);
    s.Bind(2, f.before_id > 0 ? f.before_id : std::numeric_limits<int64_t>::max());
    const auto states = InList(f.states, kIncidentStates, &model::IncidentStateName);
    for (size_t i = 0; i < states.size(); ++i) s.Bind(3 + static_cast<int>(i), states[i]);
    s.Bind(6, std::string_view(f.cause));
    s.Bind(7, ToMicros(f.since));
    s.Bind(8, LimitOf(f.limit));
    if (f.watch_id) s.Bind(9, std::string_view(f.watch_id->ToString()));
    return ReadIncidents(s);
  }

  Result<std::vector<model::TimelineEntry>> ListTimeline(int64_t incident_id) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->list_timeline;
    s.Bind(1, incident_id);
    std::vector<model::TimelineEntry> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      model::TimelineEntry e;
      e.incident_id = s.Int(0);
      e.at = FromMicros(s.Int(1));
      e.kind = s.Text(2);
      e.actor = s.Text(3);
      e.message = s.Text(4);
      e.data = s.Text(5);
      out.push_back(std::move(e));
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::vector<model::Notification>> ListNotifications(const NotificationFilter& f) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = f.incident_id != 0 ? reader_stmts_->list_notifications_by_incident
                                 : reader_stmts_->list_notifications;
    s.Bind(1, f.project_id);
    const auto statuses = InList(f.statuses, kNotificationStatuses, &model::NotificationStatusName);
    for (size_t i = 0; i < statuses.size(); ++i) s.Bind(2 + static_cast<int>(i), statuses[i]);
    s.Bind(6, LimitOf(f.limit));
    if (f.incident_id != 0) s.Bind(7, f.incident_id);
    return ReadNotifications(s);
  }

  Result<std::vector<Attempt>> ListAttempts(int64_t notification_id) override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->list_attempts;
    s.Bind(1, notification_id);
    std::vector<Attempt> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      Attempt a;
      a.notification_id = s.Int(0);
      a.at = FromMicros(s.Int(1));
      a.ok = s.Int(2) != 0;
      a.reason = s.Text(3);
      a.code = static_cast<int>(s.Int(4));
      a.detail = s.Text(5);
      a.duration = base::Duration(s.Int(6));
      a.retry_at = FromMicros(s.Int(7));
      out.push_back(std::move(a));
    }
    return Finish(s, rc, std::move(out));
  }

  Result<std::pair<int64_t, int64_t>> MaxIncidentAndNotificationIds() override {
    base::MutexLock lock(&read_mu_);
    Stmt& s = reader_stmts_->max_ids;
    std::pair<int64_t, int64_t> out{0, 0};
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) {
      out = {s.Int(0), s.Int(1)};
      rc = SQLITE_DONE;
    }
    return Finish(s, rc, out);
  }

 private:
  struct WriterStmts {
    Stmt begin, commit, rollback;
    Stmt upsert_project, insert_api_key, delete_api_key, upsert_watch, upsert_runtime;
    Stmt update_runtime, delete_watch, delete_watch_runtime, delete_watch_check_ins;
    Stmt delete_watch_flips;
    Stmt insert_check_in, insert_flip, set_meta, prune;
    Stmt delete_watch_silences;
    Stmt upsert_channel, delete_channel, upsert_policy, delete_policy;
    Stmt upsert_silence, delete_silence, upsert_incident, append_timeline;
    Stmt upsert_notification, upsert_notification_context, update_notification_state,
        attach_notification, insert_attempt;
    // The text of the chain written last: in a storm every incident copies the same chain
    // (of its policy, or the implicit one), and comparing is cheaper than writing JSON.
    model::EscalationChain last_chain;
    std::string last_chain_text = ChainText(last_chain);
  };
  struct ReaderStmts {
    Stmt projects, api_keys, all_watch_definitions, all_runtimes, get_watch, project_watches;
    Stmt count_watches;
    Stmt list_check_ins, get_check_in, list_flips, get_meta;
    Stmt channels, policies, silences, active_incidents, pending_notifications;
    Stmt get_incident, list_incidents, list_incidents_by_watch, list_timeline;
    Stmt list_notifications, list_notifications_by_incident, list_attempts, max_ids;
  };

  // REQUIRES: read_mu_ held; `s` bound. Every row, as incidents.
  Result<std::vector<model::Incident>> ReadIncidents(Stmt& s) {
    std::vector<model::Incident> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadIncident(s));
    return Finish(s, rc, std::move(out));
  }
  Result<std::vector<model::Notification>> ReadNotifications(Stmt& s) {
    std::vector<model::Notification> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadNotification(s));
    return Finish(s, rc, std::move(out));
  }

  static base::Status OpenConnection(const std::string& path, sqlite3** db,
                                     const char* vfs = nullptr) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), db, flags, vfs) != SQLITE_OK) {
      return base::Unavailable("sqlite: open " + path + ": " +
                               (*db ? sqlite3_errmsg(*db) : "out of memory"));
    }
    sqlite3_busy_timeout(*db, kBusyTimeoutMs);
    sqlite3_extended_result_codes(*db, 1);
    if (auto st = Exec(*db, "PRAGMA journal_mode=WAL"); !st.ok()) return st;
    return Exec(*db, "PRAGMA foreign_keys=ON");
  }

  base::Status Migrate() {
    int version = 0;
    {
      Stmt s;
      if (auto st = s.Prepare(writer_, "PRAGMA user_version"); !st.ok()) return st;
      if (sqlite3_step(s.get()) == SQLITE_ROW) version = static_cast<int>(s.Int(0));
    }
    if (version > kSchemaVersion) {
      return base::Unavailable("the database has schema version " + std::to_string(version) +
                               ", written by a newer overdue (this one knows up to " +
                               std::to_string(kSchemaVersion) + "); refusing to open it");
    }
    if (version == kSchemaVersion) return {};
    const auto start = std::chrono::steady_clock::now();
    if (version > 0) {
      spdlog::info("store: upgrading the database schema from version {} to {} (once)", version,
                   kSchemaVersion);
    }
    for (int v = version; v < kSchemaVersion; ++v) {
      if (auto st = Exec(writer_, "BEGIN IMMEDIATE"); !st.ok()) return st;
      auto st = Exec(writer_, kMigrations[v]);
      if (st.ok()) st = Exec(writer_, ("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
      if (st.ok()) st = Exec(writer_, "COMMIT");
      if (!st.ok()) {
        (void)Exec(writer_, "ROLLBACK");
        return base::Unavailable("migration " + std::to_string(v + 1) + ": " + st.error().message);
      }
    }
    if (version > 0) {
      spdlog::info("store: database schema upgraded to version {} in {} ms", kSchemaVersion,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count());
    }
    return {};
  }

  base::Status PrepareAll() {
    WriterStmts& w = *writer_stmts_;
    ReaderStmts& r = *reader_stmts_;
    // The definition's parameters keep the numbers of kWatchColumns (1-21, 29-32); the
    // runtime's are those of update_runtime.
    const std::string upsert_watch =
        "INSERT INTO watches (id, project_id, kind, name, slug, tags, desc, schedule_kind, "
        "period_us, cron, tz, once_at, grace_us, manual_resume, post_only, filter_http_body, "
        "filter_default_fail, start_kw, success_kw, failure_kw, created, filter_subject, "
        "filter_body, badge_key, channels) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,"
        "?14,?15,?16,?17,?18,?19,?20,?21,?29,?30,?31,?32) ON CONFLICT(id) DO UPDATE SET "
        "project_id=?2, kind=?3, name=?4, slug=?5, tags=?6, desc=?7, schedule_kind=?8, "
        "period_us=?9, cron=?10, tz=?11, once_at=?12, grace_us=?13, manual_resume=?14, "
        "post_only=?15, filter_http_body=?16, filter_default_fail=?17, start_kw=?18, "
        "success_kw=?19, failure_kw=?20, created=?21, filter_subject=?29, filter_body=?30, "
        "badge_key=?31, channels=?32";
    const std::string select_watches = std::string("SELECT ") + kWatchDefinitionColumns + ", " +
                                       kRuntimeColumns +
                                       " FROM watches JOIN watch_runtime USING (id)";
    struct Def {
      Stmt* stmt;
      std::string sql;
    };
    const Def writer_defs[] = {
        {&w.begin, "BEGIN IMMEDIATE"},
        {&w.commit, "COMMIT"},
        {&w.rollback, "ROLLBACK"},
        {&w.upsert_project,
         "INSERT INTO projects (id, uuid, name, ping_key, created, badge_key) "
         "VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT(id) DO UPDATE SET uuid=?2, name=?3, "
         "ping_key=?4, created=?5, badge_key=?6"},
        {&w.delete_api_key, "DELETE FROM api_keys WHERE hash=?1"},
        {&w.insert_api_key,
         "INSERT INTO api_keys (hash, project_id, prefix, read_only, name, created) "
         "VALUES (?1,?2,?3,?4,?5,?6)"},
        {&w.upsert_watch, upsert_watch},
        {&w.upsert_runtime,
         "INSERT INTO watch_runtime (id, status, last_ping, last_start, last_start_rid, "
         "last_duration_us, n_pings, alert_after, failures) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9) "
         "ON CONFLICT(id) DO UPDATE SET status=?2, last_ping=?3, last_start=?4, "
         "last_start_rid=?5, last_duration_us=?6, n_pings=?7, alert_after=?8, failures=?9"},
        {&w.update_runtime,
         "UPDATE watch_runtime SET status=?2, last_ping=?3, last_start=?4, last_start_rid=?5, "
         "last_duration_us=?6, n_pings=?7, alert_after=?8, failures=?9 WHERE id=?1"},
        {&w.delete_watch, "DELETE FROM watches WHERE id=?1"},
        {&w.delete_watch_runtime, "DELETE FROM watch_runtime WHERE id=?1"},
        {&w.delete_watch_check_ins, "DELETE FROM check_ins WHERE watch_id=?1"},
        {&w.delete_watch_flips, "DELETE FROM flips WHERE watch_id=?1"},
        // OR IGNORE: a check-in number is assigned once in memory; the same (watch, n)
        // arriving twice can only be the retry of a batch whose commit outcome was unknown,
        // and the first copy is the same check-in.
        {&w.insert_check_in,
         "INSERT OR IGNORE INTO check_ins (watch_id, n, at, signal, exit_status, rid, "
         "remote_addr, scheme, method, user_agent, body, duration_us) "
         "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"},
        {&w.insert_flip,
         "INSERT INTO flips (watch_id, at, old_status, new_status, reason, detected_late, "
         "detected_at) VALUES (?1,?2,?3,?4,?5,?6,?7)"},
        {&w.set_meta,
         "INSERT INTO meta (key, value) VALUES (?1,?2) ON CONFLICT(key) DO UPDATE SET value=?2"},
        {&w.prune, "DELETE FROM check_ins WHERE watch_id=?1 AND n<?2"},
        {&w.delete_watch_silences, "DELETE FROM silences WHERE watch_id=?1"},
        {&w.upsert_channel, UpsertSql("channels", "id, project_id, kind, name, config, created")},
        {&w.delete_channel, "DELETE FROM channels WHERE id=?1"},
        {&w.upsert_policy, UpsertSql("policies",
                                     "id, project_id, name, is_default, watches, tags, chain, "
                                     "alert_after_failures, late_channels, created")},
        {&w.delete_policy, "DELETE FROM policies WHERE id=?1"},
        {&w.upsert_silence,
         UpsertSql("silences",
                   "id, project_id, watch_id, tag, starts, ends, reason, created_by, created")},
        {&w.delete_silence, "DELETE FROM silences WHERE id=?1"},
        {&w.upsert_incident, UpsertSql("incidents", kIncidentColumns)},
        {&w.append_timeline,
         "INSERT INTO timeline (incident_id, at, kind, actor, message, data) "
         "VALUES (?1,?2,?3,?4,?5,?6)"},
        {&w.upsert_notification, UpsertSql("notifications", kNotificationColumns)},
        {&w.upsert_notification_context, UpsertSql("notification_contexts", "id, context")},
        {&w.update_notification_state,
         "UPDATE notifications SET status=?2, attempts=?3, next_attempt_at=?4, finished_at=?5, "
         "last_error=?6 WHERE id=?1"},
        {&w.attach_notification, "UPDATE notifications SET incident_id=?2 WHERE id=?1"},
        {&w.insert_attempt,
         "INSERT INTO attempts (notification_id, at, ok, reason, code, detail, duration_us, "
         "retry_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"},
    };
    const std::string select_incidents =
        std::string("SELECT ") + kIncidentColumns + " FROM incidents";
    const std::string select_notifications = kNotificationSelect;
    // ?1 project, ?2 ids below, ?3..?5 states, ?6 cause ("": any), ?7 opened at or after,
    // ?8 limit, ?9 watch (the _by_watch form). There the unary + keeps the planner on the
    // watch index, which narrows further than the project's.
    const std::string list_incidents =
        select_incidents +
        " WHERE project_id=?1 AND id<?2 AND state IN (?3,?4,?5) AND (?6='' OR cause=?6) AND "
        "opened_at>=?7 ORDER BY id DESC LIMIT ?8";
    const std::string list_incidents_by_watch =
        select_incidents +
        " WHERE watch_id=?9 AND +project_id=?1 AND id<?2 AND +state IN (?3,?4,?5) AND "
        "(?6='' OR cause=?6) AND opened_at>=?7 ORDER BY id DESC LIMIT ?8";
    // ?1 project, ?2..?5 statuses, ?6 limit, ?7 incident (the _by_incident form).
    const std::string list_notifications =
        select_notifications +
        " WHERE project_id=?1 AND status IN (?2,?3,?4,?5) ORDER BY id DESC LIMIT ?6";
    const std::string list_notifications_by_incident =
        select_notifications +
        " WHERE incident_id=?7 AND +project_id=?1 AND +status IN (?2,?3,?4,?5) "
        "ORDER BY id DESC LIMIT ?6";
    const Def reader_defs[] = {
        {&r.projects,
         "SELECT id, uuid, name, ping_key, created, badge_key FROM projects ORDER BY id"},
        {&r.api_keys, "SELECT hash, project_id, prefix, read_only, name, created FROM api_keys"},
        {&r.all_watch_definitions,
         std::string("SELECT ") + kWatchDefinitionColumns + " FROM watches ORDER BY id"},
        {&r.all_runtimes,
         std::string("SELECT id, ") + kRuntimeColumns + " FROM watch_runtime ORDER BY id"},
        {&r.get_watch, select_watches + " WHERE id=?1"},
        {&r.project_watches, select_watches + " WHERE project_id=?1 ORDER BY created, id"},
        {&r.count_watches, "SELECT COUNT(*) FROM watches WHERE project_id=?1"},
        {&r.list_check_ins,
         "SELECT n, at, signal, exit_status, rid, remote_addr, scheme, method, user_agent, "
         "duration_us, body, length(body) FROM check_ins WHERE watch_id=?1 ORDER BY n DESC "
         "LIMIT ?2"},
        {&r.get_check_in,
         "SELECT n, at, signal, exit_status, rid, remote_addr, scheme, method, user_agent, "
         "duration_us, body FROM check_ins WHERE watch_id=?1 AND n=?2"},
        {&r.list_flips,
         "SELECT at, old_status, new_status, reason, detected_late, detected_at FROM flips "
         "WHERE watch_id=?1 AND at>=?2 ORDER BY at, id LIMIT ?3"},
        {&r.get_meta, "SELECT value FROM meta WHERE key=?1"},
        {&r.channels,
         "SELECT id, project_id, kind, name, config, created FROM channels ORDER BY name, id"},
        {&r.policies,
         "SELECT id, project_id, name, is_default, watches, tags, chain, alert_after_failures, "
         "late_channels, created FROM policies ORDER BY name, id"},
        {&r.silences,
         "SELECT id, project_id, watch_id, tag, starts, ends, reason, created_by, created "
         "FROM silences ORDER BY starts, id"},
        // The same term as the partial index's WHERE, so the planner can use it.
        {&r.active_incidents, select_incidents + " WHERE state != 'resolved' ORDER BY id"},
        {&r.pending_notifications, select_notifications + " WHERE status = 'pending' ORDER BY id"},
        {&r.get_incident, select_incidents + " WHERE id=?1"},
        {&r.list_incidents, list_incidents},
        {&r.list_incidents_by_watch, list_incidents_by_watch},
        {&r.list_timeline,
         // By time, then as recorded: a check-in's entry carries the check-in's own time,
         // which can be a little before the entries the same commit added at detection time.
         "SELECT incident_id, at, kind, actor, message, data FROM timeline WHERE incident_id=?1 "
         "ORDER BY at, id"},
        {&r.list_notifications, list_notifications},
        {&r.list_notifications_by_incident, list_notifications_by_incident},
        {&r.list_attempts,
         "SELECT notification_id, at, ok, reason, code, detail, duration_us, retry_at "
         "FROM attempts WHERE notification_id=?1 ORDER BY id"},
        {&r.max_ids,
         "SELECT (SELECT COALESCE(MAX(id), 0) FROM incidents), "
         "(SELECT COALESCE(MAX(id), 0) FROM notifications)"},
    };
    for (const Def& d : writer_defs) {
      if (auto st = d.stmt->Prepare(writer_, d.sql.c_str()); !st.ok()) return st;
    }
    for (const Def& d : reader_defs) {
      if (auto st = d.stmt->Prepare(reader_, d.sql.c_str()); !st.ok()) return st;
    }
    return {};
  }

  template <typename T>
  Result<T> Finish(Stmt& s, int rc, T value) {
    s.Reset();
    if (rc != SQLITE_DONE) {
      return base::Unavailable(std::string("sqlite: ") + sqlite3_errmsg(reader_));
    }
    return value;
  }

  Status Write(const UpsertProject& m) {
    Stmt& s = writer_stmts_->upsert_project;
    s.Bind(1, m.project.id);
    s.Bind(2, std::string_view(m.project.uuid.ToString()));
    s.Bind(3, std::string_view(m.project.name));
    s.Bind(4, std::string_view(m.project.ping_key));
    s.Bind(5, ToMicros(m.project.created));
    s.Bind(6, std::string_view(m.project.badge_key));
    return StepDone(writer_, s);
  }
  Status Write(const DeleteApiKey& m) {
    Stmt& s = writer_stmts_->delete_api_key;
    s.Bind(1, std::string_view(m.hash));
    return StepDone(writer_, s);
  }
  Status Write(const InsertApiKey& m) {
    Stmt& s = writer_stmts_->insert_api_key;
    s.Bind(1, std::string_view(m.key.hash));
    s.Bind(2, m.key.project_id);
    s.Bind(3, std::string_view(m.key.prefix));
    s.Bind(4, int64_t{m.key.read_only});
    s.Bind(5, std::string_view(m.key.name));
    s.Bind(6, ToMicros(m.key.created));
    return StepDone(writer_, s);
  }
  Status Write(const UpsertWatch& m) {
    Stmt& s = writer_stmts_->upsert_watch;
    const model::WatchSpec& w = m.watch.spec;
    const model::WatchRuntime& rt = m.watch.runtime;
    s.Bind(1, std::string_view(w.id.ToString()));
    s.Bind(2, w.project_id);
    s.Bind(3, model::WatchKindName(w.kind));
    s.Bind(4, std::string_view(w.name));
    s.Bind(5, std::string_view(w.slug));
    s.Bind(6, std::string_view(w.tags));
    s.Bind(7, std::string_view(w.desc));
    s.Bind(8, ScheduleKindName(w.schedule.kind));
    s.Bind(9, static_cast<int64_t>(w.schedule.period.count()));
    s.Bind(10, std::string_view(w.schedule.cron));
    s.Bind(11, std::string_view(w.schedule.tz));
    s.Bind(12, ToMicros(w.schedule.once_at));
    s.Bind(13, static_cast<int64_t>(w.schedule.grace.count()));
    s.Bind(14, int64_t{w.manual_resume});
    s.Bind(15, int64_t{w.post_only});
    s.Bind(16, int64_t{w.filter_http_body});
    s.Bind(17, int64_t{w.filter_default_fail});
    s.Bind(18, std::string_view(w.start_kw));
    s.Bind(19, std::string_view(w.success_kw));
    s.Bind(20, std::string_view(w.failure_kw));
    s.Bind(21, ToMicros(w.created));
    s.Bind(29, int64_t{w.filter_subject});
    s.Bind(30, int64_t{w.filter_body});
    s.Bind(31, std::string_view(w.badge_key.ToString()));
    s.Bind(32, std::string_view(w.channels));
    if (auto st = StepDone(writer_, s); !st.ok()) return st;
    return WriteRuntime(writer_stmts_->upsert_runtime, w.id, rt);
  }
  // upsert_runtime or update_runtime: ?1 the watch's id, ?2-?9 its runtime.
  Status WriteRuntime(Stmt& s, const Uuid& id, const model::WatchRuntime& rt) {
    s.Bind(1, std::string_view(id.ToString()));
    s.Bind(2, model::StatusName(rt.status));
    s.Bind(3, ToMicros(rt.last_ping));
    s.Bind(4, ToMicros(rt.last_start));
    s.Bind(5, rt.last_start_rid);
    if (rt.last_duration) {
      s.Bind(6, static_cast<int64_t>(rt.last_duration->count()));
    } else {
      s.BindNull(6);
    }
    s.Bind(7, rt.n_pings);
    s.Bind(8, ToMicros(rt.alert_after));
    s.Bind(9, int64_t{rt.failures});
    return StepDone(writer_, s);
  }
  Status Write(const UpdateRuntime& m) {
    return WriteRuntime(writer_stmts_->update_runtime, m.watch_id, m.runtime);
  }
  Status Write(const DeleteWatch& m) {
    const std::string id = m.watch_id.ToString();
    // Incidents and notifications of the watch stay: they are the audit trail.
    for (Stmt* s : {&writer_stmts_->delete_watch_check_ins, &writer_stmts_->delete_watch_flips,
                    &writer_stmts_->delete_watch_silences, &writer_stmts_->delete_watch_runtime,
                    &writer_stmts_->delete_watch}) {
      s->Bind(1, std::string_view(id));
      if (auto st = StepDone(writer_, *s); !st.ok()) return st;
    }
    return {};
  }
  Status Write(const InsertCheckIn& m) {
    Stmt& s = writer_stmts_->insert_check_in;
    const model::CheckIn& c = m.check_in;
    s.Bind(1, std::string_view(c.watch_id.ToString()));
    s.Bind(2, c.n);
    s.Bind(3, ToMicros(c.at));
    s.Bind(4, model::SignalName(c.signal));
    if (c.exit_status) {
      s.Bind(5, int64_t{*c.exit_status});
    } else {
      s.BindNull(5);
    }
    s.Bind(6, c.rid);
    s.Bind(7, std::string_view(c.remote_addr));
    s.Bind(8, std::string_view(c.scheme));
    s.Bind(9, std::string_view(c.method));
    s.Bind(10, std::string_view(c.user_agent));
    s.BindBlob(11, c.body);
    if (c.duration) {
      s.Bind(12, static_cast<int64_t>(c.duration->count()));
    } else {
      s.BindNull(12);
    }
    return StepDone(writer_, s);
  }
  Status Write(const InsertFlip& m) {
    Stmt& s = writer_stmts_->insert_flip;
    const model::Flip& f = m.flip;
    s.Bind(1, std::string_view(f.watch_id.ToString()));
    s.Bind(2, ToMicros(f.at));
    s.Bind(3, model::StatusName(f.old_status));
    s.Bind(4, model::StatusName(f.new_status));
    s.Bind(5, std::string_view(f.reason));
    s.Bind(6, int64_t{f.detected_late});
    s.Bind(7, ToMicros(f.detected_at));
    return StepDone(writer_, s);
  }
  Status Write(const SetMeta& m) {
    Stmt& s = writer_stmts_->set_meta;
    s.Bind(1, std::string_view(m.key));
    s.Bind(2, std::string_view(m.value));
    return StepDone(writer_, s);
  }
  Status Write(const UpsertChannel& m) {
    Stmt& s = writer_stmts_->upsert_channel;
    const model::Channel& c = m.channel;
    s.Bind(1, std::string_view(c.id.ToString()));
    s.Bind(2, c.project_id);
    s.Bind(3, std::string_view(c.kind));
    s.Bind(4, std::string_view(c.name));
    s.Bind(5, std::string_view(c.config));
    s.Bind(6, ToMicros(c.created));
    return StepDone(writer_, s);
  }
  Status Write(const DeleteChannel& m) {
    return DeleteById(writer_stmts_->delete_channel, m.channel_id);
  }
  Status Write(const UpsertPolicy& m) {
    Stmt& s = writer_stmts_->upsert_policy;
    const model::Policy& p = m.policy;
    s.Bind(1, std::string_view(p.id.ToString()));
    s.Bind(2, p.project_id);
    s.Bind(3, std::string_view(p.name));
    s.Bind(4, int64_t{p.is_default});
    s.Bind(5, std::string_view(UuidsText(p.watches)));
    s.Bind(6, std::string_view(StringsText(p.tags)));
    s.Bind(7, std::string_view(ChainText(p.chain)));
    s.Bind(8, int64_t{p.alert_after_failures});
    s.Bind(9, std::string_view(UuidsText(p.late_channels)));
    s.Bind(10, ToMicros(p.created));
    return StepDone(writer_, s);
  }
  Status Write(const DeletePolicy& m) {
    return DeleteById(writer_stmts_->delete_policy, m.policy_id);
  }
  Status Write(const UpsertSilence& m) {
    Stmt& s = writer_stmts_->upsert_silence;
    const model::Silence& x = m.silence;
    s.Bind(1, std::string_view(x.id.ToString()));
    s.Bind(2, x.project_id);
    s.Bind(3, x.watch_id);
    s.Bind(4, std::string_view(x.tag));
    s.Bind(5, ToMicros(x.starts));
    s.Bind(6, ToMicros(x.ends));
    s.Bind(7, std::string_view(x.reason));
    s.Bind(8, std::string_view(x.created_by));
    s.Bind(9, ToMicros(x.created));
    return StepDone(writer_, s);
  }
  Status Write(const DeleteSilence& m) {
    return DeleteById(writer_stmts_->delete_silence, m.silence_id);
  }
  Status Write(const UpsertIncident& m) {
    Stmt& s = writer_stmts_->upsert_incident;
    const model::Incident& i = m.incident;
    s.Bind(1, i.id);
    s.Bind(2, i.project_id);
    s.Bind(3, std::string_view(i.watch_id.ToString()));
    s.Bind(4, std::string_view(i.watch_name));
    s.Bind(5, std::string_view(i.cause));
    s.Bind(6, std::string_view(i.cause_detail));
    s.Bind(7, ToMicros(i.opened_at));
    s.Bind(8, model::IncidentStateName(i.state));
    s.Bind(9, ToMicros(i.acked_at));
    s.Bind(10, std::string_view(i.acked_by));
    s.Bind(11, ToMicros(i.resolved_at));
    s.Bind(12, std::string_view(i.resolved_by));
    s.Bind(13, std::string_view(i.resolve_reason));
    s.Bind(14, std::string_view(i.policy_name));
    WriterStmts& w = *writer_stmts_;
    if (!(i.chain == w.last_chain)) {
      w.last_chain_text = ChainText(i.chain);
      w.last_chain = i.chain;
    }
    s.Bind(15, std::string_view(w.last_chain_text));
    s.Bind(16, i.escalation_id);
    s.Bind(17, int64_t{i.step});
    s.Bind(18, int64_t{i.round});
    s.Bind(19, ToMicros(i.next_at));
    s.Bind(20, std::string_view(UuidsText(i.notified)));
    return StepDone(writer_, s);
  }
  Status Write(const AppendTimeline& m) {
    Stmt& s = writer_stmts_->append_timeline;
    const model::TimelineEntry& e = m.entry;
    s.Bind(1, e.incident_id);
    s.Bind(2, ToMicros(e.at));
    s.Bind(3, std::string_view(e.kind));
    s.Bind(4, std::string_view(e.actor));
    s.Bind(5, std::string_view(e.message));
    s.Bind(6, std::string_view(e.data));
    return StepDone(writer_, s);
  }
  Status Write(const UpsertNotification& m) {
    Stmt& s = writer_stmts_->upsert_notification;
    const model::Notification& n = m.notification;
    s.Bind(1, n.id);
    s.Bind(2, n.incident_id);
    s.Bind(3, n.project_id);
    s.Bind(4, std::string_view(n.watch_id.ToString()));
    s.Bind(5, std::string_view(n.channel_id.ToString()));
    s.Bind(6, std::string_view(n.event));
    s.Bind(7, std::string_view(n.idempotency_key));
    s.Bind(8, model::NotificationStatusName(n.status));
    s.Bind(9, int64_t{n.attempts});
    s.Bind(10, ToMicros(n.created));
    s.Bind(11, ToMicros(n.next_attempt_at));
    s.Bind(12, ToMicros(n.finished_at));
    s.Bind(13, std::string_view(n.last_error));
    s.Bind(14, std::string_view(n.channel_name));
    s.Bind(15, std::string_view(n.channel_kind));
    if (auto st = StepDone(writer_, s); !st.ok()) return st;
    Stmt& c = writer_stmts_->upsert_notification_context;
    c.Bind(1, n.id);
    c.Bind(2, std::string_view(n.context));
    return StepDone(writer_, c);
  }
  Status Write(const UpdateNotificationState& m) {
    Stmt& s = writer_stmts_->update_notification_state;
    const model::Notification& n = m.notification;
    s.Bind(1, n.id);
    s.Bind(2, model::NotificationStatusName(n.status));
    s.Bind(3, int64_t{n.attempts});
    s.Bind(4, ToMicros(n.next_attempt_at));
    s.Bind(5, ToMicros(n.finished_at));
    s.Bind(6, std::string_view(n.last_error));
    return StepDone(writer_, s);
  }
  Status Write(const AttachNotification& m) {
    Stmt& s = writer_stmts_->attach_notification;
    s.Bind(1, m.notification_id);
    s.Bind(2, m.incident_id);
    return StepDone(writer_, s);
  }
  Status Write(const InsertAttempt& m) {
    Stmt& s = writer_stmts_->insert_attempt;
    s.Bind(1, m.notification_id);
    s.Bind(2, ToMicros(m.at));
    s.Bind(3, int64_t{m.ok});
    s.Bind(4, std::string_view(m.reason));
    s.Bind(5, int64_t{m.code});
    s.Bind(6, std::string_view(m.detail));
    s.Bind(7, static_cast<int64_t>(m.duration.count()));
    s.Bind(8, ToMicros(m.retry_at));
    return StepDone(writer_, s);
  }
  Status DeleteById(Stmt& s, const base::Uuid& id) {
    s.Bind(1, std::string_view(id.ToString()));
    return StepDone(writer_, s);
  }

  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
  sqlite3* checkpoint_db_ = nullptr;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<WriterStmts> writer_stmts_;
  base::Mutex read_mu_;
  std::unique_ptr<ReaderStmts> reader_stmts_;  // used under read_mu_
};

}  // namespace

base::Result<std::unique_ptr<Store>> OpenSqlite(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>();
  if (auto st = store->Open(options); !st.ok()) return st.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace overdue::store
