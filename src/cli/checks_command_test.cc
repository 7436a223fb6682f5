#include "cli/checks_command.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/test_receiver.h"

namespace overdue::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using Verb = ChecksRequest::Verb;

constexpr const char* kUuid = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10";

base::TimePoint At(const char* iso) { return *ParseIsoTime(iso); }

TEST(ParseSecondsFlagTest, AcceptsBareSecondsAndUnits) {
  EXPECT_EQ(ParseSecondsFlag("--timeout", "60").value(), 60);
  EXPECT_EQ(ParseSecondsFlag("--timeout", "90s").value(), 90);
  EXPECT_EQ(ParseSecondsFlag("--timeout", "5m").value(), 300);
  EXPECT_EQ(ParseSecondsFlag("--timeout", "2h").value(), 7200);
  EXPECT_EQ(ParseSecondsFlag("--timeout", "1d").value(), 86400);
  EXPECT_EQ(ParseSecondsFlag("--timeout", "1h30m").value(), 5400);
}

TEST(ParseSecondsFlagTest, ErrorsNameTheFlagAndTheRule) {
  auto bad = ParseSecondsFlag("--grace", "5x");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("--grace: \"5x\""));
  auto frac = ParseSecondsFlag("--timeout", "1500ms");
  ASSERT_FALSE(frac.ok());
  EXPECT_THAT(frac.error().message, HasSubstr("whole seconds"));
  EXPECT_FALSE(ParseSecondsFlag("--timeout", "-5m").ok());
}

TEST(BuildCheckBodyTest, OnlyGivenFieldsGoIntoTheBody) {
  CheckFields f;
  f.name = "backup";
  f.grace = "5m";
  f.timeout = "1h";
  auto body = BuildCheckBody(f);
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(body.value(), json({{"name", "backup"}, {"grace", 300}, {"timeout", 3600}}));
}

TEST(BuildCheckBodyTest, EveryField) {
  CheckFields f;
  f.name = "n";
  f.slug = "s";
  f.tags = "a b";
  f.desc = "d";
  f.schedule = "*/5 * * * *";
  f.tz = "Europe/Paris";
  f.grace = "90";
  f.manual_resume = false;
  f.unique = "name, slug";
  auto body = BuildCheckBody(f);
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(body.value(), json({{"name", "n"},
                                {"slug", "s"},
                                {"tags", "a b"},
                                {"desc", "d"},
                                {"schedule", "*/5 * * * *"},
                                {"tz", "Europe/Paris"},
                                {"grace", 90},
                                {"manual_resume", false},
                                {"unique", {"name", "slug"}}}));
}

TEST(BuildCheckBodyTest, TimeoutAndScheduleExcludeEachOther) {
  CheckFields f;
  f.timeout = "1h";
  f.schedule = "* * * * *";
  auto body = BuildCheckBody(f);
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("--timeout and --schedule"));
}

TEST(BuildCheckBodyTest, EmptyUniqueItemIsRefused) {
  CheckFields f;
  f.unique = "name,,slug";
  EXPECT_FALSE(BuildCheckBody(f).ok());
}

TEST(ParseIsoTimeTest, HealthchecksFormatsAndOffsets) {
  const auto t = ParseIsoTime("2020-03-24T14:02:03+00:00");
  ASSERT_TRUE(t);
  EXPECT_EQ(base::FormatIso8601(*t), "2020-03-24T14:02:03+00:00");
  EXPECT_EQ(ParseIsoTime("2020-03-24T14:02:03Z"), t);
  EXPECT_EQ(ParseIsoTime("2020-03-24T16:02:03+02:00"), t);
  EXPECT_EQ(ParseIsoTime("2020-03-24T13:32:03-00:30"), t);
  EXPECT_EQ(ParseIsoTime("2020-03-24T14:02:03.250000+00:00"), *t + std::chrono::milliseconds(250));
  EXPECT_FALSE(ParseIsoTime("2020-03-24"));
  EXPECT_FALSE(ParseIsoTime("2020-02-30T00:00:00+00:00"));
  EXPECT_FALSE(ParseIsoTime("2020-03-24T14:02:03"));
  EXPECT_FALSE(ParseIsoTime("garbage"));
}

