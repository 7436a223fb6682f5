#include "schedule/cron.h"

#include <cstdio>
#include <string>
#include <vector>

#include <date/date.h>
#include <date/tz.h>
#include <gtest/gtest.h>

namespace overdue::schedule {
namespace {

using base::TimePoint;

// "2021-03-28T01:30:00+02:00" → instant. Tests read like cronsim's: local time and offset.
TimePoint At(const std::string& text) {
  int y, mo, d, h, mi, sec, oh, om;
  char sign;
  const int n = std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d%c%d:%d", &y, &mo, &d, &h, &mi, &sec,
                            &sign, &oh, &om);
  EXPECT_EQ(n, 9) << text;
  const auto day = date::sys_days{date::year{y} / mo / d};
  const std::chrono::seconds offset = std::chrono::hours(oh) + std::chrono::minutes(om);
  const auto t = day + std::chrono::hours(h) + std::chrono::minutes(mi) +
                 std::chrono::seconds(sec) - (sign == '-' ? -offset : offset);
  return TimePoint{t.time_since_epoch()};
}

std::string Local(TimePoint t, const date::time_zone* zone) {
  if (t == base::kNever) return "never";
  const auto secs = date::floor<std::chrono::seconds>(t);
  return date::format("%FT%T%Ez", date::zoned_time<std::chrono::seconds>{zone, secs});
}

CronSchedule Parsed(const std::string& expr) {
  auto c = ParseCron(expr);
  EXPECT_TRUE(c.ok()) << expr << ": " << c.error().message;
  return c.ok() ? c.value() : CronSchedule{};
}

std::string ErrorOf(const std::string& expr, const std::string& tz = "UTC") {
  auto c = CompileCron(expr, tz);
  EXPECT_FALSE(c.ok()) << expr << " was accepted";
  return c.ok() ? "" : c.error().message;
}

// Successive NextCron answers from a start, each the `after` of the next (as cronsim's
// iterator), shown as local times in the schedule's zone.
std::vector<std::string> Iterate(const std::string& expr, const std::string& tz,
                                 const std::string& start, int n) {
  auto c = CompileCron(expr, tz);
  EXPECT_TRUE(c.ok()) << expr << " " << tz;
  if (!c.ok()) return {};
  std::vector<std::string> out;
  TimePoint t = At(start);
  for (int i = 0; i < n; ++i) {
    t = NextCron(*c.value(), t);
    out.push_back(Local(t, c.value()->zone));
    if (t == base::kNever) break;
  }
  return out;
}

uint64_t Bits(std::initializer_list<int> values) {
  uint64_t m = 0;
  for (int v : values) m |= uint64_t{1} << v;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(ParseCronTest, StarsSelectWholeFields) {
  const CronSchedule c = Parsed("* * * * *");
  EXPECT_EQ(c.minutes, (uint64_t{1} << 60) - 1);
  EXPECT_EQ(c.hours, (uint32_t{1} << 24) - 1);
  EXPECT_EQ(c.days, 0xfffffffeu);
  EXPECT_EQ(c.months, 0x1ffe);
  EXPECT_EQ(c.weekdays, 0x7f);
  EXPECT_TRUE(c.day_and);
  EXPECT_FALSE(c.wall_clock);
}

TEST(ParseCronTest, NumbersRangesListsAndSteps) {
  const CronSchedule c = Parsed("0,15-17,*/20 1-23/11 2,4 */5 1-3");
  EXPECT_EQ(c.minutes, Bits({0, 15, 16, 17, 20, 40}));
  EXPECT_EQ(c.hours, Bits({1, 12, 23}));
  EXPECT_EQ(c.days, Bits({2, 4}));
  EXPECT_EQ(c.months, Bits({1, 6, 11}));
  EXPECT_EQ(c.weekdays, Bits({1, 2, 3}));
  EXPECT_FALSE(c.day_and);
  EXPECT_TRUE(c.wall_clock);
}

TEST(ParseCronTest, StepFromASingleValueRunsToTheFieldsEnd) {
  EXPECT_EQ(Parsed("5/15 * * * *").minutes, Bits({5, 20, 35, 50}));
  EXPECT_EQ(Parsed("5-5/15 * * * *").minutes, Bits({5, 20, 35, 50}));  // as cronsim
  EXPECT_EQ(Parsed("*/100 * * * *").minutes, Bits({0}));
  EXPECT_EQ(Parsed("* * 10/100 * *").days, Bits({10}));
}

TEST(ParseCronTest, WeekdayStepsCountOverZeroToSeven) {
  EXPECT_EQ(Parsed("* * * * */3").weekdays, Bits({0, 3, 6}));  // Sunday, Wednesday, Saturday
  EXPECT_EQ(Parsed("* * * * */2").weekdays, Bits({0, 2, 4, 6}));
  EXPECT_EQ(Parsed("* * * * 1-7/2").weekdays, Bits({1, 3, 5, 0}));  // 7 is Sunday
  EXPECT_EQ(Parsed("* * * * 5/2").weekdays, Bits({5, 0}));
}

TEST(ParseCronTest, ZeroAndSevenAreBothSunday) {
  EXPECT_EQ(Parsed("* * * * 0").weekdays, Bits({0}));
  EXPECT_EQ(Parsed("* * * * 7").weekdays, Bits({0}));
  EXPECT_EQ(Parsed("* * * * 7L").last_weekdays, Bits({0}));
  EXPECT_EQ(Parsed("* * * * 7#2").nth_weekdays, Bits({2}));
  EXPECT_EQ(Parsed("* * * * 5-7").weekdays, Bits({5, 6, 0}));
}

TEST(ParseCronTest, MonthAndWeekdayNamesInAnyCase) {
  const CronSchedule c = Parsed("0 0 * jan-Mar,DEC,jun/3 mon-FRI,sun");
  EXPECT_EQ(c.months, Bits({1, 2, 3, 6, 9, 12}));
  EXPECT_EQ(c.weekdays, Bits({0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(Parsed("0 0 * * SUN-SAT").weekdays, 0x7f);
  EXPECT_EQ(Parsed("0 0 * * wed#3").nth_weekdays, Bits({8 * 3 + 3}));
}

TEST(ParseCronTest, CronsimExtensionsLastAndNth) {
  EXPECT_TRUE(Parsed("0 0 L * *").last_day);
  EXPECT_TRUE(Parsed("0 0 lw * *").last_workday);
  EXPECT_TRUE(Parsed("0 0 L/3 * *").last_day);  // cronsim keeps L under a step
  EXPECT_EQ(Parsed("0 0 * * 5L").last_weekdays, Bits({5}));
  EXPECT_EQ(Parsed("0 0 * * 1#2,5#5").nth_weekdays, Bits({8 + 2, 40 + 5}));
}

TEST(ParseCronTest, DayFieldsCombineWithAndWhenEitherStartsWithAStar) {
  EXPECT_FALSE(Parsed("0 0 1 * MON").day_and);
  EXPECT_TRUE(Parsed("0 0 */2 * MON").day_and);
  EXPECT_TRUE(Parsed("0 0 1 * *").day_and);
  EXPECT_TRUE(Parsed("0 0 1 * */7").day_and);
  EXPECT_FALSE(Parsed("0 0 1,* * MON").day_and);  // only the first character counts
}

TEST(ParseCronTest, WallClockRuleDependsOnTheMinuteAndHourText) {
  EXPECT_TRUE(Parsed("30 2 * * *").wall_clock);
  EXPECT_TRUE(Parsed("0 1-5 * * *").wall_clock);
  EXPECT_TRUE(Parsed("0,30 0-23 * * *").wall_clock);
  EXPECT_FALSE(Parsed("0 */2 * * *").wall_clock);
  EXPECT_FALSE(Parsed("*/5 3 * * *").wall_clock);
  EXPECT_FALSE(Parsed("* 3 * * *").wall_clock);
}

TEST(ParseCronTest, ErrorsNameTheFieldAndTheRule) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"61 * * * *", "\"61 * * * *\": minute must be 0-59"},
      {"* * * *", "\"* * * *\": expected 5 fields, got 4"},
      {"", "\"\": expected 5 fields, got 0"},
      {"* * * * * *", "\"* * * * * *\": expected 5 fields, got 6"},
      {"* 24 * * *", "\"* 24 * * *\": hour must be 0-23"},
      {"* * 0 * *", "\"* * 0 * *\": day-of-month must be 1-31"},
      {"* * 32 * *", "\"* * 32 * *\": day-of-month must be 1-31"},
      {"* * * 13 *", "\"* * * 13 *\": month must be 1-12"},
      {"* * * * 8", "\"* * * * 8\": day-of-week must be 0-7"},
      {"-1 * * * *", "\"-1 * * * *\": minute has an empty value in \"-1\""},
      {"ab * * * *", "\"ab * * * *\": minute \"ab\" is not a number"},
      {"* * * Janu *", "\"* * * Janu *\": month \"Janu\" is not a number or month name (JAN-DEC)"},
      {"* * * * Mo",
       "\"* * * * Mo\": day-of-week \"Mo\" is not a number or weekday name (SUN-SAT)"},
      {"*/0 * * * *", "\"*/0 * * * *\": minute step must be at least 1"},
      {"*/ * * * *", "\"*/ * * * *\": minute has an empty value in \"*/\""},
      {"/5 * * * *", "\"/5 * * * *\": minute has an empty value in \"/5\""},
      {"5-1 * * * *", "\"5-1 * * * *\": minute range \"5-1\" runs backwards (no wrap-around)"},
      {"* * * * SAT-SUN",
       "\"* * * * SAT-SUN\": day-of-week range \"SAT-SUN\" runs backwards (no wrap-around)"},
      {"1,,2 * * * *", "\"1,,2 * * * *\": minute has an empty list item in \"1,,2\""},
      {"1-1_0 * * * *", "\"1-1_0 * * * *\": minute \"1_0\" is not a number"},
      {"* * * * 1#6", "\"* * * * 1#6\": day-of-week \"1#6\": the week number after # must be 1-5"},
      {"* * * * 1#0", "\"* * * * 1#0\": day-of-week \"1#0\": the week number after # must be 1-5"},
      {"* * * * MONL",
       "\"* * * * MONL\": day-of-week \"MONL\": L must follow a weekday number, as in 5L (last "
       "Friday)"},
      {"* * * * 5L-6",
       "\"* * * * 5L-6\": day-of-week \"5L-6\": L must follow a weekday number, as in 5L (last "
       "Friday)"},
      {"* * L-2 * *", "\"* * L-2 * *\": day-of-month \"L\" is not a number"},
      {"* * * L *", "\"* * * L *\": month \"L\" is not a number or month name (JAN-DEC)"},
      {"* * 30 2 *", "\"* * 30 2 *\": day-of-month 30 never occurs in the chosen months"},
      {"* * 31 4,6 *", "\"* * 31 4,6 *\": day-of-month 31 never occurs in the chosen months"},
      {"¹ * * * *", "\"¹ * * * *\": minute \"¹\" is not a number"},
      {"\x01 * * * *", "\"\\x01 * * * *\": minute \"\\x01\" is not a number"},
  };
  for (const auto& [expr, message] : cases) EXPECT_EQ(ErrorOf(expr), message) << expr;
}

TEST(ParseCronTest, AcceptsWhatCronsimAccepts) {
  for (const char* expr : {"0 0 29 2 *", "0 0 31 1-12 *", "0 0 30,L 2 *", "\t0  0\n* * *\r",
                           "0 0 * * 0L", "1 1 */100,1-7 * MON", "59 23 31 12 7"}) {
    EXPECT_TRUE(ParseCron(expr).ok()) << expr;
  }
}

TEST(ParseCronTest, RefusesOverlongExpressionsWithoutQuotingThemWhole) {
  const std::string expr = "* * * * " + std::string(kMaxCronText, '1');
  EXPECT_EQ(ErrorOf(expr),
            "\"* * * * 1111111111111111111111\"...: must be at most 1000 characters");
}

TEST(CompileCronTest, NamesTheUnknownTimeZone) {
  EXPECT_EQ(ErrorOf("0 * * * *", "Mars/Base"), "tz: \"Mars/Base\": unknown time zone");
  EXPECT_EQ(ErrorOf("0 * * * *", ""), "tz: \"\": unknown time zone");
  EXPECT_EQ(ErrorOf("0 * * * *", "../../etc/passwd"),
            "tz: \"../../etc/passwd\": unknown time zone");
  EXPECT_EQ(ErrorOf("0 * * * *", "localtime"), "tz: \"localtime\": unknown time zone");
  EXPECT_EQ(ErrorOf("0 * * * *", "europe/berlin"), "tz: \"europe/berlin\": unknown time zone");
  EXPECT_TRUE(CompileCron("0 * * * *", "US/Eastern").ok());  // links are zones too
  // The expression is checked first.
  EXPECT_EQ(ErrorOf("61 * * * *", "Mars/Base"), "\"61 * * * *\": minute must be 0-59");
}

TEST(CompileCronTest, KeepsTheTextAndTheZone) {
  auto c = CompileCron("0 3 * * 1-5", "Europe/Berlin");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value()->expr, "0 3 * * 1-5");
  EXPECT_EQ(c.value()->tz, "Europe/Berlin");
  ASSERT_NE(c.value()->zone, nullptr);
  EXPECT_EQ(c.value()->zone->name(), "Europe/Berlin");
}

// ---------------------------------------------------------------------------------------------
// Evaluation without DST

TEST(NextCronTest, IsStrictlyAfterTheGivenInstant) {
  auto c = CompileCron("*/5 * * * *", "UTC");
  ASSERT_TRUE(c.ok());
  const CronSchedule& cron = *c.value();
  EXPECT_EQ(NextCron(cron, At("2024-05-01T12:03:10+00:00")), At("2024-05-01T12:05:00+00:00"));
  EXPECT_EQ(NextCron(cron, At("2024-05-01T12:05:00+00:00")), At("2024-05-01T12:10:00+00:00"));
  EXPECT_EQ(NextCron(cron, At("2024-05-01T12:05:00+00:00") - std::chrono::microseconds(1)),
            At("2024-05-01T12:05:00+00:00"));
  EXPECT_EQ(NextCron(cron, At("2024-05-01T12:05:00+00:00") + std::chrono::microseconds(1)),
            At("2024-05-01T12:10:00+00:00"));
  EXPECT_EQ(NextCron(cron, At("2024-12-31T23:59:00+00:00")), At("2025-01-01T00:00:00+00:00"));
}

TEST(NextCronTest, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // The 1st of the month, and every Monday.
  EXPECT_EQ(Iterate("0 0 1 * MON", "UTC", "2023-12-31T12:00:00+00:00", 7),
            (std::vector<std::string>{"2024-01-01T00:00:00+00:00", "2024-01-08T00:00:00+00:00",
                                      "2024-01-15T00:00:00+00:00", "2024-01-22T00:00:00+00:00",
                                      "2024-01-29T00:00:00+00:00", "2024-02-01T00:00:00+00:00",
                                      "2024-02-05T00:00:00+00:00"}));
}

TEST(NextCronTest, DayOfMonthAndDayOfWeekWhenOneStartsWithAStar) {
  // "*/2" is a restriction, but starting with '*' makes the rule AND: odd-numbered Mondays.
  EXPECT_EQ(Iterate("0 0 */2 * MON", "UTC", "2023-12-31T12:00:00+00:00", 4),
            (std::vector<std::string>{"2024-01-01T00:00:00+00:00", "2024-01-15T00:00:00+00:00",
                                      "2024-01-29T00:00:00+00:00", "2024-02-05T00:00:00+00:00"}));
  // cronsim's "first Sunday of the month" and "first Monday of the month".
  EXPECT_EQ(Iterate("1 1 1-7 * */7", "UTC", "2020-01-01T00:00:00+00:00", 3),
            (std::vector<std::string>{"2020-01-05T01:01:00+00:00", "2020-02-02T01:01:00+00:00",
                                      "2020-03-01T01:01:00+00:00"}));
  EXPECT_EQ(Iterate("1 1 */100,1-7 * MON", "UTC", "2020-01-01T00:00:00+00:00", 2),
            (std::vector<std::string>{"2020-01-06T01:01:00+00:00", "2020-02-03T01:01:00+00:00"}));
}

TEST(NextCronTest, OnlyOneDayFieldCountsWhenTheOtherIsAStar) {
  EXPECT_EQ(Iterate("0 12 15 * *", "UTC", "2024-01-20T00:00:00+00:00", 2),
            (std::vector<std::string>{"2024-02-15T12:00:00+00:00", "2024-03-15T12:00:00+00:00"}));
  EXPECT_EQ(Iterate("0 12 * * FRI", "UTC", "2024-01-20T00:00:00+00:00", 2),
            (std::vector<std::string>{"2024-01-26T12:00:00+00:00", "2024-02-02T12:00:00+00:00"}));
}

TEST(NextCronTest, NamesAndSteps) {
  EXPECT_EQ(Iterate("30 */6 * jan,Jul sun", "UTC", "2024-06-29T00:00:00+00:00", 4),
            (std::vector<std::string>{"2024-07-07T00:30:00+00:00", "2024-07-07T06:30:00+00:00",
                                      "2024-07-07T12:30:00+00:00", "2024-07-07T18:30:00+00:00"}));
  // Every 3rd weekday counted from Sunday (cronsim's test): Sunday, Wednesday, Saturday.
  EXPECT_EQ(Iterate("1 1 * * */3", "UTC", "2020-01-01T00:00:00+00:00", 4),
            (std::vector<std::string>{"2020-01-01T01:01:00+00:00", "2020-01-04T01:01:00+00:00",
                                      "2020-01-05T01:01:00+00:00", "2020-01-08T01:01:00+00:00"}));
  EXPECT_EQ(Iterate("0 9-17/4 * * mon-fri", "UTC", "2024-05-03T16:00:00+00:00", 4),
            (std::vector<std::string>{"2024-05-03T17:00:00+00:00", "2024-05-06T09:00:00+00:00",
                                      "2024-05-06T13:00:00+00:00", "2024-05-06T17:00:00+00:00"}));
}

TEST(NextCronTest, LastDayLastWorkdayLastAndNthWeekday) {
  EXPECT_EQ(Iterate("1 1 L * *", "UTC", "2020-01-01T00:00:00+00:00", 2),
            (std::vector<std::string>{"2020-01-31T01:01:00+00:00", "2020-02-29T01:01:00+00:00"}));
  EXPECT_EQ(Iterate("1 1 LW 5 *", "UTC", "2020-01-01T00:00:00+00:00", 1),
            (std::vector<std::string>{"2020-05-29T01:01:00+00:00"}));
  EXPECT_EQ(Iterate("1 1 * * 5L", "UTC", "2020-01-01T00:00:00+00:00", 3),
            (std::vector<std::string>{"2020-01-31T01:01:00+00:00", "2020-02-28T01:01:00+00:00",
                                      "2020-03-27T01:01:00+00:00"}));
  EXPECT_EQ(Iterate("1 1 * * 7L", "UTC", "2020-01-01T00:00:00+00:00", 1),
            (std::vector<std::string>{"2020-01-26T01:01:00+00:00"}));
  EXPECT_EQ(Iterate("1 1 * * 1#2", "UTC", "2020-01-01T00:00:00+00:00", 1),
            (std::vector<std::string>{"2020-01-13T01:01:00+00:00"}));
}

TEST(NextCronTest, NeverWhenNothingMatchesWithinTheHorizon) {
  auto leap = CompileCron("0 0 29 2 *", "UTC");
  ASSERT_TRUE(leap.ok());
  EXPECT_EQ(NextCron(*leap.value(), At("2095-03-01T00:00:00+00:00")),
            At("2096-02-29T00:00:00+00:00"));
  // 2100 is not a leap year: the next Feb 29 after 2096 is in 2104, beyond five years.
  EXPECT_EQ(NextCron(*leap.value(), At("2097-03-01T00:00:00+00:00")), base::kNever);

  auto impossible = CompileCron("1 1 */100 * MON#4", "Europe/Berlin");  // the 1st, a 4th Monday
  ASSERT_TRUE(impossible.ok());
  EXPECT_EQ(NextCron(*impossible.value(), At("2024-01-01T00:00:00+00:00")), base::kNever);
}

TEST(NextCronTest, HandlesInstantsAtTheEdgesOfTime) {
  auto c = CompileCron("0 0 1 1 *", "Europe/Berlin");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(NextCron(*c.value(), base::kNever), base::kNever);
  EXPECT_EQ(NextCron(*c.value(), TimePoint::max() - std::chrono::hours(1)), base::kNever);
  EXPECT_EQ(NextCron(*c.value(), base::kNoTime),
            At("1970-01-01T00:00:00+01:00") + std::chrono::hours(24 * 365));
  // Before the year 1 the search starts there.
  auto utc = CompileCron("0 0 1 1 *", "UTC");
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ(Local(NextCron(*utc.value(), TimePoint::min()), utc.value()->zone),
            "0002-01-01T00:00:00+00:00");
  EXPECT_EQ(Local(NextCron(*utc.value(), At("1850-06-01T00:00:00+00:00")), utc.value()->zone),
            "1851-01-01T00:00:00+00:00");
}

// ---------------------------------------------------------------------------------------------
// Time zones and DST. Europe/Berlin switches on 2021-03-28 at 02:00 CET → 03:00 CEST and on
// 2021-10-31 at 03:00 CEST → 02:00 CET.

TEST(NextCronDstTest, BerlinWallClockTimeInTheGapRunsWhenTheGapEnds) {
  EXPECT_EQ(Iterate("30 2 * * *", "Europe/Berlin", "2021-03-27T12:00:00+01:00", 3),
            (std::vector<std::string>{"2021-03-28T03:00:00+02:00", "2021-03-29T02:30:00+02:00",
                                      "2021-03-30T02:30:00+02:00"}));
  // 02:00 and 02:30 both land at 03:00, which runs once; then 03:30 as usual.
  EXPECT_EQ(Iterate("0,30 1-3 * * *", "Europe/Berlin", "2021-03-28T00:00:00+01:00", 4),
            (std::vector<std::string>{"2021-03-28T01:00:00+01:00", "2021-03-28T01:30:00+01:00",
                                      "2021-03-28T03:00:00+02:00", "2021-03-28T03:30:00+02:00"}));
}

TEST(NextCronDstTest, BerlinWildcardSkipsTheGap) {
  EXPECT_EQ(Iterate("0 * * * *", "Europe/Berlin", "2021-03-28T01:30:00+01:00", 2),
            (std::vector<std::string>{"2021-03-28T03:00:00+02:00", "2021-03-28T04:00:00+02:00"}));
  EXPECT_EQ(Iterate("*/15 * * * *", "Europe/Berlin", "2021-03-28T01:40:00+01:00", 3),
            (std::vector<std::string>{"2021-03-28T01:45:00+01:00", "2021-03-28T03:00:00+02:00",
                                      "2021-03-28T03:15:00+02:00"}));
  // An hour that does not exist that day does not run at all for a wildcard expression.
  EXPECT_EQ(Iterate("*/30 2 * * *", "Europe/Berlin", "2021-03-28T00:00:00+01:00", 2),
            (std::vector<std::string>{"2021-03-29T02:00:00+02:00", "2021-03-29T02:30:00+02:00"}));
}

TEST(NextCronDstTest, BerlinWallClockTimeInTheOverlapRunsOnce) {
  EXPECT_EQ(Iterate("30 2 * * *", "Europe/Berlin", "2021-10-30T12:00:00+02:00", 2),
            (std::vector<std::string>{"2021-10-31T02:30:00+02:00", "2021-11-01T02:30:00+01:00"}));
  EXPECT_EQ(Iterate("0 1-4 * * *", "Europe/Berlin", "2021-10-31T00:30:00+02:00", 4),
            (std::vector<std::string>{"2021-10-31T01:00:00+02:00", "2021-10-31T02:00:00+02:00",
                                      "2021-10-31T03:00:00+01:00", "2021-10-31T04:00:00+01:00"}));
}

TEST(NextCronDstTest, BerlinWallClockNeverAnswersBeforeTheCheckIn) {
  // A check-in during the second 02:xx (CET): today's 02:30 ran at 02:30 CEST, before it, so
  // the next is tomorrow. (cronsim answers 2021-10-31T02:30:00+02:00, before the check-in.)
  EXPECT_EQ(Iterate("30 2 * * *", "Europe/Berlin", "2021-10-31T02:10:00+01:00", 1),
            (std::vector<std::string>{"2021-11-01T02:30:00+01:00"}));
  EXPECT_EQ(Iterate("30 2 * * *", "Europe/Berlin", "2021-10-31T02:40:00+01:00", 1),
            (std::vector<std::string>{"2021-11-01T02:30:00+01:00"}));
}

TEST(NextCronDstTest, BerlinWildcardRunsTwiceInTheOverlap) {
  EXPECT_EQ(Iterate("0 * * * *", "Europe/Berlin", "2021-10-31T01:30:00+02:00", 3),
            (std::vector<std::string>{"2021-10-31T02:00:00+02:00", "2021-10-31T02:00:00+01:00",
                                      "2021-10-31T03:00:00+01:00"}));
  EXPECT_EQ(Iterate("*/30 * * * *", "Europe/Berlin", "2021-10-31T02:10:00+02:00", 5),
            (std::vector<std::string>{"2021-10-31T02:30:00+02:00", "2021-10-31T02:00:00+01:00",
                                      "2021-10-31T02:30:00+01:00", "2021-10-31T03:00:00+01:00",
                                      "2021-10-31T03:30:00+01:00"}));
  EXPECT_EQ(Iterate("15 */2 * * *", "Europe/Berlin", "2021-10-31T01:00:00+02:00", 3),
            (std::vector<std::string>{"2021-10-31T02:15:00+02:00", "2021-10-31T02:15:00+01:00",
                                      "2021-10-31T04:15:00+01:00"}));
}

TEST(NextCronDstTest, BerlinWeekdayMorningsAcrossBothSwitches) {
  EXPECT_EQ(Iterate("0 3 * * 1-5", "Europe/Berlin", "2021-03-26T12:00:00+01:00", 2),
            (std::vector<std::string>{"2021-03-29T03:00:00+02:00", "2021-03-30T03:00:00+02:00"}));
  EXPECT_EQ(Iterate("0 3 * * 1-5", "Europe/Berlin", "2021-10-29T12:00:00+02:00", 2),
            (std::vector<std::string>{"2021-11-01T03:00:00+01:00", "2021-11-02T03:00:00+01:00"}));
  // On the Sunday itself a daily 03:00 runs once, at 03:00 CET (03:00 CEST does not happen:
  // clocks go from 02:59 CEST back to 02:00 CET).
  EXPECT_EQ(Iterate("0 3 * * *", "Europe/Berlin", "2021-10-30T12:00:00+02:00", 2),
            (std::vector<std::string>{"2021-10-31T03:00:00+01:00", "2021-11-01T03:00:00+01:00"}));
}

// America/New_York: 2024-03-10 02:00 EST → 03:00 EDT; 2024-11-03 02:00 EDT → 01:00 EST.
TEST(NextCronDstTest, NewYorkSpringForward) {
  EXPECT_EQ(Iterate("30 2 * * *", "America/New_York", "2024-03-09T12:00:00-05:00", 2),
            (std::vector<std::string>{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}));
  EXPECT_EQ(Iterate("*/20 * * * *", "America/New_York", "2024-03-10T01:30:00-05:00", 3),
            (std::vector<std::string>{"2024-03-10T01:40:00-05:00", "2024-03-10T03:00:00-04:00",
                                      "2024-03-10T03:20:00-04:00"}));
}

TEST(NextCronDstTest, NewYorkFallBack) {
  EXPECT_EQ(Iterate("30 1 * * *", "America/New_York", "2024-11-02T12:00:00-04:00", 2),
            (std::vector<std::string>{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}));
  EXPECT_EQ(Iterate("0 2 * * *", "America/New_York", "2024-11-02T12:00:00-04:00", 2),
            (std::vector<std::string>{"2024-11-03T02:00:00-05:00", "2024-11-04T02:00:00-05:00"}));
  EXPECT_EQ(Iterate("*/30 * * * *", "America/New_York", "2024-11-03T00:50:00-04:00", 5),
            (std::vector<std::string>{"2024-11-03T01:00:00-04:00", "2024-11-03T01:30:00-04:00",
                                      "2024-11-03T01:00:00-05:00", "2024-11-03T01:30:00-05:00",
                                      "2024-11-03T02:00:00-05:00"}));
}

// Australia/Lord_Howe moves by 30 minutes: 2023-10-01 02:00 +10:30 → 02:30 +11:00 and
// 2024-04-07 02:00 +11:00 → 01:30 +10:30.
TEST(NextCronDstTest, LordHoweHalfHourGap) {
  EXPECT_EQ(Iterate("10 2 * * *", "Australia/Lord_Howe", "2023-09-30T12:00:00+10:30", 2),
            (std::vector<std::string>{"2023-10-01T02:30:00+11:00", "2023-10-02T02:10:00+11:00"}));
  EXPECT_EQ(Iterate("40 2 * * *", "Australia/Lord_Howe", "2023-09-30T12:00:00+10:30", 1),
            (std::vector<std::string>{"2023-10-01T02:40:00+11:00"}));
  // Wildcards: the first real matching minute. (cronsim's jumps answer 03:45 and 03:30 here.)
  EXPECT_EQ(Iterate("45 * * * *", "Australia/Lord_Howe", "2023-10-01T01:50:00+10:30", 2),
            (std::vector<std::string>{"2023-10-01T02:45:00+11:00", "2023-10-01T03:45:00+11:00"}));
  EXPECT_EQ(Iterate("* 3 * * *", "Australia/Lord_Howe", "2023-10-01T02:45:00+11:00", 1),
            (std::vector<std::string>{"2023-10-01T03:00:00+11:00"}));
  EXPECT_EQ(Iterate("*/15 * * * *", "Australia/Lord_Howe", "2023-10-01T01:50:00+10:30", 3),
            (std::vector<std::string>{"2023-10-01T02:30:00+11:00", "2023-10-01T02:45:00+11:00",
                                      "2023-10-01T03:00:00+11:00"}));
}

TEST(NextCronDstTest, LordHoweHalfHourOverlap) {
  EXPECT_EQ(Iterate("45 1 * * *", "Australia/Lord_Howe", "2024-04-06T12:00:00+11:00", 2),
            (std::vector<std::string>{"2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"}));
  EXPECT_EQ(Iterate("*/15 * * * *", "Australia/Lord_Howe", "2024-04-07T01:20:00+11:00", 5),
            (std::vector<std::string>{"2024-04-07T01:30:00+11:00", "2024-04-07T01:45:00+11:00",
                                      "2024-04-07T01:30:00+10:30", "2024-04-07T01:45:00+10:30",
                                      "2024-04-07T02:00:00+10:30"}));
}

// America/Havana switches at midnight: 2024-03-10 00:00 CST → 01:00 CDT.
TEST(NextCronDstTest, HavanaMidnightGap) {
  EXPECT_EQ(Iterate("30 0 * * *", "America/Havana", "2024-03-09T12:00:00-05:00", 2),
            (std::vector<std::string>{"2024-03-10T01:00:00-04:00", "2024-03-11T00:30:00-04:00"}));
  EXPECT_EQ(Iterate("*/30 0 * * *", "America/Havana", "2024-03-09T12:00:00-05:00", 1),
            (std::vector<std::string>{"2024-03-11T00:00:00-04:00"}));
  // Hour 0 does not exist on 2022-03-13. (cronsim answers 2022-03-13T01:00:00-04:00 here.)
  EXPECT_EQ(Iterate("* 0 * * sun", "America/Havana", "2022-03-12T23:40:12-05:00", 1),
            (std::vector<std::string>{"2022-03-20T00:00:00-04:00"}));
}

TEST(NextCronDstTest, UtcHasNoSwitches) {
  EXPECT_EQ(Iterate("30 2 * * *", "UTC", "2021-03-27T12:00:00+00:00", 2),
            (std::vector<std::string>{"2021-03-28T02:30:00+00:00", "2021-03-29T02:30:00+00:00"}));
  EXPECT_EQ(Iterate("0 * * * *", "UTC", "2021-10-31T00:30:00+00:00", 3),
            (std::vector<std::string>{"2021-10-31T01:00:00+00:00", "2021-10-31T02:00:00+00:00",
                                      "2021-10-31T03:00:00+00:00"}));
}

// A few of cronsim's own DST tests (Europe/Riga: 2021-03-28 03:00 → 04:00, 2021-10-31
// 04:00 → 03:00), answered the same.
TEST(NextCronDstTest, MatchesCronsimsRigaVectors) {
  EXPECT_EQ(Iterate("0 */3 * * *", "Europe/Riga", "2021-10-31T01:30:00+03:00", 3),
            (std::vector<std::string>{"2021-10-31T03:00:00+03:00", "2021-10-31T03:00:00+02:00",
                                      "2021-10-31T06:00:00+02:00"}));
  EXPECT_EQ(Iterate("0 1,2,3,4,5 * * *", "Europe/Riga", "2021-03-28T01:30:00+02:00", 3),
            (std::vector<std::string>{"2021-03-28T02:00:00+02:00", "2021-03-28T04:00:00+03:00",
                                      "2021-03-28T05:00:00+03:00"}));
  EXPECT_EQ(Iterate("15 3 * * *", "Europe/Riga", "2021-03-27T00:00:00+02:00", 3),
            (std::vector<std::string>{"2021-03-27T03:15:00+02:00", "2021-03-28T04:00:00+03:00",
                                      "2021-03-29T03:15:00+03:00"}));
  EXPECT_EQ(Iterate("* * * * *", "Europe/Riga", "2021-10-31T03:58:00+03:00", 3),
            (std::vector<std::string>{"2021-10-31T03:59:00+03:00", "2021-10-31T03:00:00+02:00",
                                      "2021-10-31T03:01:00+02:00"}));
  EXPECT_EQ(Iterate("30 1,2,3,4,5 * * *", "Europe/Riga", "2021-10-31T01:30:00+03:00", 3),
            (std::vector<std::string>{"2021-10-31T02:30:00+03:00", "2021-10-31T03:30:00+03:00",
                                      "2021-10-31T04:30:00+02:00"}));
}

TEST(CheckCronCanMatchTest, RefusesExpressionsThatNeverFire) {
  EXPECT_TRUE(CheckCronCanMatch(Parsed("0 0 29 2 *")).ok());
  EXPECT_TRUE(CheckCronCanMatch(Parsed("0 0 * 2 MON#5")).ok());  // Feb 29 2016 and 2044
  const base::Status st = CheckCronCanMatch(Parsed("1 1 */100 * MON#4"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "\"1 1 */100 * MON#4\": never matches (no minute from 2000 to 2050 fits)");
}

}  // namespace
}  // namespace overdue::schedule
