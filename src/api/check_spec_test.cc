#include "api/check_spec.h"

#include <gtest/gtest.h>

namespace overdue::api {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

std::string ErrorOf(const json& body, CheckSpecLimits limits = {}) {
  auto r = ParseCheckSpec(body, limits);
  return r.ok() ? "" : r.error().message;
}

TEST(CheckSpecTest, AcceptsEveryFieldWithItsType) {
  auto r = ParseCheckSpec(json::parse(R"({
    "name": "backup", "slug": "backup-db", "tags": "prod db", "desc": "nightly",
    "timeout": 3600, "grace": 60, "manual_resume": true, "methods": "POST",
    "start_kw": "go", "success_kw": "ok", "failure_kw": "err", "filter_subject": false,
    "filter_body": false, "filter_http_body": true, "filter_default_fail": true,
    "channels": "*", "unique": ["name", "slug"], "api_key": "ignored-here"})"),
                          {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r.value().name, "backup");
  EXPECT_EQ(*r.value().timeout, seconds(3600));
  EXPECT_EQ(*r.value().grace, seconds(60));
  EXPECT_EQ(r.value().unique->size(), 2u);
}

TEST(CheckSpecTest, TypeErrorsUseHealthchecksMessages) {
  EXPECT_EQ(ErrorOf(json::parse(R"({"name": 5})")), "json validation error: name is not a string");
  EXPECT_EQ(ErrorOf(json::parse(R"({"name": null})")),
            "json validation error: name is not a string");
  EXPECT_EQ(ErrorOf(json::parse(R"({"timeout": "60"})")),
            "json validation error: timeout is not a number");
  EXPECT_EQ(ErrorOf(json::parse(R"({"timeout": 60.5})")),
            "json validation error: timeout is not a number");
  EXPECT_EQ(ErrorOf(json::parse(R"({"grace": null})")),
            "json validation error: grace is not a number");
  EXPECT_EQ(ErrorOf(json::parse(R"({"manual_resume": 1})")),
            "json validation error: manual_resume is not a boolean");
  EXPECT_EQ(ErrorOf(json::parse(R"({"unique": "name"})")),
            "json validation error: unique is not an array");
  EXPECT_EQ(ErrorOf(json::parse(R"({"unique": ["desc"]})")),
            "json validation error: an item in 'unique' has unexpected value");
  EXPECT_EQ(ErrorOf(json::parse(R"({"methods": "GET"})")),
            "json validation error: methods has unexpected value");
  EXPECT_EQ(ErrorOf(json::parse(R"({"methods": null})")),
            "json validation error: methods has unexpected value");
  EXPECT_EQ(ErrorOf(json::parse("[1]")), "json validation error: value is not an object");
}

TEST(CheckSpecTest, RangesLengthsAndPatterns) {
  EXPECT_EQ(ErrorOf(json::parse(R"({"timeout": 59})")),
            "json validation error: timeout is too small");
  EXPECT_EQ(ErrorOf(json::parse(R"({"timeout": 31536001})")),
            "json validation error: timeout is too large");
  // Found by check_spec_fuzz: counts too large for microseconds are refused, not overflowed.
  EXPECT_EQ(ErrorOf(json::parse(R"({"timeout": 36555555555555555})")),
            "json validation error: timeout is too large");
  EXPECT_EQ(ErrorOf(json::parse(R"({"grace": -36555555555555555})")),
            "json validation error: grace is too small");
  EXPECT_EQ(ErrorOf(json::parse(R"({"grace": 18446744073709551615})")),
            "json validation error: grace is too large");
  // true is 1 second in Python, so too small rather than the wrong type.
  EXPECT_EQ(ErrorOf(json::parse(R"({"timeout": true})")),
            "json validation error: timeout is too small");
  EXPECT_EQ(ErrorOf(json{{"name", std::string(101, 'a')}}),
            "json validation error: name is too long");
  // 100 characters of two bytes each is not too long: length counts characters.
  std::string hundred;
  for (int i = 0; i < 100; ++i) hundred += "\xC3\xA9";
  EXPECT_EQ(ErrorOf(json{{"name", hundred}}), "");
  EXPECT_EQ(ErrorOf(json{{"success_kw", std::string(201, 'a')}}),
            "json validation error: success_kw is too long");
  EXPECT_EQ(ErrorOf(json::parse(R"({"slug": "Has Caps"})")),
            "json validation error: slug does not match pattern");
  // The configured minimum replaces healthchecks' 60 s.
  EXPECT_EQ(ErrorOf(json::parse(R"({"timeout": 5})"), CheckSpecLimits{seconds(1), true}), "");
}

TEST(CheckSpecTest, ScheduleAndTimeZone) {
  EXPECT_EQ(ErrorOf(json::parse(R"({"schedule": "*/5 * * * *", "tz": "Europe/Paris"})")), "");
  EXPECT_EQ(ErrorOf(json::parse(R"({"schedule": "61 * * * *"})")),
            "json validation error: schedule is not a valid cron or OnCalendar expression");
  EXPECT_EQ(ErrorOf(json::parse(R"({"schedule": ""})")),
            "json validation error: schedule is not a valid cron or OnCalendar expression");
  // OnCalendar is not supported: refused with healthchecks' message for a bad expression.
  EXPECT_EQ(ErrorOf(json::parse(R"({"schedule": "Mon *-*-* 12:00"})")),
            "json validation error: schedule is not a valid cron or OnCalendar expression");
  EXPECT_EQ(ErrorOf(json::parse(R"({"tz": "Mars/Base"})")),
            "json validation error: tz is not a valid timezone");
}

TEST(CheckSpecTest, FirstErrorInHealthchecksFieldOrder) {
  // desc comes before name and timeout in healthchecks' Spec.
  EXPECT_EQ(ErrorOf(json::parse(R"({"timeout": 1, "name": 1, "desc": 1})")),
            "json validation error: desc is not a string");
}

TEST(CheckSpecTest, UnknownFieldsAreRefused) {
  EXPECT_EQ(ErrorOf(json::parse(R"({"timout": 60})")),
            "json validation error: unknown field 'timout'");
  EXPECT_EQ(ErrorOf(json::parse(R"({"unique": ["name"]})"), CheckSpecLimits{seconds(60), false}),
            "json validation error: unknown field 'unique'");
}

TEST(CheckSpecTest, ApplyFollowsHealthchecksUpdate) {
  model::WatchSpec w;
  w.name = "old";
  w.schedule.period = seconds(3600);
  auto spec = ParseCheckSpec(json::parse(R"({"schedule": "0 3 * * *", "tz": "Europe/Oslo"})"), {});
  ASSERT_TRUE(spec.ok());
  ApplyCheckSpec(spec.value(), w);
  EXPECT_EQ(w.schedule.kind, model::Schedule::Kind::kCron);
  EXPECT_EQ(w.schedule.cron, "0 3 * * *");
  EXPECT_EQ(w.schedule.tz, "Europe/Oslo");
  EXPECT_EQ(w.name, "old");  // absent fields are left alone

  auto back = ParseCheckSpec(json::parse(R"({"timeout": 120, "subject": "OK"})"), {});
  ASSERT_TRUE(back.ok());
  ApplyCheckSpec(back.value(), w);
  EXPECT_EQ(w.schedule.kind, model::Schedule::Kind::kPeriod);
  EXPECT_EQ(w.schedule.period, seconds(120));
  EXPECT_EQ(w.success_kw, "OK");
  EXPECT_TRUE(w.filter_subject);
}

TEST(CheckSpecTest, UniqueMatching) {
  model::WatchSpec w;
  w.name = "db";
  w.slug = "db";
  w.schedule.period = seconds(3600);
  auto spec = ParseCheckSpec(json::parse(R"({"name": "db", "timeout": 3600,
                                             "unique": ["name", "timeout"]})"),
                             {});
  ASSERT_TRUE(spec.ok());
  EXPECT_TRUE(MatchesUnique(spec.value(), w));
  w.schedule.period = seconds(60);
  EXPECT_FALSE(MatchesUnique(spec.value(), w));
  // A unique field absent from the spec never matches.
  auto partial = ParseCheckSpec(json::parse(R"({"name": "db", "unique": ["slug"]})"), {});
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(MatchesUnique(partial.value(), w));
}

}  // namespace
}  // namespace overdue::api
