#include "server/admin.h"

#include <stdlib.h>

#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/key_ring.h"
#include "store/sqlite/sqlite_store.h"

namespace overdue::server {
namespace {

namespace fs = std::filesystem;

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "overdue-admin-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    store::SqliteOptions o;
    o.path = (fs::path(dir_) / "overdue.db").string();
    o.sync_full = false;
    auto opened = store::OpenSqlite(o);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened.value());
    auto first = CreateProject(*store_, clock_, "default");
    ASSERT_TRUE(first.ok()) << first.error().message;
    first_ = first.value();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  // Runs a command line against the same data dir, as `overdue projects|keys` would.
  int Run(AdminCommand c, std::string* out = nullptr, std::string* err = nullptr) {
    c.data_dir = dir_;
    std::ostringstream o, e;
    const int code = RunAdmin(c, o, e);
    if (out) *out = o.str();
    if (err) *err = e.str();
    return code;
  }

  base::ManualClock clock_{base::FromMicros(1'700'000'000'000'000)};
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  NewProject first_;
};

TEST_F(AdminTest, CreateProjectStoresKeysHashedWithPrefix) {
  auto r = CreateProject(*store_, clock_, "staging");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().project.id, first_.project.id + 1);
  EXPECT_EQ(r.value().project.name, "staging");
  EXPECT_EQ(r.value().project.ping_key.size(), 22u);
  EXPECT_TRUE(base::Uuid::Parse(r.value().project.badge_key));
  EXPECT_NE(r.value().project.ping_key, first_.project.ping_key);
  EXPECT_EQ(r.value().api_key.substr(0, 4), "hcw_");
  EXPECT_EQ(r.value().api_key_readonly.substr(0, 4), "hcr_");

  auto keys = ListKeys(*store_, r.value().project.id);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys.value().size(), 2u);
  for (const store::ApiKey& k : keys.value()) {
    const std::string& clear = k.read_only ? r.value().api_key_readonly : r.value().api_key;
    EXPECT_EQ(k.hash, api::KeyRing::Hash(clear));
    EXPECT_EQ(k.prefix, clear.substr(0, 8));
    EXPECT_EQ(k.hash.find(clear), std::string::npos);
  }
  auto projects = store_->LoadProjects();
  ASSERT_TRUE(projects.ok());
  EXPECT_EQ(projects.value().size(), 2u);
}

TEST_F(AdminTest, CreateProjectRefusesDuplicateAndEmptyNames) {
  auto dup = CreateProject(*store_, clock_, "default");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, base::ErrorCode::kAlreadyExists);
  auto empty = CreateProject(*store_, clock_, "");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, base::ErrorCode::kInvalidArgument);
}

TEST_F(AdminTest, FindProjectByIdUuidNameAndDefault) {
  auto second = CreateProject(*store_, clock_, "staging");
  ASSERT_TRUE(second.ok());
  const store::Project& s = second.value().project;
  EXPECT_EQ(FindProject(*store_, "2").value().uuid, s.uuid);
  EXPECT_EQ(FindProject(*store_, s.uuid.ToString()).value().id, s.id);
  EXPECT_EQ(FindProject(*store_, "staging").value().id, s.id);
  // Several projects: the default is id 1.
  EXPECT_EQ(FindProject(*store_, "").value().id, first_.project.id);
}

TEST_F(AdminTest, FindProjectUnknownIsNotFoundAndListsProjects) {
  auto r = FindProject(*store_, "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("\"default\""), std::string::npos) << r.error().message;

  AdminCommand c;
  c.verb = AdminCommand::Verb::kKeysCreate;
  c.project = "nope";
  std::string out, err;
  EXPECT_EQ(Run(c, &out, &err), kExitNotFound);
  EXPECT_EQ(out, "");
  EXPECT_NE(err.find("project \"nope\" not found"), std::string::npos) << err;
}

