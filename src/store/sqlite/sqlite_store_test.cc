#include "store/sqlite/sqlite_store.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store/sqlite/wal_vfs.h"

namespace overdue::store {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

const base::TimePoint kT0 = base::FromMicros(1'700'000'000'123'456);

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sqlite_store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "overdue.db").string();
    Reopen();
    project_.id = 1;
    project_.uuid = base::Uuid::Random();
    project_.name = "default";
    project_.ping_key = "abcdefghijklmnopqrstuv";
    project_.created = kT0;
    ASSERT_TRUE(store_->Apply({UpsertProject{project_}}).ok());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void Reopen(SqliteOptions options = {}) {
    store_.reset();
    options.path = path_;
    auto s = OpenSqlite(options);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s.value());
  }

  static model::Watch FullWatch() {
    model::Watch w;
    w.spec.id = base::Uuid::Random();
    w.spec.project_id = 1;
    w.spec.kind = model::WatchKind::kPerson;
    w.spec.name = "nightly backup";
    w.spec.slug = "nightly-backup";
    w.spec.tags = "prod db";
    w.spec.desc = "pg_dump to s3";
    w.spec.schedule.kind = model::Schedule::Kind::kCron;
    w.spec.schedule.period = seconds(3600);
    w.spec.schedule.cron = "0 3 * * *";
    w.spec.schedule.tz = "Europe/Berlin";
    w.spec.schedule.once_at = kT0 + seconds(5);
    w.spec.schedule.grace = seconds(600);
    w.spec.manual_resume = true;
    w.spec.post_only = true;
    w.spec.filter_http_body = true;
    w.spec.filter_default_fail = true;
    w.spec.start_kw = "start";
    w.spec.success_kw = "ok";
    w.spec.failure_kw = "error";
    w.spec.created = kT0;
    w.spec.filter_subject = true;
    w.spec.filter_body = true;
    w.spec.badge_key = base::Uuid::Random();
    w.spec.channels = "a,b";
    w.runtime.status = model::Status::kGrace;
    w.runtime.last_ping = kT0 + seconds(1);
    w.runtime.last_start = kT0 + seconds(2);
    w.runtime.last_start_rid = base::Uuid::Random();
    w.runtime.last_duration = seconds(42);
    w.runtime.n_pings = 7;
    w.runtime.alert_after = kT0 + seconds(3);
    w.runtime.failures = 4;
    return w;
  }

  static model::Channel FullChannel(std::string name) {
    model::Channel c;
    c.id = base::Uuid::Random();
    c.project_id = 1;
    c.kind = "webhook";
    c.name = std::move(name);
    c.config = R"({"url":"https://hooks.example/x"})";
    c.created = kT0 + seconds(7);
    return c;
  }

  static model::EscalationChain FullChain() {
    model::EscalationChain chain;
    model::EscalationStep first;
    first.channels = {base::Uuid::Random(), base::Uuid::Random()};
    first.wait = std::chrono::microseconds(90'000'001);
    model::EscalationStep second;
    second.channels = {base::Uuid::Random()};
    second.wait = std::chrono::hours(2);
    chain.steps = {first, second};
    chain.repeat = 3;
    chain.remind_every = std::chrono::minutes(30) + std::chrono::microseconds(5);
    chain.ack_timeout = std::chrono::hours(4);
    return chain;
  }

  static void ExpectSameChain(const model::EscalationChain& got,
                              const model::EscalationChain& want) {
    ASSERT_EQ(got.steps.size(), want.steps.size());
    for (size_t i = 0; i < want.steps.size(); ++i) {
      EXPECT_EQ(got.steps[i].channels, want.steps[i].channels) << "step " << i;
      EXPECT_EQ(got.steps[i].wait, want.steps[i].wait) << "step " << i;
    }
    EXPECT_EQ(got.repeat, want.repeat);
    EXPECT_EQ(got.remind_every, want.remind_every);
    EXPECT_EQ(got.ack_timeout, want.ack_timeout);
  }

  static model::Incident FullIncident(int64_t id, const base::Uuid& watch_id) {
    model::Incident i;
    i.id = id;
    i.project_id = 1;
    i.watch_id = watch_id;
    i.watch_name = "nightly backup";
    i.cause = "fail";
    i.cause_detail = "exit status 3";
    i.opened_at = kT0 + seconds(id);
    i.state = model::IncidentState::kAcknowledged;
    i.acked_at = kT0 + seconds(id + 1);
    i.acked_by = "ops key";
    i.resolved_at = kT0 + seconds(id + 2);
    i.resolved_by = "check-in";
    i.resolve_reason = "fixed";
    i.policy_name = "on-call";
    i.chain = FullChain();
    i.escalation_id = 17;
    i.step = 1;
    i.round = 2;
    i.next_at = base::kNever;
    i.notified = {base::Uuid::Random(), base::Uuid::Random()};
    return i;
  }

  static model::Notification FullNotification(int64_t id, int64_t incident_id) {
    model::Notification n;
    n.id = id;
    n.incident_id = incident_id;
    n.project_id = 1;
    n.watch_id = base::Uuid::Random();
    n.channel_id = base::Uuid::Random();
    n.channel_name = "ops mail";
    n.channel_kind = "email";
    n.event = "down";
    n.idempotency_key = "inc-" + std::to_string(incident_id) + "-" + std::to_string(id);
    n.context = R"({"watch":"nightly backup"})";
    n.status = model::NotificationStatus::kPending;
    n.attempts = 2;
    n.created = kT0 + seconds(id);
    n.next_attempt_at = kT0 + seconds(id + 60);
    n.finished_at = kT0 + seconds(id + 61);
    n.last_error = "timeout";
    return n;
  }

  // `n` delivered at its third attempt.
  static model::Notification Delivered(model::Notification n) {
    n.status = model::NotificationStatus::kDelivered;
    n.attempts = 3;
    n.next_attempt_at = base::kNoTime;
    n.finished_at = kT0 + seconds(99);
    n.last_error = "";
    return n;
  }
  static void ExpectDelivered(const model::Notification& n) {
    EXPECT_EQ(n.status, model::NotificationStatus::kDelivered);
    EXPECT_EQ(n.attempts, 3);
    EXPECT_EQ(n.next_attempt_at, base::kNoTime);
    EXPECT_EQ(n.finished_at, kT0 + seconds(99));
    EXPECT_EQ(n.last_error, "");
  }

  std::vector<int64_t> IncidentIds(const IncidentFilter& f) {
    auto r = store_->ListIncidents(f);
    EXPECT_TRUE(r.ok());
    std::vector<int64_t> ids;
    if (r.ok()) {
      for (const model::Incident& i : r.value()) ids.push_back(i.id);
    }
    return ids;
  }

  std::vector<int64_t> NotificationIds(const NotificationFilter& f) {
    auto r = store_->ListNotifications(f);
    EXPECT_TRUE(r.ok());
    std::vector<int64_t> ids;
    if (r.ok()) {
      for (const model::Notification& n : r.value()) ids.push_back(n.id);
    }
    return ids;
  }

  // Check-ins first..first+n-1 of `watch_id`, one commit each, with bodies of `body_bytes`.
  void CheckInOneByOne(const base::Uuid& watch_id, int first, int n, size_t body_bytes) {
    for (int i = first; i < first + n; ++i) {
      ASSERT_TRUE(
          store_->Apply({InsertCheckIn{CheckInFor(watch_id, i, std::string(body_bytes, 'x'))}})
              .ok());
    }
  }

  static model::CheckIn CheckInFor(const base::Uuid& id, int64_t n, std::string body = "") {
    model::CheckIn c;
    c.watch_id = id;
    c.n = n;
    c.at = kT0 + seconds(n);
    c.signal = model::Signal::kFail;
    c.exit_status = 3;
    c.rid = base::Uuid::Random();
    c.remote_addr = "10.0.0.1";
    c.scheme = "https";
    c.method = "POST";
    c.user_agent = "curl/8";
    c.body = std::move(body);
    c.duration = seconds(9);
    return c;
  }

  // Undoes migration 6 in place: each notification's context back in its outbox row, as
  // schema 5 left it on disk (there the column came eighth; SQL names it, never places it).
  static void UndoSchemaSix(sqlite3* db) {
    for (const char* sql :
         {"ALTER TABLE notifications ADD COLUMN context TEXT NOT NULL DEFAULT ''",
          "UPDATE notifications SET context = (SELECT context FROM notification_contexts c "
          "WHERE c.id = notifications.id)",
          "DROP TABLE notification_contexts", "PRAGMA user_version=5"}) {
      ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    }
  }

  // Undoes migrations 6 and 5 in place (5: its columns; not its data), as schema 4 left it on
  // disk.
  static void UndoSchemaFive(sqlite3* db) {
    UndoSchemaSix(db);
    for (const char* sql : {"ALTER TABLE notifications DROP COLUMN channel_name",
                            "ALTER TABLE notifications DROP COLUMN channel_kind",
                            "ALTER TABLE attempts DROP COLUMN retry_at", "PRAGMA user_version=4"}) {
      ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    }
  }

  // Undoes migrations 5 and 4 in place: one wide watches table holding definition and
  // runtime, as schema 3 left it on disk.
  static void UndoSchemaFour(sqlite3* db) {
    UndoSchemaFive(db);
    for (const char* sql : {
             R"sql(CREATE TABLE wide (
  id TEXT PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id), kind TEXT NOT NULL,
  name TEXT NOT NULL, slug TEXT NOT NULL, tags TEXT NOT NULL, desc TEXT NOT NULL,
  schedule_kind TEXT NOT NULL, period_us INTEGER NOT NULL, cron TEXT NOT NULL, tz TEXT NOT NULL,
  once_at INTEGER NOT NULL, grace_us INTEGER NOT NULL, manual_resume INTEGER NOT NULL,
  post_only INTEGER NOT NULL, filter_http_body INTEGER NOT NULL,
  filter_default_fail INTEGER NOT NULL, start_kw TEXT NOT NULL, success_kw TEXT NOT NULL,
  failure_kw TEXT NOT NULL, created INTEGER NOT NULL, status TEXT NOT NULL,
  last_ping INTEGER NOT NULL, last_start INTEGER NOT NULL, last_start_rid TEXT,
  last_duration_us INTEGER, n_pings INTEGER NOT NULL, alert_after INTEGER NOT NULL,
  filter_subject INTEGER NOT NULL DEFAULT 0, filter_body INTEGER NOT NULL DEFAULT 0,
  badge_key TEXT NOT NULL DEFAULT '', channels TEXT NOT NULL DEFAULT '',
  failures INTEGER NOT NULL DEFAULT 0))sql",
             "INSERT INTO wide SELECT id, project_id, kind, name, slug, tags, desc, "
             "schedule_kind, period_us, cron, tz, once_at, grace_us, manual_resume, post_only, "
             "filter_http_body, filter_default_fail, start_kw, success_kw, failure_kw, created, "
             "status, last_ping, last_start, last_start_rid, last_duration_us, n_pings, "
             "alert_after, filter_subject, filter_body, badge_key, channels, failures "
             "FROM watches JOIN watch_runtime USING (id)",
             "DROP TABLE watches", "DROP TABLE watch_runtime", "ALTER TABLE wide RENAME TO watches",
             "CREATE INDEX watches_by_project ON watches(project_id, created, id)",
             "PRAGMA user_version=3"}) {
      ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    }
  }

  // Undoes migrations 4 and 3 in place: what schema 2 left on disk, as an older overdue
  // wrote it.
  static void UndoSchemaThree(sqlite3* db) {
    UndoSchemaFour(db);
    for (const char* sql : {"DROP TABLE channels", "DROP TABLE policies", "DROP TABLE silences",
                            "DROP TABLE incidents", "DROP TABLE timeline",
                            "DROP TABLE notifications", "DROP TABLE attempts",
                            "ALTER TABLE watches DROP COLUMN failures", "PRAGMA user_version=2"}) {
      ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    }
  }

  // The first column of the first row of `sql`, read through a connection of its own.
  int64_t QueryInt(const char* sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(s), SQLITE_ROW) << sql;
    const int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  Project project_;
};

