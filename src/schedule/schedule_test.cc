#include "schedule/schedule.h"

#include <string>

#include <gtest/gtest.h>

namespace overdue::schedule {
namespace {

using base::TimePoint;
using model::Schedule;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr base::Duration kMin = minutes(1);
const TimePoint kT0 = base::FromMicros(int64_t{1'700'000'000} * 1'000'000);  // 2023-11-14T22:13:20Z

std::string ErrorOf(const Schedule& s, base::Duration min_period = kMin) {
  const base::Status st = Validate(s, min_period);
  EXPECT_FALSE(st.ok());
  return st.ok() ? "" : st.error().message;
}

Schedule Cron(std::string expr, std::string tz) {
  Schedule s;
  s.kind = Schedule::Kind::kCron;
  s.cron = std::move(expr);
  s.tz = std::move(tz);
  return s;
}

TEST(ValidateTest, AcceptsHealthchecksDefaultsAndLimits) {
  EXPECT_TRUE(Validate(Schedule{}, kMin).ok());  // period 1 day, grace 1 hour
  Schedule s;
  s.period = minutes(1);
  s.grace = days(365);
  EXPECT_TRUE(Validate(s, kMin).ok());
  EXPECT_TRUE(Validate(Cron("0 3 * * 1-5", "Europe/Berlin"), kMin).ok());
  Schedule once;
  once.kind = Schedule::Kind::kOnce;
  once.once_at = kT0;
  EXPECT_TRUE(Validate(once, kMin).ok());
}

TEST(ValidateTest, PeriodAndGraceWithinMinPeriodAndOneYear) {
  Schedule s;
  s.period = seconds(30);
  EXPECT_EQ(ErrorOf(s), "period: 30s is below the minimum 1m (min_period)");
  s.period = days(366);
  EXPECT_EQ(ErrorOf(s), "period: 366d is above the maximum 365d");
  s.period = hours(1);
  s.grace = seconds(30);
  EXPECT_EQ(ErrorOf(s), "grace: 30s is below the minimum 1m (min_period)");
  s.grace = days(365) + seconds(1);
  EXPECT_EQ(ErrorOf(s), "grace: 365d1s is above the maximum 365d");
  s.grace = -seconds(5);
  EXPECT_EQ(ErrorOf(s), "grace: -5s is below the minimum 1m (min_period)");
}

TEST(ValidateTest, MinPeriodIsConfigurable) {
  Schedule s;
  s.period = seconds(10);
  s.grace = seconds(10);
  EXPECT_TRUE(Validate(s, seconds(1)).ok());
  EXPECT_EQ(ErrorOf(s, seconds(20)), "period: 10s is below the minimum 20s (min_period)");
}

TEST(ValidateTest, PeriodCountsOnlyForPeriodSchedules) {
  Schedule s = Cron("0 * * * *", "UTC");
  s.period = seconds(1);
  EXPECT_TRUE(Validate(s, kMin).ok());
  s.grace = seconds(1);  // grace counts for every kind
  EXPECT_EQ(ErrorOf(s), "grace: 1s is below the minimum 1m (min_period)");
}

TEST(ValidateTest, CronErrorsNameTheCronField) {
  EXPECT_EQ(ErrorOf(Cron("61 * * * *", "UTC")), "cron: \"61 * * * *\": minute must be 0-59");
  EXPECT_EQ(ErrorOf(Cron("* * * *", "UTC")), "cron: \"* * * *\": expected 5 fields, got 4");
  EXPECT_EQ(ErrorOf(Cron("1 1 */100 * MON#4", "UTC")),
            "cron: \"1 1 */100 * MON#4\": never matches (no minute from 2000 to 2050 fits)");
}

TEST(ValidateTest, UnknownTimeZoneNamesTheTzField) {
  EXPECT_EQ(ErrorOf(Cron("0 * * * *", "Mars/Base")), "tz: \"Mars/Base\": unknown time zone");
}

TEST(ValidateTest, OnceNeedsItsDeadline) {
  Schedule s;
  s.kind = Schedule::Kind::kOnce;
  EXPECT_EQ(ErrorOf(s), "once_at: must be set");
}

TEST(NextExpectedTest, PeriodIsLastPingPlusPeriod) {
  Schedule s;
  s.period = hours(6);
  EXPECT_EQ(NextExpected(s, nullptr, kT0), kT0 + hours(6));
  EXPECT_EQ(NextExpected(s, nullptr, base::kNever - hours(1)), base::kNever);  // saturates
}

TEST(NextExpectedTest, CronIsTheNextMatchAfterLastPing) {
  const Schedule s = Cron("0 3 * * *", "Europe/Berlin");
  auto cron = CompileCron(s.cron, s.tz);
  ASSERT_TRUE(cron.ok());
  // 2023-11-14T22:13:20Z is 23:13 in Berlin; next 03:00 CET is 02:00Z.
  EXPECT_EQ(NextExpected(s, cron.value().get(), kT0), kT0 + hours(3) + minutes(46) + seconds(40));
}

TEST(NextExpectedTest, OnceIsDueUntilTheFirstCheckIn) {
  Schedule s;
  s.kind = Schedule::Kind::kOnce;
  s.once_at = kT0 + hours(6);
  EXPECT_EQ(NextExpected(s, nullptr, base::kNoTime), kT0 + hours(6));
  EXPECT_EQ(NextExpected(s, nullptr, kT0), base::kNever);
  EXPECT_EQ(NextExpected(s, nullptr, kT0 + hours(7)), base::kNever);  // late check-in ends it too
}

}  // namespace
}  // namespace overdue::schedule