TEST(FormatRelativeTest, PastFutureAndNever) {
  const auto now = At("2026-01-10T12:00:00+00:00");
  EXPECT_EQ(FormatRelative(std::nullopt, now), "never");
  EXPECT_EQ(FormatRelative(now, now), "just now");
  EXPECT_EQ(FormatRelative(now - std::chrono::seconds(45), now), "45s ago");
  EXPECT_EQ(FormatRelative(now - std::chrono::minutes(5), now), "5m ago");
  EXPECT_EQ(FormatRelative(now - std::chrono::minutes(179), now), "2h ago");
  EXPECT_EQ(FormatRelative(now - std::chrono::hours(50), now), "2d ago");
  EXPECT_EQ(FormatRelative(now + std::chrono::minutes(5), now), "in 5m");
}

TEST(FormatScheduleTest, PeriodCronAndOnce) {
  EXPECT_EQ(FormatSchedule(json{{"timeout", 3600}}), "every 1h");
  EXPECT_EQ(FormatSchedule(json{{"timeout", 5400}}), "every 1h30m");
  EXPECT_EQ(FormatSchedule(json{{"schedule", "*/5 * * * *"}, {"tz", "Europe/Paris"}}),
            "*/5 * * * * Europe/Paris");
  EXPECT_EQ(FormatSchedule(json{{"once", "2026-02-01T00:00:00+00:00"}}),
            "once 2026-02-01T00:00:00+00:00");
  EXPECT_EQ(FormatSchedule(json::object()), "-");
}

TEST(FormatChecksTableTest, AlignedColumnsWithoutTrailingSpaces) {
  const auto now = At("2026-01-10T12:00:00+00:00");
  const json checks = json::array({
      {{"name", "Backups"},
       {"slug", "backups"},
       {"status", "up"},
       {"last_ping", "2026-01-10T11:55:00+00:00"},
       {"timeout", 86400},
       {"uuid", kUuid}},
      {{"name", "Café job"},
       {"slug", ""},
       {"status", "new"},
       {"last_ping", nullptr},
       {"schedule", "*/5 * * * *"},
       {"tz", "UTC"},
       {"unique_key", "a6c7b0a8a66bed0df66abfdab3c77736861703ee"}},
  });
  EXPECT_EQ(FormatChecksTable(checks, now),
            "NAME      SLUG     STATUS  LAST PING  SCHEDULE         UUID\n"
            "Backups   backups  up      5m ago     every 1d         "
            "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10\n"
            "Café job  -        new     never      */5 * * * * UTC  "
            "a6c7b0a8a66bed0df66abfdab3c77736861703ee\n");
}