TEST_F(SqliteStoreTest, WatchRoundTripsEveryField) {
  const model::Watch w = FullWatch();
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  Reopen();
  auto got = store_->GetWatch(w.spec.id);
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got.value());
  const model::Watch& g = *got.value();
  EXPECT_EQ(g.spec.id, w.spec.id);
  EXPECT_EQ(g.spec.kind, w.spec.kind);
  EXPECT_EQ(g.spec.name, w.spec.name);
  EXPECT_EQ(g.spec.slug, w.spec.slug);
  EXPECT_EQ(g.spec.tags, w.spec.tags);
  EXPECT_EQ(g.spec.desc, w.spec.desc);
  EXPECT_EQ(g.spec.schedule.kind, w.spec.schedule.kind);
  EXPECT_EQ(g.spec.schedule.period, w.spec.schedule.period);
  EXPECT_EQ(g.spec.schedule.cron, w.spec.schedule.cron);
  EXPECT_EQ(g.spec.schedule.tz, w.spec.schedule.tz);
  EXPECT_EQ(g.spec.schedule.once_at, w.spec.schedule.once_at);
  EXPECT_EQ(g.spec.schedule.grace, w.spec.schedule.grace);
  EXPECT_TRUE(g.spec.manual_resume && g.spec.post_only && g.spec.filter_http_body &&
              g.spec.filter_default_fail);
  EXPECT_EQ(g.spec.start_kw, "start");
  EXPECT_EQ(g.spec.success_kw, "ok");
  EXPECT_EQ(g.spec.failure_kw, "error");
  EXPECT_EQ(g.spec.created, kT0);
  EXPECT_TRUE(g.spec.filter_subject && g.spec.filter_body);
  EXPECT_EQ(g.spec.badge_key, w.spec.badge_key);
  EXPECT_EQ(g.spec.channels, "a,b");
  EXPECT_EQ(g.runtime.status, model::Status::kGrace);
  EXPECT_EQ(g.runtime.last_ping, w.runtime.last_ping);
  EXPECT_EQ(g.runtime.last_start, w.runtime.last_start);
  EXPECT_EQ(g.runtime.last_start_rid, w.runtime.last_start_rid);
  EXPECT_EQ(g.runtime.last_duration, w.runtime.last_duration);
  EXPECT_EQ(g.runtime.n_pings, 7);
  EXPECT_EQ(g.runtime.alert_after, w.runtime.alert_after);
  EXPECT_EQ(g.runtime.failures, 4);
  EXPECT_FALSE(store_->GetWatch(base::Uuid::Random()).value());
}

TEST_F(SqliteStoreTest, UpdateRuntimeTouchesOnlyRuntime) {
  model::Watch w = FullWatch();
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  model::WatchRuntime rt;
  rt.status = model::Status::kDown;
  rt.n_pings = 8;
  rt.failures = 9;
  ASSERT_TRUE(store_->Apply({UpdateRuntime{w.spec.id, rt}}).ok());
  auto g = store_->GetWatch(w.spec.id).value().value();
  EXPECT_EQ(g.runtime.status, model::Status::kDown);
  EXPECT_EQ(g.runtime.n_pings, 8);
  EXPECT_EQ(g.runtime.failures, 9);
  EXPECT_FALSE(g.runtime.last_start_rid);
  EXPECT_FALSE(g.runtime.last_duration);
  EXPECT_EQ(g.spec.name, "nightly backup");
}

TEST_F(SqliteStoreTest, CheckInsNewestFirstWithLimitBodiesAndPrune) {
  const model::Watch w = FullWatch();
  std::vector<Mutation> batch{UpsertWatch{w}};
  for (int n = 1; n <= 10; ++n) {
    batch.push_back(
        InsertCheckIn{CheckInFor(w.spec.id, n, n == 10 ? std::string("\0x\xff", 3) : "")});
  }
  ASSERT_TRUE(store_->Apply(batch).ok());
  auto list = store_->ListCheckIns(w.spec.id, 3, false);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list.value().size(), 3u);
  EXPECT_EQ(list.value()[0].n, 10);
  EXPECT_EQ(list.value()[2].n, 8);
  EXPECT_TRUE(list.value()[0].body.empty());
  EXPECT_EQ(list.value()[0].body_size, 3u);
  EXPECT_EQ(list.value()[1].body_size, 0u);
  const model::CheckIn& c = list.value()[1];
  EXPECT_EQ(c.signal, model::Signal::kFail);
  EXPECT_EQ(c.exit_status, 3);
  EXPECT_TRUE(c.rid);
  EXPECT_EQ(c.remote_addr, "10.0.0.1");
  EXPECT_EQ(c.scheme, "https");
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.user_agent, "curl/8");
  EXPECT_EQ(c.duration, seconds(9));
  auto one = store_->GetCheckIn(w.spec.id, 10);
  ASSERT_TRUE(one.ok() && one.value());
  EXPECT_EQ(one.value()->body, std::string("\0x\xff", 3));
  EXPECT_FALSE(store_->GetCheckIn(w.spec.id, 99).value());

  auto removed = store_->PruneCheckIns(w.spec.id, 6);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed.value(), 5);
  EXPECT_EQ(store_->ListCheckIns(w.spec.id, 100, false).value().size(), 5u);
}

TEST_F(SqliteStoreTest, DuplicateCheckInNumberDoesNotFailTheBatch) {
  const model::Watch w = FullWatch();
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}, InsertCheckIn{CheckInFor(w.spec.id, 1)}}).ok());
  ASSERT_TRUE(store_->Apply({InsertCheckIn{CheckInFor(w.spec.id, 1)}}).ok());
  EXPECT_EQ(store_->ListCheckIns(w.spec.id, 10, false).value().size(), 1u);
}

