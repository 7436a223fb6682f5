#include "cli/migrate_command.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/test_receiver.h"

namespace overdue::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

// A check as healthchecks' GET /api/v3/checks/ returns it with a read-write key.
json HealthchecksCheck() {
  return json::parse(R"({
    "name": "Filesystem Backup", "slug": "filesystem-backup", "tags": "backup fs",
    "desc": "Runs incremental backup every hour", "grace": 600, "n_pings": 1, "status": "up",
    "started": false, "last_ping": "2020-03-24T14:02:03+00:00",
    "next_ping": "2020-03-24T15:02:03+00:00", "manual_resume": false, "methods": "",
    "subject": "SUCCESS", "subject_fail": "ERROR", "start_kw": "START", "success_kw": "SUCCESS",
    "failure_kw": "ERROR", "filter_subject": true, "filter_body": false,
    "filter_http_body": false, "filter_default_fail": false,
    "badge_url": "https://hc.example/b/2/1b9d0386-d07e-44b0-8995-4a9a372de43c.svg",
    "uuid": "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10",
    "ping_url": "https://hc-ping.com/5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10",
    "update_url": "https://hc.example/api/v3/checks/5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10",
    "pause_url": "https://hc.example/api/v3/checks/5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10/pause",
    "resume_url": "https://hc.example/api/v3/checks/5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10/resume",
    "channels": "", "timeout": 3600})");
}

TEST(SpecFromHealthchecksTest, CopiesTheCreateSpecAndNothingElse) {
  auto spec = SpecFromHealthchecks(HealthchecksCheck());
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec.value(), json::parse(R"({
    "name": "Filesystem Backup", "slug": "filesystem-backup", "tags": "backup fs",
    "desc": "Runs incremental backup every hour", "grace": 600, "manual_resume": false,
    "methods": "", "start_kw": "START", "success_kw": "SUCCESS", "failure_kw": "ERROR",
    "filter_subject": true, "filter_body": false, "filter_http_body": false,
    "filter_default_fail": false, "timeout": 3600})"));
}

TEST(SpecFromHealthchecksTest, CronScheduleKeepsItsTimeZone) {
  json check = HealthchecksCheck();
  check.erase("timeout");
  check["schedule"] = "15 5 * * 1-5";
  check["tz"] = "Europe/Paris";
  auto spec = SpecFromHealthchecks(check);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec.value()["schedule"], "15 5 * * 1-5");
  EXPECT_EQ(spec.value()["tz"], "Europe/Paris");
  EXPECT_FALSE(spec.value().contains("timeout"));
}

TEST(SpecFromHealthchecksTest, OnCalendarScheduleIsRefused) {
  json check = HealthchecksCheck();
  check.erase("timeout");
  check["schedule"] = "Mon..Fri *-*-* 09:00:00";
  auto spec = SpecFromHealthchecks(check);
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.error().message, HasSubstr("OnCalendar"));
}

TEST(SpecFromHealthchecksTest, ReadOnlyKeyIsNamed) {
  json check = HealthchecksCheck();
  check.erase("uuid");
  check["unique_key"] = "a6c7b0a8a66bed0df66abfdab3c77736861703ee";
  auto spec = SpecFromHealthchecks(check);
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.error().message, HasSubstr("read-write key"));
}

TEST(SpecFromHealthchecksTest, OlderHealthchecksSubjectBecomesKeywords) {
  json check = HealthchecksCheck();
  for (const char* k : {"success_kw", "failure_kw", "start_kw", "filter_subject", "filter_body",
                        "filter_http_body", "filter_default_fail"}) {
    check.erase(k);
  }
  check["subject"] = "OK";
  check["subject_fail"] = "FAIL";
  auto spec = SpecFromHealthchecks(check);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec.value()["success_kw"], "OK");
  EXPECT_EQ(spec.value()["failure_kw"], "FAIL");
  EXPECT_EQ(spec.value()["filter_subject"], true);
}

TEST(ChangedFieldsTest, NamesFieldsThatDiffer) {
  const json spec = SpecFromHealthchecks(HealthchecksCheck()).value();
  json current = HealthchecksCheck();
  EXPECT_TRUE(ChangedFields(spec, current).empty());
  current["grace"] = 60;
  current["tags"] = "backup";
  EXPECT_EQ(ChangedFields(spec, current), (std::vector<std::string>{"grace", "tags"}));
}