TEST(FormatCheckDetailsTest, LabelledLinesForFieldsThatAreSet) {
  const auto now = At("2026-01-10T12:00:00+00:00");
  const json check = {{"name", "Backups"},    {"slug", "backups"},   {"uuid", kUuid},
                      {"status", "paused"},   {"tags", "prod db"},   {"desc", ""},
                      {"grace", 300},         {"timeout", 3600},     {"last_ping", nullptr},
                      {"next_ping", nullptr}, {"methods", "POST"},   {"manual_resume", true},
                      {"success_kw", "DONE"}, {"filter_body", true}, {"filter_default_fail", true}};
  const std::string text = FormatCheckDetails(check, now);
  EXPECT_THAT(text, HasSubstr("name:            Backups\n"));
  EXPECT_THAT(text, HasSubstr("uuid:            " + std::string(kUuid) + "\n"));
  EXPECT_THAT(text, HasSubstr("status:          paused\n"));
  EXPECT_THAT(text, HasSubstr("schedule:        every 1h\n"));
  EXPECT_THAT(text, HasSubstr("grace:           5m\n"));
  EXPECT_THAT(text, HasSubstr("last ping:       never\n"));
  EXPECT_THAT(text, HasSubstr("methods:         POST only"));
  EXPECT_THAT(text, HasSubstr("manual resume:   yes\n"));
  EXPECT_THAT(text, HasSubstr("success keyword: DONE\n"));
  EXPECT_THAT(text, HasSubstr("keywords in:     email body; no keyword = failure\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("description")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("next ping")));
}

class RunChecksTest : public ::testing::Test {
 protected:
  ChecksRequest Request(Verb verb, std::string id = "") {
    ChecksRequest r;
    r.verb = verb;
    r.client.url = receiver_.url();
    r.client.api_key = "key";
    r.id = std::move(id);
    return r;
  }
  int Run(const ChecksRequest& r) { return RunChecks(r, out_, err_); }

  TestReceiver receiver_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(RunChecksTest, ListSendsTagAndSlugFilters) {
  ChecksRequest r = Request(Verb::kList);
  r.tags = {"prod", "a b"};
  r.slug = "db";
  r.json = true;
  EXPECT_EQ(Run(r), kExitOk);
  EXPECT_EQ(out_.str(), "OK\n");  // --json prints the body unchanged
  ASSERT_EQ(receiver_.requests().size(), 1u);
  EXPECT_EQ(receiver_.requests()[0].target, "/api/v3/checks/?tag=prod&tag=a%20b&slug=db");
}

TEST_F(RunChecksTest, CreatePostsTheBody) {
  ChecksRequest r = Request(Verb::kCreate);
  r.fields.name = "n";
  r.fields.timeout = "5m";
  r.json = true;
  EXPECT_EQ(Run(r), kExitOk);
  const auto req = receiver_.requests().at(0);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/api/v3/checks/");
  EXPECT_EQ(json::parse(req.body), json({{"name", "n"}, {"timeout", 300}}));
  EXPECT_EQ(req.headers.at("x-api-key"), "key");
}

TEST_F(RunChecksTest, UpdatePauseResumeDeleteUseTheCheckPath) {
  ChecksRequest update = Request(Verb::kUpdate, kUuid);
  update.fields.grace = "1h";
  update.json = true;
  EXPECT_EQ(Run(update), kExitOk);
  ChecksRequest pause = Request(Verb::kPause, kUuid);
  pause.json = true;
  EXPECT_EQ(Run(pause), kExitOk);
  ChecksRequest resume = Request(Verb::kResume, kUuid);
  resume.json = true;
  EXPECT_EQ(Run(resume), kExitOk);
  ChecksRequest del = Request(Verb::kDelete, kUuid);
  del.json = true;
  EXPECT_EQ(Run(del), kExitOk);
  const auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  const std::string path = std::string("/api/v3/checks/") + kUuid;
  EXPECT_EQ(reqs[0].method + " " + reqs[0].target, "POST " + path);
  EXPECT_EQ(json::parse(reqs[0].body), json({{"grace", 3600}}));
  EXPECT_EQ(reqs[1].method + " " + reqs[1].target, "POST " + path + "/pause");
  EXPECT_EQ(reqs[2].method + " " + reqs[2].target, "POST " + path + "/resume");
  EXPECT_EQ(reqs[3].method + " " + reqs[3].target, "DELETE " + path);
}

TEST_F(RunChecksTest, StatusesMapToExitCodes) {
  receiver_.QueueStatuses({404, 401, 403, 400, 409, 500});
  EXPECT_EQ(Run(Request(Verb::kShow, kUuid)), kExitNotFound);
  EXPECT_EQ(Run(Request(Verb::kShow, kUuid)), kExitAuth);
  EXPECT_EQ(Run(Request(Verb::kDelete, kUuid)), kExitAuth);
  ChecksRequest create = Request(Verb::kCreate);
  create.fields.name = "x";
  EXPECT_EQ(Run(create), kExitRejected);
  EXPECT_EQ(Run(Request(Verb::kResume, kUuid)), kExitRejected);
  EXPECT_EQ(Run(Request(Verb::kList)), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("check " + std::string(kUuid) + ": not found (HTTP 404"));
}

TEST_F(RunChecksTest, UnreachableServerIsSix) {
  ChecksRequest r = Request(Verb::kList);
  r.client.url = "http://127.0.0.1:" + std::to_string(UnusedPort());
  EXPECT_EQ(Run(r), kExitUnreachable);
  EXPECT_THAT(err_.str(), HasSubstr("cannot reach"));
}

TEST_F(RunChecksTest, UsageErrorsSendNothing) {
  ChecksRequest no_key = Request(Verb::kList);
  no_key.client.api_key = "";
  EXPECT_EQ(Run(no_key), kExitUsage);
  EXPECT_EQ(Run(Request(Verb::kPause, "not-a-uuid")), kExitUsage);
  EXPECT_EQ(Run(Request(Verb::kUpdate, kUuid)), kExitUsage);  // nothing to update
  ChecksRequest bad_duration = Request(Verb::kCreate);
  bad_duration.fields.grace = "5 minutes";
  EXPECT_EQ(Run(bad_duration), kExitUsage);
  EXPECT_TRUE(receiver_.requests().empty());
  EXPECT_THAT(err_.str(), HasSubstr("no API key"));
  EXPECT_THAT(err_.str(), HasSubstr("\"not-a-uuid\": must be a check's UUID"));
  EXPECT_THAT(err_.str(), HasSubstr("nothing to update"));
  EXPECT_THAT(err_.str(), HasSubstr("--grace"));
}

TEST_F(RunChecksTest, NonJsonAnswerWithoutJsonFlagIsAnError) {
  EXPECT_EQ(Run(Request(Verb::kList)), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("not a JSON object"));
}

}  // namespace
}  // namespace overdue::cli