TEST_F(SqliteStoreTest, ApplyIsAllOrNothing) {
  const model::Watch w = FullWatch();
  Project dup = project_;
  dup.id = 2;  // same uuid and ping key as project 1: violates UNIQUE
  auto st = store_->Apply({UpsertWatch{w}, UpsertProject{dup}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, base::ErrorCode::kUnavailable);
  EXPECT_NE(st.error().message.find("UNIQUE"), std::string::npos) << st.error().message;
  EXPECT_FALSE(store_->GetWatch(w.spec.id).value());
  // The store still works after a failed batch.
  EXPECT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  EXPECT_TRUE(store_->GetWatch(w.spec.id).value());
}

TEST_F(SqliteStoreTest, FlipsSinceInOrder) {
  const model::Watch w = FullWatch();
  std::vector<Mutation> batch{UpsertWatch{w}};
  for (int i = 0; i < 4; ++i) {
    model::Flip f;
    f.watch_id = w.spec.id;
    f.at = kT0 + seconds(i * 10);
    f.old_status = model::Status::kUp;
    f.new_status = model::Status::kDown;
    f.reason = "timeout";
    f.detected_late = i == 3;
    f.detected_at = kT0 + seconds(100);
    batch.push_back(InsertFlip{f});
  }
  ASSERT_TRUE(store_->Apply(batch).ok());
  auto flips = store_->ListFlips(w.spec.id, kT0 + seconds(15), 10);
  ASSERT_TRUE(flips.ok());
  ASSERT_EQ(flips.value().size(), 2u);
  EXPECT_EQ(flips.value()[0].at, kT0 + seconds(20));
  EXPECT_EQ(flips.value()[1].reason, "timeout");
  EXPECT_TRUE(flips.value()[1].detected_late);
  EXPECT_EQ(flips.value()[1].detected_at, kT0 + seconds(100));
}

TEST_F(SqliteStoreTest, DeleteWatchCascades) {
  const model::Watch w = FullWatch();
  model::Flip f;
  f.watch_id = w.spec.id;
  ASSERT_TRUE(
      store_->Apply({UpsertWatch{w}, InsertCheckIn{CheckInFor(w.spec.id, 1)}, InsertFlip{f}}).ok());
  ASSERT_TRUE(store_->Apply({DeleteWatch{w.spec.id}}).ok());
  EXPECT_FALSE(store_->GetWatch(w.spec.id).value());
  EXPECT_TRUE(store_->ListCheckIns(w.spec.id, 10, false).value().empty());
  EXPECT_TRUE(store_->ListFlips(w.spec.id, base::TimePoint{}, 10).value().empty());
}

TEST_F(SqliteStoreTest, ProjectsKeysMetaAndListing) {
  ApiKey k;
  k.project_id = 1;
  k.prefix = "hcw_abcd";
  k.hash = std::string(64, 'a');
  k.read_only = true;
  k.name = "ci";
  k.created = kT0;
  model::Watch a = FullWatch();
  model::Watch b = FullWatch();
  b.spec.created = kT0 - seconds(1);
  ASSERT_TRUE(store_
                  ->Apply({InsertApiKey{k}, SetMeta{"k", "v1"}, SetMeta{"k", "v2"}, UpsertWatch{a},
                           UpsertWatch{b}})
                  .ok());
  Reopen();
  auto projects = store_->LoadProjects().value();
  ASSERT_EQ(projects.size(), 1u);
  EXPECT_EQ(projects[0].uuid, project_.uuid);
  EXPECT_EQ(projects[0].ping_key, project_.ping_key);
  auto keys = store_->LoadApiKeys().value();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].hash, k.hash);
  EXPECT_TRUE(keys[0].read_only);
  EXPECT_EQ(store_->GetMeta("k").value(), std::optional<std::string>("v2"));
  EXPECT_FALSE(store_->GetMeta("missing").value());
  auto listed = store_->ListWatches(1).value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].spec.id, b.spec.id);  // oldest first
  EXPECT_TRUE(store_->ListWatches(2).value().empty());
  int seen = 0;
  ASSERT_TRUE(store_->LoadWatches([&](model::Watch&&) { ++seen; }).ok());
  EXPECT_EQ(seen, 2);
}

TEST_F(SqliteStoreTest, RevokedKeysBadgeKeysAndCounts) {
  project_.badge_key = "badge-key-1";
  ApiKey k;
  k.project_id = 1;
  k.prefix = "hcw_abcd";
  k.hash = std::string(64, 'b');
  ASSERT_TRUE(store_
                  ->Apply({UpsertProject{project_}, InsertApiKey{k}, UpsertWatch{FullWatch()},
                           UpsertWatch{FullWatch()}})
                  .ok());
  EXPECT_EQ(store_->CountWatches(1).value(), 2);
  EXPECT_EQ(store_->CountWatches(2).value(), 0);
  ASSERT_TRUE(store_->Apply({DeleteApiKey{k.hash}}).ok());
  Reopen();
  EXPECT_TRUE(store_->LoadApiKeys().value().empty());
  EXPECT_EQ(store_->LoadProjects().value()[0].badge_key, "badge-key-1");
}

// A data dir written by schema 1 (before badge keys) opens, migrates, and every watch gets a
// badge key.
TEST_F(SqliteStoreTest, MigratesASchemaOneDatabase) {
  const model::Watch w = FullWatch();
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  UndoSchemaThree(db);
  for (const char* sql :
       {"ALTER TABLE watches DROP COLUMN filter_subject",
        "ALTER TABLE watches DROP COLUMN filter_body", "ALTER TABLE watches DROP COLUMN badge_key",
        "ALTER TABLE watches DROP COLUMN channels", "ALTER TABLE projects DROP COLUMN badge_key",
        "PRAGMA user_version=1"}) {
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
  }
  sqlite3_close(db);
  Reopen();
  auto got = store_->GetWatch(w.spec.id).value();
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->spec.badge_key.IsNil());
  EXPECT_NE(got->spec.badge_key, w.spec.badge_key);  // a fresh random key
  EXPECT_EQ(got->spec.name, w.spec.name);
  EXPECT_FALSE(store_->LoadProjects().value()[0].badge_key.empty());
}

TEST_F(SqliteStoreTest, RefusesADatabaseFromANewerVersion) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=999", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = OpenSqlite(SqliteOptions{path_, true});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("newer overdue"), std::string::npos) << s.error().message;
}

TEST_F(SqliteStoreTest, UnwritablePathIsAnErrorNotACrash) {
  auto s = OpenSqlite(SqliteOptions{(dir_ / "no-such-dir" / "x.db").string(), true});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, base::ErrorCode::kUnavailable);
}

TEST_F(SqliteStoreTest, WatchFailuresSurviveEveryReadPath) {
  model::Watch w = FullWatch();
  w.runtime.failures = 2;
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  EXPECT_EQ(store_->GetWatch(w.spec.id).value()->runtime.failures, 2);
  model::WatchRuntime rt = w.runtime;
  rt.failures = 3;
  ASSERT_TRUE(store_->Apply({UpdateRuntime{w.spec.id, rt}}).ok());
  Reopen();
  EXPECT_EQ(store_->GetWatch(w.spec.id).value()->runtime.failures, 3);
  EXPECT_EQ(store_->ListWatches(1).value().at(0).runtime.failures, 3);
  int32_t loaded = -1;
  ASSERT_TRUE(store_->LoadWatches([&](model::Watch&& x) { loaded = x.runtime.failures; }).ok());
  EXPECT_EQ(loaded, 3);
  rt.failures = 0;  // a success resets the count
  ASSERT_TRUE(store_->Apply({UpdateRuntime{w.spec.id, rt}}).ok());
  EXPECT_EQ(store_->GetWatch(w.spec.id).value()->runtime.failures, 0);
}

TEST_F(SqliteStoreTest, ChannelsRoundTripReplaceAndDelete) {
  const model::Channel a = FullChannel("pager");
  const model::Channel b = FullChannel("mail");
  ASSERT_TRUE(store_->Apply({UpsertChannel{a}, UpsertChannel{b}}).ok());
  Reopen();
  auto got = store_->LoadChannels().value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].name, "mail");  // by name
  const model::Channel& g = got[1];
  EXPECT_EQ(g.id, a.id);
  EXPECT_EQ(g.project_id, 1);
  EXPECT_EQ(g.kind, "webhook");
  EXPECT_EQ(g.name, "pager");
  EXPECT_EQ(g.config, a.config);
  EXPECT_EQ(g.created, a.created);

  model::Channel changed = a;
  changed.kind = "slack";
  changed.name = "zz pager";
  changed.config = "{}";
  changed.project_id = 2;
  changed.created = kT0;
  ASSERT_TRUE(store_->Apply({UpsertChannel{changed}}).ok());
  got = store_->LoadChannels().value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].id, a.id);
  EXPECT_EQ(got[1].kind, "slack");
  EXPECT_EQ(got[1].name, "zz pager");
  EXPECT_EQ(got[1].config, "{}");
  EXPECT_EQ(got[1].project_id, 2);
  EXPECT_EQ(got[1].created, kT0);

  ASSERT_TRUE(store_->Apply({DeleteChannel{a.id}, DeleteChannel{base::Uuid::Random()}}).ok());
  got = store_->LoadChannels().value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, b.id);
}