TEST_F(AdminTest, CreateKeyThenListNeverShowsTheKey) {
  AdminCommand create;
  create.verb = AdminCommand::Verb::kKeysCreate;
  create.read_only = true;
  create.name = "grafana";
  create.json = true;
  std::string out;
  ASSERT_EQ(Run(create, &out), kExitOk);
  const auto created = nlohmann::json::parse(out);
  const std::string key = created["key"];
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(key.substr(0, 4), "hcr_");
  EXPECT_EQ(created["prefix"], key.substr(0, 8));
  EXPECT_EQ(created["kind"], "read-only");

  AdminCommand list;
  list.verb = AdminCommand::Verb::kKeysList;
  ASSERT_EQ(Run(list, &out), kExitOk);
  EXPECT_EQ(out.find(key), std::string::npos);
  EXPECT_NE(out.find(key.substr(0, 8)), std::string::npos);
  EXPECT_NE(out.find("grafana"), std::string::npos);
  EXPECT_NE(out.find("read-only"), std::string::npos);

  list.json = true;
  ASSERT_EQ(Run(list, &out), kExitOk);
  EXPECT_EQ(out.find(key), std::string::npos);
  const auto listed = nlohmann::json::parse(out)["keys"];
  ASSERT_EQ(listed.size(), 3u);  // the project's two default keys and the new one
  EXPECT_EQ(listed[2]["name"], "grafana");
  EXPECT_EQ(listed[2]["project"], first_.project.uuid.ToString());
}

TEST_F(AdminTest, RevokeByPrefixAndByWholeKey) {
  auto a = CreateKey(*store_, clock_, first_.project, false, "a");
  auto b = CreateKey(*store_, clock_, first_.project, true, "b");
  ASSERT_TRUE(a.ok() && b.ok());

  auto revoked = RevokeKey(*store_, a.value().key.prefix);
  ASSERT_TRUE(revoked.ok()) << revoked.error().message;
  EXPECT_EQ(revoked.value().hash, a.value().key.hash);

  revoked = RevokeKey(*store_, b.value().secret);
  ASSERT_TRUE(revoked.ok()) << revoked.error().message;
  EXPECT_EQ(revoked.value().name, "b");

  auto keys = ListKeys(*store_, 0);
  ASSERT_TRUE(keys.ok());
  for (const store::ApiKey& k : keys.value()) {
    EXPECT_NE(k.hash, a.value().key.hash);
    EXPECT_NE(k.hash, b.value().key.hash);
  }
  // Gone: revoking again is "not found", and the whole key is never echoed.
  auto again = RevokeKey(*store_, b.value().secret);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(again.error().message.find(b.value().secret), std::string::npos);
}

TEST_F(AdminTest, AmbiguousPrefixRevokesNothingAndListsMatches) {
  // Both default read-write keys of two projects start with "hcw_".
  auto second = CreateProject(*store_, clock_, "staging");
  ASSERT_TRUE(second.ok());
  auto r = RevokeKey(*store_, "hcw_");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::ErrorCode::kConflict);
  EXPECT_NE(r.error().message.find(first_.api_key.substr(0, 8)), std::string::npos);
  EXPECT_NE(r.error().message.find(second.value().api_key.substr(0, 8)), std::string::npos);
  EXPECT_EQ(ListKeys(*store_, 0).value().size(), 4u);

  AdminCommand c;
  c.verb = AdminCommand::Verb::kKeysRevoke;
  c.argument = "hcw_";
  std::string err;
  EXPECT_EQ(Run(c, nullptr, &err), kExitError);
  EXPECT_NE(err.find("matches 2 keys"), std::string::npos) << err;

  c.argument = "hc";  // too short to be taken as a prefix
  EXPECT_EQ(Run(c), kExitUsage);
  c.argument = "hcw_zzzz";
  EXPECT_EQ(Run(c), kExitNotFound);
}