TEST(ChangedFieldsTest, PeriodAgainstCronIsAChange) {
  const json spec = SpecFromHealthchecks(HealthchecksCheck()).value();
  json current = HealthchecksCheck();
  current.erase("timeout");
  current["schedule"] = "* * * * *";
  current["tz"] = "UTC";
  EXPECT_EQ(ChangedFields(spec, current), std::vector<std::string>{"timeout"});
}

class FileCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "overdue-migrate-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    target_.url = receiver_.url();
    target_.api_key = "key";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  TestReceiver receiver_;
  ClientConfig target_;
  std::istringstream in_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(FileCommandsTest, ExportWritesTheBodyAndAsksForHistory) {
  EXPECT_EQ(ExportCommand({target_, "", true}, out_, err_), kExitOk);
  EXPECT_EQ(out_.str(), "OK");
  ASSERT_EQ(receiver_.requests().size(), 1u);
  EXPECT_EQ(receiver_.requests()[0].target, "/api/v1/export?history=1");
  EXPECT_EQ(receiver_.requests()[0].headers.at("x-api-key"), "key");
}

TEST_F(FileCommandsTest, ExportFailureWritesNothingToStdout) {
  receiver_.QueueStatuses({401});
  EXPECT_EQ(ExportCommand({target_, "", false}, out_, err_), kExitAuth);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(receiver_.requests()[0].target, "/api/v1/export");
}

TEST_F(FileCommandsTest, ImportPostsTheFileUnchanged) {
  const std::string content = R"({"format": "overdue-export", "version": 1, "checks": []})";
  const std::string path = (dir_ / "backup.json").string();
  std::ofstream(path) << content;
  EXPECT_EQ(ImportFileCommand({target_, "", path, true}, in_, out_, err_), kExitOk);
  ASSERT_EQ(receiver_.requests().size(), 1u);
  EXPECT_EQ(receiver_.requests()[0].method, "POST");
  EXPECT_EQ(receiver_.requests()[0].target, "/api/v1/import");
  EXPECT_EQ(receiver_.requests()[0].body, content);
}

TEST_F(FileCommandsTest, ImportReadsStdinForDash) {
  in_.str("{\"format\": \"overdue-export\"}");
  EXPECT_EQ(ImportFileCommand({target_, "", "-", true}, in_, out_, err_), kExitOk);
  EXPECT_EQ(receiver_.requests().at(0).body, "{\"format\": \"overdue-export\"}");
}

TEST_F(FileCommandsTest, MissingFileIsAUsageError) {
  const std::string path = (dir_ / "absent.json").string();
  EXPECT_EQ(ImportFileCommand({target_, "", path, false}, in_, out_, err_), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr(path));
  EXPECT_TRUE(receiver_.requests().empty());
}

TEST_F(FileCommandsTest, RejectedImportIsFive) {
  receiver_.QueueStatuses({400});
  in_.str("{}");
  EXPECT_EQ(ImportFileCommand({target_, "", "-", false}, in_, out_, err_), kExitRejected);
}

TEST_F(FileCommandsTest, HealthchecksImportNeedsTheSourceKey) {
  HealthchecksImport options;
  options.source_url = receiver_.url();
  options.target = target_;
  EXPECT_EQ(ImportFromHealthchecks(options, out_, err_), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--api-key"));
}

TEST_F(FileCommandsTest, HealthchecksWrongKeyIsFour) {
  receiver_.QueueStatuses({401});
  HealthchecksImport options;
  options.source_url = receiver_.url() + "/api/v3/";
  options.source_key = "hc-key";
  options.target = target_;
  EXPECT_EQ(ImportFromHealthchecks(options, out_, err_), kExitAuth);
  ASSERT_EQ(receiver_.requests().size(), 1u);
  EXPECT_EQ(receiver_.requests()[0].target, "/api/v3/checks/");
  EXPECT_EQ(receiver_.requests()[0].headers.at("x-api-key"), "hc-key");
  EXPECT_THAT(err_.str(), HasSubstr("healthchecks at " + receiver_.url()));
}

}  // namespace
}  // namespace overdue::cli