TEST_F(SqliteStoreTest, PoliciesRoundTripEveryFieldIncludingTheChain) {
  model::Policy p;
  p.id = base::Uuid::Random();
  p.project_id = 1;
  p.name = "on-call";
  p.is_default = true;
  p.watches = {base::Uuid::Random(), base::Uuid::Random()};
  p.tags = {"prod", "db \"primary\"", "ünïcode"};
  p.chain = FullChain();
  p.alert_after_failures = 3;
  p.late_channels = {base::Uuid::Random()};
  p.created = kT0 + seconds(11);
  model::Policy empty;  // every list empty, the default chain
  empty.id = base::Uuid::Random();
  empty.project_id = 1;
  empty.name = "a-empty";
  ASSERT_TRUE(store_->Apply({UpsertPolicy{p}, UpsertPolicy{empty}}).ok());
  Reopen();
  auto got = store_->LoadPolicies().value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, empty.id);  // by name
  EXPECT_TRUE(got[0].watches.empty() && got[0].tags.empty() && got[0].late_channels.empty());
  EXPECT_FALSE(got[0].is_default);
  ExpectSameChain(got[0].chain, empty.chain);
  const model::Policy& g = got[1];
  EXPECT_EQ(g.id, p.id);
  EXPECT_EQ(g.project_id, 1);
  EXPECT_EQ(g.name, "on-call");
  EXPECT_TRUE(g.is_default);
  EXPECT_EQ(g.watches, p.watches);
  EXPECT_EQ(g.tags, p.tags);
  ExpectSameChain(g.chain, p.chain);
  EXPECT_EQ(g.alert_after_failures, 3);
  EXPECT_EQ(g.late_channels, p.late_channels);
  EXPECT_EQ(g.created, p.created);

  model::Policy changed = p;
  changed.is_default = false;
  changed.watches.clear();
  changed.tags = {"x"};
  changed.chain.steps.pop_back();
  changed.chain.repeat = 1;
  changed.alert_after_failures = 1;
  ASSERT_TRUE(store_->Apply({UpsertPolicy{changed}}).ok());
  got = store_->LoadPolicies().value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[1].is_default);
  EXPECT_TRUE(got[1].watches.empty());
  EXPECT_EQ(got[1].tags, std::vector<std::string>{"x"});
  ExpectSameChain(got[1].chain, changed.chain);
  EXPECT_EQ(got[1].alert_after_failures, 1);

  ASSERT_TRUE(store_->Apply({DeletePolicy{p.id}}).ok());
  got = store_->LoadPolicies().value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, empty.id);
}

TEST_F(SqliteStoreTest, SilencesRoundTripWithAndWithoutAWatch) {
  const model::Watch w = FullWatch();
  model::Silence on_watch;
  on_watch.id = base::Uuid::Random();
  on_watch.project_id = 1;
  on_watch.watch_id = w.spec.id;
  on_watch.starts = kT0 + seconds(100);
  on_watch.ends = kT0 + seconds(200);
  on_watch.reason = "maintenance";
  on_watch.created_by = "ops key";
  on_watch.created = kT0 + seconds(50);
  model::Silence on_tag;
  on_tag.id = base::Uuid::Random();
  on_tag.project_id = 1;
  on_tag.tag = "db";
  on_tag.starts = kT0 + seconds(10);
  on_tag.ends = kT0 + seconds(20);
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}, UpsertSilence{on_watch}, UpsertSilence{on_tag}}).ok());
  Reopen();
  auto got = store_->LoadSilences().value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, on_tag.id);  // by starts
  EXPECT_FALSE(got[0].watch_id);
  EXPECT_EQ(got[0].tag, "db");
  const model::Silence& g = got[1];
  EXPECT_EQ(g.id, on_watch.id);
  EXPECT_EQ(g.project_id, 1);
  EXPECT_EQ(g.watch_id, w.spec.id);
  EXPECT_EQ(g.tag, "");
  EXPECT_EQ(g.starts, on_watch.starts);
  EXPECT_EQ(g.ends, on_watch.ends);
  EXPECT_EQ(g.reason, "maintenance");
  EXPECT_EQ(g.created_by, "ops key");
  EXPECT_EQ(g.created, on_watch.created);

  model::Silence extended = on_tag;
  extended.ends = kT0 + seconds(30);
  extended.watch_id = base::Uuid::Random();
  ASSERT_TRUE(store_->Apply({UpsertSilence{extended}}).ok());
  got = store_->LoadSilences().value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].ends, kT0 + seconds(30));
  EXPECT_EQ(got[0].watch_id, extended.watch_id);

  ASSERT_TRUE(store_->Apply({DeleteSilence{on_tag.id}}).ok());
  got = store_->LoadSilences().value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, on_watch.id);
}

// Deleting a watch removes its silences (they can never match again) and keeps its incidents,
// timeline and notifications (the audit trail).
TEST_F(SqliteStoreTest, DeleteWatchRemovesItsSilencesAndKeepsItsIncidents) {
  const model::Watch w = FullWatch();
  model::Silence mine;
  mine.id = base::Uuid::Random();
  mine.project_id = 1;
  mine.watch_id = w.spec.id;
  model::Silence project_wide;
  project_wide.id = base::Uuid::Random();
  project_wide.project_id = 1;
  model::Notification n = FullNotification(1, 1);
  n.watch_id = w.spec.id;
  ASSERT_TRUE(store_
                  ->Apply({UpsertWatch{w}, UpsertSilence{mine}, UpsertSilence{project_wide},
                           UpsertIncident{FullIncident(1, w.spec.id)},
                           AppendTimeline{{1, kT0, "opened", "system", "down", "{}"}},
                           UpsertNotification{n}})
                  .ok());
  ASSERT_TRUE(store_->Apply({DeleteWatch{w.spec.id}}).ok());
  auto silences = store_->LoadSilences().value();
  ASSERT_EQ(silences.size(), 1u);
  EXPECT_EQ(silences[0].id, project_wide.id);
  EXPECT_TRUE(store_->GetIncident(1).value());
  EXPECT_EQ(store_->ListTimeline(1).value().size(), 1u);
  NotificationFilter f;
  f.project_id = 1;
  EXPECT_EQ(NotificationIds(f), std::vector<int64_t>{1});
}

// Incidents of a storm share one chain, whose text the writer keeps; one with another chain
// between them, or after them, is written with its own.
TEST_F(SqliteStoreTest, EachIncidentKeepsItsOwnChain) {
  const base::Uuid w = base::Uuid::Random();
  model::Incident a = FullIncident(1, w);
  model::Incident b = FullIncident(2, w);
  b.chain = a.chain;
  b.chain.steps.pop_back();
  b.chain.repeat = 5;
  model::Incident c = FullIncident(3, w);
  c.chain = a.chain;
  model::Incident d = FullIncident(4, w);
  d.chain = a.chain;
  d.chain.steps[0].wait += seconds(1);
  ASSERT_TRUE(store_->Apply({UpsertIncident{a}, UpsertIncident{b}, UpsertIncident{c}}).ok());
  ASSERT_TRUE(store_->Apply({UpsertIncident{d}}).ok());
  Reopen();
  for (const model::Incident* want : {&a, &b, &c, &d}) {
    auto got = store_->GetIncident(want->id);
    ASSERT_TRUE(got.ok() && got.value()) << want->id;
    EXPECT_TRUE(got.value()->chain == want->chain) << want->id;
  }
  EXPECT_FALSE(a.chain == b.chain);
  EXPECT_FALSE(a.chain == d.chain);
}

TEST_F(SqliteStoreTest, IncidentRoundTripsEveryFieldAndUpsertReplaces) {
  const base::Uuid watch = base::Uuid::Random();
  const model::Incident inc = FullIncident(42, watch);
  ASSERT_TRUE(store_->Apply({UpsertIncident{inc}}).ok());
  Reopen();
  auto got = store_->GetIncident(42);
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got.value());
  const model::Incident& g = *got.value();
  EXPECT_EQ(g.id, 42);
  EXPECT_EQ(g.project_id, 1);
  EXPECT_EQ(g.watch_id, watch);
  EXPECT_EQ(g.watch_name, "nightly backup");
  EXPECT_EQ(g.cause, "fail");
  EXPECT_EQ(g.cause_detail, "exit status 3");
  EXPECT_EQ(g.opened_at, inc.opened_at);
  EXPECT_EQ(g.state, model::IncidentState::kAcknowledged);
  EXPECT_EQ(g.acked_at, inc.acked_at);
  EXPECT_EQ(g.acked_by, "ops key");
  EXPECT_EQ(g.resolved_at, inc.resolved_at);
  EXPECT_EQ(g.resolved_by, "check-in");
  EXPECT_EQ(g.resolve_reason, "fixed");
  EXPECT_EQ(g.policy_name, "on-call");
  ExpectSameChain(g.chain, inc.chain);
  EXPECT_EQ(g.escalation_id, 17);
  EXPECT_EQ(g.step, 1);
  EXPECT_EQ(g.round, 2);
  EXPECT_EQ(g.next_at, base::kNever);
  EXPECT_EQ(g.notified, inc.notified);
  EXPECT_FALSE(store_->GetIncident(43).value());

  model::Incident resolved = inc;
  resolved.state = model::IncidentState::kResolved;
  resolved.resolved_at = kT0 + seconds(500);
  resolved.escalation_id = 18;
  resolved.step = 0;
  resolved.next_at = kT0 + seconds(600);
  resolved.notified.push_back(base::Uuid::Random());
  resolved.chain = model::EscalationChain{};
  ASSERT_TRUE(store_->Apply({UpsertIncident{resolved}}).ok());
  const model::Incident r = store_->GetIncident(42).value().value();
  EXPECT_EQ(r.state, model::IncidentState::kResolved);
  EXPECT_EQ(r.resolved_at, kT0 + seconds(500));
  EXPECT_EQ(r.escalation_id, 18);
  EXPECT_EQ(r.step, 0);
  EXPECT_EQ(r.next_at, kT0 + seconds(600));
  EXPECT_EQ(r.notified, resolved.notified);
  ExpectSameChain(r.chain, model::EscalationChain{});
}