TEST_F(AdminTest, PingKeyValidation) {
  EXPECT_TRUE(ValidatePingKey("a").ok());
  EXPECT_TRUE(ValidatePingKey("AZaz09_-").ok());
  EXPECT_TRUE(ValidatePingKey(std::string(64, 'k')).ok());
  for (std::string_view bad : {"", "has space", "slash/key", "dot.key", "ümlaut", "a%20"}) {
    auto st = ValidatePingKey(bad);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.error().code, base::ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(ValidatePingKey(std::string(65, 'k')).ok());
}

TEST_F(AdminTest, SetPingKeyIsUniqueAcrossProjects) {
  auto second = CreateProject(*store_, clock_, "staging");
  ASSERT_TRUE(second.ok());
  auto taken = SetPingKey(*store_, second.value().project, first_.project.ping_key);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, base::ErrorCode::kAlreadyExists);

  auto set = SetPingKey(*store_, second.value().project, "migrated-from_hc");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(FindProject(*store_, "staging").value().ping_key, "migrated-from_hc");
  // Setting a project's own key again is fine.
  EXPECT_TRUE(SetPingKey(*store_, set.value(), "migrated-from_hc").ok());

  AdminCommand c;
  c.verb = AdminCommand::Verb::kKeysSetPingKey;
  c.project = "staging";
  c.argument = "bad key";
  EXPECT_EQ(Run(c), kExitUsage);
  c.argument = first_.project.ping_key;
  EXPECT_EQ(Run(c), kExitError);
}

TEST_F(AdminTest, RotatePingKeyReplacesIt) {
  auto rotated = RotatePingKey(*store_, first_.project);
  ASSERT_TRUE(rotated.ok());
  EXPECT_NE(rotated.value().ping_key, first_.project.ping_key);
  EXPECT_TRUE(ValidatePingKey(rotated.value().ping_key).ok());
  EXPECT_EQ(FindProject(*store_, "").value().ping_key, rotated.value().ping_key);
  // Everything else about the project is unchanged.
  EXPECT_EQ(rotated.value().uuid, first_.project.uuid);
  EXPECT_EQ(rotated.value().badge_key, first_.project.badge_key);
}

TEST_F(AdminTest, ProjectsCommandsPrintJson) {
  AdminCommand create;
  create.verb = AdminCommand::Verb::kProjectsCreate;
  create.argument = "staging";
  create.json = true;
  std::string out;
  ASSERT_EQ(Run(create, &out), kExitOk);
  const auto made = nlohmann::json::parse(out);
  EXPECT_EQ(made["id"], 2);
  EXPECT_EQ(made["name"], "staging");
  EXPECT_EQ(std::string(made["api_key"]).substr(0, 4), "hcw_");

  AdminCommand list;
  list.verb = AdminCommand::Verb::kProjectsList;
  list.json = true;
  ASSERT_EQ(Run(list, &out), kExitOk);
  const auto projects = nlohmann::json::parse(out)["projects"];
  ASSERT_EQ(projects.size(), 2u);
  EXPECT_EQ(projects[1]["project"], made["project"]);
  EXPECT_EQ(projects[1]["ping_key"], made["ping_key"]);
  EXPECT_EQ(projects[1]["api_keys"], 2);
  EXPECT_EQ(out.find(std::string(made["api_key"])), std::string::npos);
}

TEST(AdminCommandTest, MissingDataDirIsNotFoundAndCreatesNothing) {
  const fs::path dir = fs::temp_directory_path() / "overdue-admin-test-missing" / "data";
  AdminCommand c;
  c.verb = AdminCommand::Verb::kProjectsList;
  c.data_dir = dir.string();
  std::ostringstream out, err;
  EXPECT_EQ(RunAdmin(c, out, err), kExitNotFound);
  EXPECT_NE(err.str().find("overdue init"), std::string::npos) << err.str();
  EXPECT_FALSE(fs::exists(dir));
}

}  // namespace
}  // namespace overdue::server
