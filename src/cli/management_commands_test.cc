#include "cli/management_commands.h"

#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/test_receiver.h"

namespace overdue::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kUuid = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10";

class ManagementCommandsTest : public ::testing::Test {
 protected:
  // Parses `args` as the overdue command line and runs the management command; -1 when the
  // command line named none, the CLI11 exit code (as main maps it) on a parse error.
  int Run(std::vector<std::string> args) {
    CLI::App app{"test"};
    app.name("overdue");
    ManagementCommands commands(app);
    std::vector<const char*> argv = {"overdue"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    } catch (const CLI::ParseError& e) {
      return e.get_exit_code() == 0 ? 0 : kExitUsage;
    }
    auto getenv = [this](const char* name) -> const char* {
      const auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
    return commands.RunIfParsed(getenv, in_, out_, err_).value_or(-1);
  }

  TestReceiver receiver_;
  std::map<std::string, std::string> env_ = {{"HOME", "/nonexistent"}};
  std::istringstream in_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(ManagementCommandsTest, CreateFlagsBecomeTheBody) {
  EXPECT_EQ(Run({"checks",          "create",      "--url",     receiver_.url(),
                 "--api-key",       "k",           "--name",    "db",
                 "--slug",          "db",          "--tags",    "prod db",
                 "--schedule",      "*/5 * * * *", "--tz",      "Europe/Paris",
                 "--grace",         "5m",          "--desc",    "nightly",
                 "--manual-resume", "--unique",    "name,slug", "--json"}),
            kExitOk);
  const auto req = receiver_.requests().at(0);
  EXPECT_EQ(req.headers.at("x-api-key"), "k");
  EXPECT_EQ(json::parse(req.body), json::parse(R"({"name": "db", "slug": "db",
      "tags": "prod db", "schedule": "*/5 * * * *", "tz": "Europe/Paris", "grace": 300,
      "desc": "nightly", "manual_resume": true, "unique": ["name", "slug"]})"));
}

TEST_F(ManagementCommandsTest, UpdateSendsOnlyWhatWasGiven) {
  env_["OVERDUE_URL"] = receiver_.url();
  env_["OVERDUE_API_KEY"] = "env-key";
  EXPECT_EQ(Run({"checks", "update", kUuid, "--no-manual-resume", "--timeout", "90", "--json"}),
            kExitOk);
  const auto req = receiver_.requests().at(0);
  EXPECT_EQ(req.target, std::string("/api/v3/checks/") + kUuid);
  EXPECT_EQ(req.headers.at("x-api-key"), "env-key");
  EXPECT_EQ(json::parse(req.body), json({{"manual_resume", false}, {"timeout", 90}}));
}

TEST_F(ManagementCommandsTest, ListRepeatsTag) {
  EXPECT_EQ(Run({"checks", "list", "--url", receiver_.url(), "--api-key", "k", "--tag", "a",
                 "--tag", "b", "--json"}),
            kExitOk);
  EXPECT_EQ(receiver_.requests().at(0).target, "/api/v3/checks/?tag=a&tag=b");
}

TEST_F(ManagementCommandsTest, TimeoutWithScheduleIsAUsageError) {
  EXPECT_EQ(Run({"checks", "create", "--timeout", "1h", "--schedule", "* * * * *"}), kExitUsage);
  EXPECT_EQ(Run({"checks"}), kExitUsage);
  EXPECT_EQ(Run({"checks", "show"}), kExitUsage);
  EXPECT_TRUE(receiver_.requests().empty());
}

TEST_F(ManagementCommandsTest, OtherCommandsAreNotOurs) { EXPECT_EQ(Run({}), -1); }

TEST_F(ManagementCommandsTest, ExportUsesTheTarget) {
  EXPECT_EQ(Run({"export", "--url", receiver_.url(), "--api-key", "k", "--history"}), kExitOk);
  EXPECT_EQ(receiver_.requests().at(0).target, "/api/v1/export?history=1");
  EXPECT_EQ(out_.str(), "OK");
}

TEST_F(ManagementCommandsTest, ImportNeedsAFileOrASource) {
  EXPECT_EQ(Run({"import", "--url", receiver_.url(), "--api-key", "k"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--from-healthchecks"));
  EXPECT_EQ(Run({"import", "x.json", "--from-healthchecks", receiver_.url()}), kExitUsage);
  EXPECT_EQ(Run({"import", "-", "--dry-run", "--api-key", "k"}), kExitUsage);
  EXPECT_TRUE(receiver_.requests().empty());
}

TEST_F(ManagementCommandsTest, ImportFileTakesApiKeyForOverdue) {
  in_.str("{}");
  EXPECT_EQ(Run({"import", "-", "--url", receiver_.url(), "--api-key", "od-key", "--json"}),
            kExitOk);
  EXPECT_EQ(receiver_.requests().at(0).headers.at("x-api-key"), "od-key");
}

TEST_F(ManagementCommandsTest, FromHealthchecksApiKeyIsTheSourceKey) {
  receiver_.QueueStatuses({401});
  EXPECT_EQ(Run({"import", "--from-healthchecks", receiver_.url(), "--api-key", "hc-key",
                 "--to-url", receiver_.url(), "--to-api-key", "od-key"}),
            kExitAuth);
  EXPECT_EQ(receiver_.requests().at(0).headers.at("x-api-key"), "hc-key");
}

TEST_F(ManagementCommandsTest, FromHealthchecksKeyMayComeFromTheEnvironment) {
  receiver_.QueueStatuses({401});
  env_["HEALTHCHECKS_API_KEY"] = "env-hc-key";
  env_["OVERDUE_API_KEY"] = "od-key";
  EXPECT_EQ(Run({"import", "--from-healthchecks", receiver_.url()}), kExitAuth);
  EXPECT_EQ(receiver_.requests().at(0).headers.at("x-api-key"), "env-hc-key");
}

}  // namespace
}  // namespace overdue::cli