TEST_F(SqliteStoreTest, LoadActiveIncidentsExcludesResolved) {
  const base::Uuid watch = base::Uuid::Random();
  model::Incident open = FullIncident(1, watch);
  open.state = model::IncidentState::kOpen;
  model::Incident acked = FullIncident(2, watch);
  acked.project_id = 2;  // every project
  model::Incident resolved = FullIncident(3, watch);
  resolved.state = model::IncidentState::kResolved;
  ASSERT_TRUE(
      store_->Apply({UpsertIncident{resolved}, UpsertIncident{acked}, UpsertIncident{open}}).ok());
  auto active = store_->LoadActiveIncidents().value();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].id, 1);
  EXPECT_EQ(active[1].id, 2);
  ExpectSameChain(active[1].chain, acked.chain);
  // Resolving one removes it; re-opening brings it back.
  open.state = model::IncidentState::kResolved;
  resolved.state = model::IncidentState::kOpen;
  ASSERT_TRUE(store_->Apply({UpsertIncident{open}, UpsertIncident{resolved}}).ok());
  active = store_->LoadActiveIncidents().value();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].id, 2);
  EXPECT_EQ(active[1].id, 3);
}

TEST_F(SqliteStoreTest, ListIncidentsAppliesEveryFilterNewestFirst) {
  const base::Uuid w1 = base::Uuid::Random();
  const base::Uuid w2 = base::Uuid::Random();
  // id: watch, cause, state, project
  std::vector<Mutation> batch;
  auto add = [&](int64_t id, const base::Uuid& w, std::string cause, model::IncidentState st,
                 int64_t project = 1) {
    model::Incident i = FullIncident(id, w);
    i.cause = std::move(cause);
    i.state = st;
    i.project_id = project;
    batch.push_back(UpsertIncident{i});
  };
  using S = model::IncidentState;
  add(1, w1, "timeout", S::kResolved);
  add(2, w2, "fail", S::kOpen);
  add(3, w1, "fail", S::kAcknowledged);
  add(4, w1, "timeout", S::kOpen);
  add(5, w2, "timeout", S::kResolved);
  add(6, w1, "timeout", S::kOpen, 2);
  ASSERT_TRUE(store_->Apply(batch).ok());

  IncidentFilter f;
  f.project_id = 1;
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{5, 4, 3, 2, 1}));
  f.project_id = 2;
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{6}));
  f.project_id = 3;
  EXPECT_TRUE(IncidentIds(f).empty());

  f = IncidentFilter{};
  f.project_id = 1;
  f.states = {S::kOpen, S::kAcknowledged};
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{4, 3, 2}));
  f.states = {S::kResolved};
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{5, 1}));
  f.states = {S::kOpen, S::kOpen, S::kAcknowledged, S::kOpen};  // duplicates are harmless
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{4, 3, 2}));

  f = IncidentFilter{};
  f.project_id = 1;
  f.watch_id = w1;
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{4, 3, 1}));  // not 6: another project
  f.states = {S::kOpen};
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{4}));
  f.watch_id = base::Uuid::Random();
  EXPECT_TRUE(IncidentIds(f).empty());

  f = IncidentFilter{};
  f.project_id = 1;
  f.cause = "fail";
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{3, 2}));
  f.watch_id = w2;
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{2}));

  f = IncidentFilter{};
  f.project_id = 1;
  f.since = kT0 + seconds(3);  // FullIncident opens incident n at kT0 + n s
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{5, 4, 3}));
  f.limit = 2;
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{5, 4}));
  f.limit = 0;
  EXPECT_TRUE(IncidentIds(f).empty());
}

TEST_F(SqliteStoreTest, ListIncidentsPagesWithBeforeId) {
  const base::Uuid w = base::Uuid::Random();
  std::vector<Mutation> batch;
  for (int64_t id = 1; id <= 7; ++id) batch.push_back(UpsertIncident{FullIncident(id, w)});
  ASSERT_TRUE(store_->Apply(batch).ok());
  IncidentFilter f;
  f.project_id = 1;
  f.limit = 3;
  std::vector<int64_t> all;
  for (int page = 0; page < 5; ++page) {
    const std::vector<int64_t> ids = IncidentIds(f);
    if (ids.empty()) break;
    all.insert(all.end(), ids.begin(), ids.end());
    f.before_id = ids.back();
  }
  EXPECT_EQ(all, (std::vector<int64_t>{7, 6, 5, 4, 3, 2, 1}));
  f.before_id = 5;
  f.watch_id = w;
  EXPECT_EQ(IncidentIds(f), (std::vector<int64_t>{4, 3, 2}));
}

TEST_F(SqliteStoreTest, TimelineIsPerIncidentOldestFirstTiesInRecordedOrder) {
  std::vector<Mutation> batch;
  for (int i = 0; i < 4; ++i) {
    model::TimelineEntry e;
    e.incident_id = i % 2 == 0 ? 7 : 8;
    e.at = kT0 - seconds(i);  // time wins over the recorded order
    e.kind = "note";
    e.actor = "ops key";
    e.message = "entry " + std::to_string(i);
    e.data = R"({"i":)" + std::to_string(i) + "}";
    batch.push_back(AppendTimeline{e});
  }
  ASSERT_TRUE(store_->Apply(batch).ok());
  // Same time as entry 0, recorded later: after it.
  ASSERT_TRUE(store_->Apply({AppendTimeline{{7, kT0, "resolved", "check-in", "up", "{}"}}}).ok());
  Reopen();
  auto t = store_->ListTimeline(7).value();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].message, "entry 2");
  EXPECT_EQ(t[1].message, "entry 0");
  EXPECT_EQ(t[2].kind, "resolved");
  EXPECT_EQ(t[0].incident_id, 7);
  EXPECT_EQ(t[0].at, kT0 - seconds(2));
  EXPECT_EQ(t[0].kind, "note");
  EXPECT_EQ(t[0].actor, "ops key");
  EXPECT_EQ(t[0].data, R"({"i":2})");
  EXPECT_EQ(store_->ListTimeline(8).value().size(), 2u);
  EXPECT_TRUE(store_->ListTimeline(9).value().empty());
}

TEST_F(SqliteStoreTest, NotificationRoundTripsEveryFieldAndUpsertReplaces) {
  const model::Notification n = FullNotification(5, 3);
  ASSERT_TRUE(store_->Apply({UpsertNotification{n}}).ok());
  Reopen();
  NotificationFilter f;
  f.project_id = 1;
  auto list = store_->ListNotifications(f).value();
  ASSERT_EQ(list.size(), 1u);
  const model::Notification& g = list[0];
  EXPECT_EQ(g.id, 5);
  EXPECT_EQ(g.incident_id, 3);
  EXPECT_EQ(g.project_id, 1);
  EXPECT_EQ(g.watch_id, n.watch_id);
  EXPECT_EQ(g.channel_id, n.channel_id);
  EXPECT_EQ(g.event, "down");
  EXPECT_EQ(g.idempotency_key, n.idempotency_key);
  EXPECT_EQ(g.context, n.context);
  EXPECT_EQ(g.status, model::NotificationStatus::kPending);
  EXPECT_EQ(g.attempts, 2);
  EXPECT_EQ(g.created, n.created);
  EXPECT_EQ(g.next_attempt_at, n.next_attempt_at);
  EXPECT_EQ(g.finished_at, n.finished_at);
  EXPECT_EQ(g.last_error, "timeout");
  EXPECT_EQ(g.channel_name, "ops mail");
  EXPECT_EQ(g.channel_kind, "email");

  ASSERT_TRUE(store_->Apply({UpsertNotification{Delivered(n)}}).ok());
  list = store_->ListNotifications(f).value();
  ASSERT_EQ(list.size(), 1u);
  ExpectDelivered(list[0]);
  EXPECT_EQ(list[0].idempotency_key, n.idempotency_key);
}

