#include "store/sqlite/sqlite_store.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <sqlite3.h>

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
  void Reopen() {
    store_.reset();
    auto s = OpenSqlite(SqliteOptions{path_, true});
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
    return w;
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
  EXPECT_FALSE(store_->GetWatch(base::Uuid::Random()).value());
}

TEST_F(SqliteStoreTest, UpdateRuntimeTouchesOnlyRuntime) {
  model::Watch w = FullWatch();
  ASSERT_TRUE(store_->Apply({UpsertWatch{w}}).ok());
  model::WatchRuntime rt;
  rt.status = model::Status::kDown;
  rt.n_pings = 8;
  ASSERT_TRUE(store_->Apply({UpdateRuntime{w.spec.id, rt}}).ok());
  auto g = store_->GetWatch(w.spec.id).value().value();
  EXPECT_EQ(g.runtime.status, model::Status::kDown);
  EXPECT_EQ(g.runtime.n_pings, 8);
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

}  // namespace
}  // namespace overdue::store