// An attempt's outcome changes the outbox row's delivery state and nothing else.
TEST_F(SqliteStoreTest, UpdateNotificationStateWritesOnlyTheDeliveryState) {
  const model::Notification n = FullNotification(5, 3);
  ASSERT_TRUE(store_->Apply({UpsertNotification{n}}).ok());
  model::Notification changed = Delivered(n);
  changed.context = "{}";  // not written
  changed.event = "recovery";
  changed.channel_name = "renamed";
  ASSERT_TRUE(store_->Apply({UpdateNotificationState{changed}}).ok());
  // An update of a row that does not exist writes nothing.
  ASSERT_TRUE(store_->Apply({UpdateNotificationState{FullNotification(6, 3)}}).ok());
  Reopen();
  NotificationFilter f;
  f.project_id = 1;
  auto list = store_->ListNotifications(f).value();
  ASSERT_EQ(list.size(), 1u);
  ExpectDelivered(list[0]);
  EXPECT_EQ(list[0].context, n.context);
  EXPECT_EQ(list[0].event, "down");
  EXPECT_EQ(list[0].channel_name, "ops mail");
  EXPECT_TRUE(store_->LoadPendingNotifications().value().empty());
}

TEST_F(SqliteStoreTest, LoadPendingNotificationsOnlyPendingOldestFirst) {
  using NS = model::NotificationStatus;
  std::vector<Mutation> batch;
  const std::pair<int64_t, NS> rows[] = {{4, NS::kPending}, {1, NS::kDelivered}, {2, NS::kPending},
                                         {3, NS::kHeld},    {5, NS::kFailed},    {6, NS::kPending}};
  for (const auto& [id, status] : rows) {
    model::Notification n = FullNotification(id, 1);
    n.status = status;
    if (id == 6) n.project_id = 2;  // every project
    batch.push_back(UpsertNotification{n});
  }
  ASSERT_TRUE(store_->Apply(batch).ok());
  auto pending = store_->LoadPendingNotifications().value();
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].id, 2);
  EXPECT_EQ(pending[1].id, 4);
  EXPECT_EQ(pending[2].id, 6);
  model::Notification delivered = FullNotification(2, 1);
  delivered.status = NS::kDelivered;
  ASSERT_TRUE(store_->Apply({UpsertNotification{delivered}}).ok());
  pending = store_->LoadPendingNotifications().value();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, 4);
}

TEST_F(SqliteStoreTest, ListNotificationsAppliesEveryFilterNewestFirst) {
  using NS = model::NotificationStatus;
  std::vector<Mutation> batch;
  // id: incident, status, project
  auto add = [&](int64_t id, int64_t incident, NS status, int64_t project = 1) {
    model::Notification n = FullNotification(id, incident);
    n.status = status;
    n.project_id = project;
    batch.push_back(UpsertNotification{n});
  };
  add(1, 10, NS::kDelivered);
  add(2, 10, NS::kPending);
  add(3, 0, NS::kHeld);  // a late warning: no incident
  add(4, 11, NS::kFailed);
  add(5, 11, NS::kPending);
  add(6, 10, NS::kPending, 2);
  ASSERT_TRUE(store_->Apply(batch).ok());

  NotificationFilter f;
  f.project_id = 1;
  EXPECT_EQ(NotificationIds(f), (std::vector<int64_t>{5, 4, 3, 2, 1}));
  f.project_id = 2;
  EXPECT_EQ(NotificationIds(f), (std::vector<int64_t>{6}));

  f = NotificationFilter{};
  f.project_id = 1;
  f.statuses = {NS::kPending};
  EXPECT_EQ(NotificationIds(f), (std::vector<int64_t>{5, 2}));
  f.statuses = {NS::kHeld, NS::kFailed, NS::kDelivered};
  EXPECT_EQ(NotificationIds(f), (std::vector<int64_t>{4, 3, 1}));

  f = NotificationFilter{};
  f.project_id = 1;
  f.incident_id = 10;
  EXPECT_EQ(NotificationIds(f), (std::vector<int64_t>{2, 1}));  // not 6: another project
  f.statuses = {NS::kDelivered};
  EXPECT_EQ(NotificationIds(f), (std::vector<int64_t>{1}));
  f.incident_id = 12;
  EXPECT_TRUE(NotificationIds(f).empty());

  f = NotificationFilter{};
  f.project_id = 1;
  f.limit = 2;
  EXPECT_EQ(NotificationIds(f), (std::vector<int64_t>{5, 4}));
  f.incident_id = 11;
  f.limit = 1;
  EXPECT_EQ(NotificationIds(f), (std::vector<int64_t>{5}));
}

TEST_F(SqliteStoreTest, AttemptsRoundTripOldestFirst) {
  InsertAttempt failed{
      7, kT0, false, "timeout", 0, "no answer in 10s", seconds(10), kT0 + seconds(30)};
  InsertAttempt rejected{
      7, kT0 - seconds(1), false, "http_status", 503, "busy", std::chrono::microseconds(1234)};
  InsertAttempt ok{7, kT0 + seconds(60), true, "", 200, "", std::chrono::milliseconds(80)};
  InsertAttempt other{8, kT0, true, "", 204, "", seconds(1)};
  ASSERT_TRUE(store_->Apply({failed, rejected, other}).ok());
  ASSERT_TRUE(store_->Apply({ok}).ok());
  Reopen();
  auto got = store_->ListAttempts(7).value();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].notification_id, 7);
  EXPECT_EQ(got[0].at, kT0);
  EXPECT_FALSE(got[0].ok);
  EXPECT_EQ(got[0].reason, "timeout");
  EXPECT_EQ(got[0].code, 0);
  EXPECT_EQ(got[0].detail, "no answer in 10s");
  EXPECT_EQ(got[0].duration, seconds(10));
  EXPECT_EQ(got[0].retry_at, kT0 + seconds(30));
  EXPECT_EQ(got[1].code, 503);  // insertion order, not `at`
  EXPECT_EQ(got[1].duration, std::chrono::microseconds(1234));
  EXPECT_TRUE(got[2].ok);
  EXPECT_EQ(got[2].code, 200);
  EXPECT_EQ(got[2].duration, std::chrono::milliseconds(80));
  EXPECT_EQ(got[2].retry_at, base::TimePoint{});
  EXPECT_EQ(store_->ListAttempts(8).value().size(), 1u);
  EXPECT_TRUE(store_->ListAttempts(9).value().empty());
}

TEST_F(SqliteStoreTest, MaxIncidentAndNotificationIds) {
  EXPECT_EQ(store_->MaxIncidentAndNotificationIds().value(),
            std::make_pair(int64_t{0}, int64_t{0}));
  const base::Uuid w = base::Uuid::Random();
  ASSERT_TRUE(store_
                  ->Apply({UpsertIncident{FullIncident(9, w)}, UpsertIncident{FullIncident(4, w)},
                           UpsertNotification{FullNotification(30, 9)}})
                  .ok());
  Reopen();
  EXPECT_EQ(store_->MaxIncidentAndNotificationIds().value(),
            std::make_pair(int64_t{9}, int64_t{30}));
  ASSERT_TRUE(store_->Apply({UpsertNotification{FullNotification(31, 0)}}).ok());
  EXPECT_EQ(store_->MaxIncidentAndNotificationIds().value(),
            std::make_pair(int64_t{9}, int64_t{31}));
}

// A batch mixing the original mutations with the incident ones commits as one: a failure in
// its last mutation leaves no trace of the others.
TEST_F(SqliteStoreTest, MixedBatchIsAllOrNothing) {
  const model::Watch w = FullWatch();
  const model::Channel c = FullChannel("pager");
  model::Policy p;
  p.id = base::Uuid::Random();
  p.project_id = 1;
  p.name = "on-call";
  model::Silence x;
  x.id = base::Uuid::Random();
  x.project_id = 1;
  model::WatchRuntime rt = w.runtime;
  rt.failures = 5;
  Project dup = project_;
  dup.id = 2;  // same uuid and ping key as project 1: violates UNIQUE
  const std::vector<Mutation> batch{UpsertWatch{w},
                                    UpdateRuntime{w.spec.id, rt},
                                    InsertCheckIn{CheckInFor(w.spec.id, 1)},
                                    UpsertChannel{c},
                                    UpsertPolicy{p},
                                    UpsertSilence{x},
                                    UpsertIncident{FullIncident(1, w.spec.id)},
                                    AppendTimeline{{1, kT0, "opened", "system", "down", "{}"}},
                                    UpsertNotification{FullNotification(1, 1)},
                                    InsertAttempt{1, kT0, true, "", 200, "", seconds(1)},
                                    SetMeta{"last_alive", "1"},
                                    UpsertProject{dup}};
  auto st = store_->Apply(batch);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, base::ErrorCode::kUnavailable);
  EXPECT_FALSE(store_->GetWatch(w.spec.id).value());
  EXPECT_TRUE(store_->ListCheckIns(w.spec.id, 10, false).value().empty());
  EXPECT_TRUE(store_->LoadChannels().value().empty());
  EXPECT_TRUE(store_->LoadPolicies().value().empty());
  EXPECT_TRUE(store_->LoadSilences().value().empty());
  EXPECT_FALSE(store_->GetIncident(1).value());
  EXPECT_TRUE(store_->ListTimeline(1).value().empty());
  EXPECT_TRUE(store_->LoadPendingNotifications().value().empty());
  EXPECT_TRUE(store_->ListAttempts(1).value().empty());
  EXPECT_FALSE(store_->GetMeta("last_alive").value());
  EXPECT_EQ(store_->MaxIncidentAndNotificationIds().value(),
            std::make_pair(int64_t{0}, int64_t{0}));

  // Without the bad mutation the same batch commits whole.
  const std::vector<Mutation> good(batch.begin(), batch.end() - 1);
  ASSERT_TRUE(store_->Apply(good).ok());
  EXPECT_EQ(store_->GetWatch(w.spec.id).value()->runtime.failures, 5);
  EXPECT_EQ(store_->LoadChannels().value().size(), 1u);
  EXPECT_EQ(store_->LoadPolicies().value().size(), 1u);
  EXPECT_EQ(store_->LoadSilences().value().size(), 1u);
  EXPECT_TRUE(store_->GetIncident(1).value());
  EXPECT_EQ(store_->ListTimeline(1).value().size(), 1u);
  EXPECT_EQ(store_->LoadPendingNotifications().value().size(), 1u);
  EXPECT_EQ(store_->ListAttempts(1).value().size(), 1u);
}

// A data dir written by schema 2 (before incidents) opens, migrates, its watches read with no
// failures counted, and the new tables work.
TEST_F(SqliteStoreTest, MigratesASchemaTwoDatabase) {
  const model::Watch w = FullWatch();  // failures = 4, dropped with the column below
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  UndoSchemaThree(db);
  sqlite3_close(db);
  Reopen();
  auto got = store_->GetWatch(w.spec.id).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->runtime.failures, 0);
  EXPECT_EQ(got->spec.name, w.spec.name);
  EXPECT_EQ(got->spec.badge_key, w.spec.badge_key);  // schema 2 data untouched
  EXPECT_EQ(got->runtime.n_pings, w.runtime.n_pings);
  EXPECT_TRUE(store_->LoadActiveIncidents().value().empty());
  model::WatchRuntime rt = got->runtime;
  rt.failures = 1;
  model::Incident inc = FullIncident(1, w.spec.id);
  inc.state = model::IncidentState::kOpen;
  ASSERT_TRUE(store_
                  ->Apply({UpdateRuntime{w.spec.id, rt}, UpsertChannel{FullChannel("pager")},
                           UpsertIncident{inc}, UpsertNotification{FullNotification(1, 1)}})
                  .ok());
  Reopen();
  EXPECT_EQ(store_->GetWatch(w.spec.id).value()->runtime.failures, 1);
  EXPECT_EQ(store_->LoadChannels().value().size(), 1u);
  EXPECT_EQ(store_->LoadActiveIncidents().value().size(), 1u);
  EXPECT_EQ(store_->LoadPendingNotifications().value().size(), 1u);
  EXPECT_EQ(QueryInt("PRAGMA user_version"), 6);
}

// A data dir written by schema 3 (definition and runtime in one row) opens, migrates, and
// every field of every watch survives; runtime updates then go to the narrow table only.
TEST_F(SqliteStoreTest, MigratesASchemaThreeDatabase) {
  const model::Watch w = FullWatch();
  model::Watch other = FullWatch();
  other.spec.id = base::Uuid::Random();
  other.spec.name = "other";
  other.runtime.n_pings = 99;
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}, UpsertWatch{other}}).ok());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  UndoSchemaFour(db);
  sqlite3_close(db);
  Reopen();
  auto got = store_->GetWatch(w.spec.id).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->spec.name, w.spec.name);
  EXPECT_EQ(got->spec.desc, w.spec.desc);
  EXPECT_EQ(got->spec.badge_key, w.spec.badge_key);
  EXPECT_EQ(got->spec.channels, w.spec.channels);
  EXPECT_EQ(got->spec.schedule.grace, w.spec.schedule.grace);
  EXPECT_EQ(got->runtime.status, w.runtime.status);
  EXPECT_EQ(got->runtime.last_ping, w.runtime.last_ping);
  EXPECT_EQ(got->runtime.last_start_rid, w.runtime.last_start_rid);
  EXPECT_EQ(got->runtime.last_duration, w.runtime.last_duration);
  EXPECT_EQ(got->runtime.n_pings, w.runtime.n_pings);
  EXPECT_EQ(got->runtime.failures, w.runtime.failures);
  std::map<std::string, int64_t> pings;
  ASSERT_TRUE(
      store_->LoadWatches([&](model::Watch&& x) { pings[x.spec.name] = x.runtime.n_pings; }).ok());
  EXPECT_EQ(pings, (std::map<std::string, int64_t>{{w.spec.name, 7}, {"other", 99}}));
  model::WatchRuntime rt = got->runtime;
  rt.n_pings = 8;
  ASSERT_TRUE(store_->Apply({UpdateRuntime{w.spec.id, rt}}).ok());
  Reopen();
  EXPECT_EQ(store_->GetWatch(w.spec.id).value()->runtime.n_pings, 8);
  EXPECT_EQ(store_->ListWatches(1).value().size(), 2u);
}

// A data dir written by schema 4 stored the "notification" and "attempt" timeline entries.
// The upgrade takes each notification's channel name and kind from its entry, drops the
// entries the timeline now derives, and keeps every other one (a held notification's, a
// final failure's, a missing channel's, the incident's own).
TEST_F(SqliteStoreTest, MigratesASchemaFourDatabase) {
  model::Notification sent = FullNotification(1, 7);
  model::Notification held = FullNotification(2, 7);
  held.status = model::NotificationStatus::kHeld;
  model::Notification late = FullNotification(3, 0);  // no incident, no entry
  const std::string sent_data =
      R"({"channel":"c","channel_name":"ops mail","event":"down","kind":"email","notification":1})";
  const std::string held_data =
      R"({"channel":"c","channel_name":"pager","event":"down","kind":"webhook","notification":2,"silence":"s"})";
  const std::string attempt_data =
      R"({"notification":1,"channel":"c","channel_name":"ops mail","event":"down","ok":true})";
  ASSERT_TRUE(
      store_
          ->Apply({UpsertNotification{sent}, UpsertNotification{held}, UpsertNotification{late},
                   InsertAttempt{1, kT0, true, "", 204, "", seconds(1)},
                   AppendTimeline{{7, kT0, "opened", "system", "incident opened", "{}"}},
                   AppendTimeline{{7, kT0, "notification", "system", "sent", sent_data}},
                   AppendTimeline{{7, kT0, "held", "system", "held", held_data}},
                   AppendTimeline{{7, kT0, "notification", "system", "channel gone: not notified",
                                   R"({"channel":"x","event":"down"})"}},
                   AppendTimeline{{7, kT0 + seconds(1), "attempt", "notifier", "ok", attempt_data}},
                   AppendTimeline{{7, kT0 + seconds(2), "delivery_failed", "notifier", "failed",
                                   attempt_data}}})
          .ok());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  UndoSchemaFive(db);
  sqlite3_close(db);
  Reopen();
  EXPECT_EQ(QueryInt("PRAGMA user_version"), 6);
  NotificationFilter f;
  f.project_id = 1;
  std::map<int64_t, std::pair<std::string, std::string>> channels;
  const auto listed = store_->ListNotifications(f);
  ASSERT_TRUE(listed.ok());
  for (const auto& n : listed.value()) channels[n.id] = {n.channel_name, n.channel_kind};
  EXPECT_EQ(channels, (std::map<int64_t, std::pair<std::string, std::string>>{
                          {1, {"ops mail", "email"}}, {2, {"pager", "webhook"}}, {3, {"", ""}}}));
  std::vector<std::string> kept;
  const auto timeline = store_->ListTimeline(7);
  ASSERT_TRUE(timeline.ok());
  for (const auto& e : timeline.value()) kept.push_back(e.kind + " " + e.message);
  EXPECT_EQ(kept, (std::vector<std::string>{"opened incident opened", "held held",
                                            "notification channel gone: not notified",
                                            "delivery_failed failed"}));
  EXPECT_EQ(store_->ListAttempts(1).value().at(0).retry_at, base::TimePoint{});
}

// A data dir written by schema 5 kept each notification's context in its outbox row. The
// upgrade moves every context to notification_contexts: pending notifications resume with
// theirs, listed ones show theirs, and a delivery's state no longer rewrites it.
TEST_F(SqliteStoreTest, MigratesASchemaFiveDatabase) {
  model::Notification pending = FullNotification(1, 7);
  pending.context = R"({"watch":"nightly backup","n":1})";
  model::Notification sent = FullNotification(2, 7);
  sent.context = R"({"watch":"hourly sync","n":2})";
  ASSERT_TRUE(store_->Apply({UpsertNotification{pending}, UpsertNotification{sent}}).ok());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  UndoSchemaSix(db);
  sqlite3_close(db);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM notifications WHERE context LIKE '{\"watch\":%'"), 2);
  Reopen();
  EXPECT_EQ(QueryInt("PRAGMA user_version"), 6);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM pragma_table_info('notifications') "
                     "WHERE name = 'context'"),
            0);
  model::Notification delivered = Delivered(sent);
  delivered.context = "not written by a state update";
  ASSERT_TRUE(store_->Apply({UpdateNotificationState{delivered}}).ok());
  const auto resumed = store_->LoadPendingNotifications();
  ASSERT_TRUE(resumed.ok());
  ASSERT_EQ(resumed.value().size(), 1u);
  EXPECT_EQ(resumed.value()[0].context, pending.context);
  NotificationFilter f;
  f.project_id = 1;
  std::map<int64_t, std::string> contexts;
  const auto listed = store_->ListNotifications(f);
  ASSERT_TRUE(listed.ok());
  for (const auto& n : listed.value()) contexts[n.id] = n.context;
  EXPECT_EQ(contexts, (std::map<int64_t, std::string>{{1, pending.context}, {2, sent.context}}));
  // A notification written after the upgrade, and rewritten whole, keeps its last context.
  model::Notification later = FullNotification(3, 8);
  ASSERT_TRUE(store_->Apply({UpsertNotification{later}}).ok());
  later.context = R"({"watch":"rewritten"})";
  ASSERT_TRUE(store_->Apply({UpsertNotification{later}}).ok());
  Reopen();
  const auto all = store_->LoadPendingNotifications();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all.value().size(), 2u);
  EXPECT_EQ(all.value()[1].id, 3);
  EXPECT_EQ(all.value()[1].context, later.context);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM notification_contexts"), 3);
}

// LoadWatches merges two scans in id order: every watch gets its own runtime, a watch whose
// runtime row is missing loads as new, and a runtime row without a watch is skipped.
TEST_F(SqliteStoreTest, LoadWatchesPairsEveryRuntimeWithItsWatch) {
  std::vector<Mutation> batch;
  std::map<std::string, int64_t> want;
  for (int i = 0; i < 300; ++i) {
    model::Watch w = FullWatch();
    w.spec.id = base::Uuid::Random();
    w.spec.name = std::string("w").append(std::to_string(i));
    w.runtime.n_pings = i + 1;
    want[w.spec.name] = i + 1;
    batch.push_back(UpsertWatch{w});
  }
  ASSERT_TRUE(store_->Apply(batch).ok());
  const model::Watch& gone = std::get<UpsertWatch>(batch[17]).watch;
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const std::string del = "DELETE FROM watch_runtime WHERE id='" + gone.spec.id.ToString() + "'";
  for (const std::string& sql :
       {del, std::string("INSERT INTO watch_runtime VALUES "
                         "('00000000-0000-4000-8000-000000000000','up',1,0,NULL,NULL,5,0,0),"
                         "('ffffffff-ffff-4fff-bfff-ffffffffffff','up',1,0,NULL,NULL,5,0,0)")}) {
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
  }
  sqlite3_close(db);
  Reopen();
  want[gone.spec.name] = 0;
  std::map<std::string, int64_t> got;
  model::Status gone_status = model::Status::kDown;
  ASSERT_TRUE(store_
                  ->LoadWatches([&](model::Watch&& w) {
                    got[w.spec.name] = w.runtime.n_pings;
                    if (w.spec.id == gone.spec.id) gone_status = w.runtime.status;
                  })
                  .ok());
  EXPECT_EQ(got, want);
  EXPECT_EQ(gone_status, model::Status::kNew);
  // The statements are reset: a second load sees the same.
  got.clear();
  ASSERT_TRUE(
      store_->LoadWatches([&](model::Watch&& w) { got[w.spec.name] = w.runtime.n_pings; }).ok());
  EXPECT_EQ(got, want);
}

// The runtime lives in its own table, not in the definition's; deleting a watch removes both
// rows, and re-creating it starts from the runtime it is given.
TEST_F(SqliteStoreTest, RuntimeLivesInItsOwnTable) {
  model::Watch w = FullWatch();
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM watch_runtime"), 1);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM pragma_table_info('watches') WHERE name='n_pings'"), 0);
  ASSERT_TRUE(store_->Apply({DeleteWatch{w.spec.id}}).ok());
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM watches"), 0);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM watch_runtime"), 0);
  w.runtime = model::WatchRuntime{};
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  EXPECT_EQ(store_->GetWatch(w.spec.id).value()->runtime.n_pings, 0);
  EXPECT_EQ(store_->GetWatch(w.spec.id).value()->runtime.status, model::Status::kNew);
}

TEST_F(SqliteStoreTest, ABackgroundThreadCopiesTheWalIntoTheDatabase) {
  SqliteOptions o;
  o.checkpoint_pages = 8;
  o.inline_checkpoint_pages = 1 << 30;
  Reopen(o);
  const model::Watch w = FullWatch();
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  const auto db_size = fs::file_size(path_);
  // About 40 pages: far below the 1,000 at which SQLite would checkpoint on its own.
  CheckInOneByOne(w.spec.id, 1, 150, 1000);
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (fs::file_size(path_) <= db_size && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_GT(fs::file_size(path_), db_size) << "no checkpoint copied the WAL into the database";
  EXPECT_GT(store_->WalPages(), 0);
  Reopen(o);
  auto list = store_->ListCheckIns(w.spec.id, 1000, false);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.value().size(), 150u);
}

TEST_F(SqliteStoreTest, TheWriterCheckpointsItselfWhenTheWalGrowsTooLong) {
  // No background checkpoints at all: only the writer's own bound keeps the WAL short.
  SqliteOptions o;
  o.checkpoint_pages = 1 << 30;
  o.inline_checkpoint_pages = 32;
  Reopen(o);
  const model::Watch w = FullWatch();
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  // 300 commits of at least two pages each would make a WAL of 600 or more frames.
  CheckInOneByOne(w.spec.id, 1, 300, 3000);
  constexpr uintmax_t kFrame = 24 + 4096;
  EXPECT_LE(fs::file_size(path_ + "-wal"), 32 + (32 + 16) * kFrame);
  EXPECT_GT(store_->WalPages(), 0);
  EXPECT_LE(store_->WalPages(), 32 + 16);
  auto list = store_->ListCheckIns(w.spec.id, 1000, false);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.value().size(), 300u);
}

// durability=commit: a commit's WAL frames reach the file in one write (wal_vfs.h); relaxed:
// SQLite's own VFS, two writes a frame.
TEST_F(SqliteStoreTest, TheWriterGathersACommitsWalWritesOnlyWithFullSync) {
  const auto commit_100_watches = [&] {
    std::vector<Mutation> batch;
    for (int i = 0; i < 100; ++i) batch.push_back(UpsertWatch{FullWatch()});
    const WalWriteCounts before = WalWrites();
    EXPECT_TRUE(store_->Apply(batch).ok());
    const WalWriteCounts after = WalWrites();
    return WalWriteCounts{after.asked - before.asked, after.written - before.written};
  };
  const WalWriteCounts full = commit_100_watches();
  EXPECT_GE(full.asked, 20);
  EXPECT_LE(full.written, 2);
  SqliteOptions relaxed;
  relaxed.sync_full = false;
  Reopen(relaxed);
  const WalWriteCounts normal = commit_100_watches();
  EXPECT_EQ(normal.asked, 0);
  EXPECT_EQ(normal.written, 0);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM watches"), 200);
}

// The reads the server does on every request or at start-up use an index, not a table scan.
TEST_F(SqliteStoreTest, IncidentAndOutboxReadsUseIndexes) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  auto plan = [&](const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &s, nullptr),
              SQLITE_OK)
        << sql;
    std::string out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
      out += "; ";
    }
    sqlite3_finalize(s);
    return out;
  };
  // The WHERE clauses of the store's statements, parameters unbound as when it prepares them.
  const std::pair<const char*, const char*> cases[] = {
      {"SELECT * FROM incidents WHERE state != 'resolved' ORDER BY id", "incidents_active"},
      {"SELECT * FROM incidents WHERE project_id=?1 AND id<?2 AND state IN (?3,?4,?5) AND "
       "(?6='' OR cause=?6) AND opened_at>=?7 ORDER BY id DESC LIMIT ?8",
       "incidents_by_project"},
      {"SELECT * FROM incidents WHERE watch_id=?9 AND +project_id=?1 AND id<?2 AND +state IN "
       "(?3,?4,?5) AND (?6='' OR cause=?6) AND opened_at>=?7 ORDER BY id DESC LIMIT ?8",
       "incidents_by_watch"},
      {"SELECT * FROM incidents WHERE id=?1", "INTEGER PRIMARY KEY"},
      {"SELECT * FROM timeline WHERE incident_id=?1 ORDER BY id", "timeline_by_incident"},
      {"SELECT * FROM notifications WHERE status = 'pending' ORDER BY id", "notifications_pending"},
      {"SELECT * FROM notifications WHERE project_id=?1 AND status IN (?2,?3,?4,?5) ORDER BY id "
       "DESC LIMIT ?6",
       "notifications_by_project"},
      {"SELECT * FROM notifications WHERE incident_id=?7 AND +project_id=?1 AND +status IN "
       "(?2,?3,?4,?5) ORDER BY id DESC LIMIT ?6",
       "notifications_by_incident"},
      {"SELECT * FROM attempts WHERE notification_id=?1 ORDER BY id", "attempts_by_notification"},
      {"SELECT * FROM silences WHERE watch_id=?1", "silences_by_watch"},
  };
  for (const auto& [sql, index] : cases) {
    EXPECT_NE(plan(sql).find(index), std::string::npos) << sql << " → " << plan(sql);
  }
  sqlite3_close(db);
}

}  // namespace
}  // namespace overdue::store
