#include "base/duration.h"

#include <string>

#include <gtest/gtest.h>

namespace overdue::base {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

Duration Parsed(std::string_view text) {
  auto d = ParseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.error().message;
  return d.ok() ? d.value() : Duration{-1};
}

std::string ErrorOf(std::string_view text) {
  auto d = ParseDuration(text);
  EXPECT_FALSE(d.ok()) << text << " parsed as " << FormatDuration(d.value());
  return d.ok() ? "" : d.error().message;
}

TEST(ParseDurationTest, AcceptsEveryUnitAndBareSeconds) {
  EXPECT_EQ(Parsed("90"), seconds(90));
  EXPECT_EQ(Parsed("90s"), seconds(90));
  EXPECT_EQ(Parsed("5m"), minutes(5));
  EXPECT_EQ(Parsed("2h"), hours(2));
  EXPECT_EQ(Parsed("2d"), days(2));
  EXPECT_EQ(Parsed("1w"), days(7));
  EXPECT_EQ(Parsed("500ms"), milliseconds(500));
  EXPECT_EQ(Parsed("0"), Duration{0});
  EXPECT_EQ(Parsed("0s"), Duration{0});
}

TEST(ParseDurationTest, SumsComponentsWithOrWithoutSpaces) {
  EXPECT_EQ(Parsed("1h30m"), minutes(90));
  EXPECT_EQ(Parsed("1h 30m"), minutes(90));
  EXPECT_EQ(Parsed("  1w 2d\t3h 4m 5s 6ms "),
            days(9) + hours(3) + minutes(4) + seconds(5) + milliseconds(6));
  EXPECT_EQ(Parsed("30m1h"), minutes(90));  // any order, as Go's time.ParseDuration
  EXPECT_EQ(Parsed("007s"), seconds(7));
}

TEST(ParseDurationTest, RejectsEmptyAndBlank) {
  EXPECT_EQ(ErrorOf(""), "\"\": empty; expected a duration such as 90s, 5m or 1h30m");
  EXPECT_EQ(ErrorOf("   "), "\"   \": empty; expected a duration such as 90s, 5m or 1h30m");
}

TEST(ParseDurationTest, RejectsNegative) {
  EXPECT_EQ(ErrorOf("-5m"), "\"-5m\": must not be negative");
  EXPECT_EQ(ErrorOf("-1"), "\"-1\": must not be negative");
}

TEST(ParseDurationTest, RejectsUnknownUnitsNamingThem) {
  EXPECT_EQ(ErrorOf("5x"), "\"5x\": unknown unit \"x\" (use ms, s, m, h, d, w)");
  EXPECT_EQ(ErrorOf("5mins"), "\"5mins\": unknown unit \"mins\" (use ms, s, m, h, d, w)");
  EXPECT_EQ(ErrorOf("5H"), "\"5H\": unknown unit \"H\" (use ms, s, m, h, d, w)");
  EXPECT_EQ(ErrorOf("1h 5y"), "\"1h 5y\": unknown unit \"y\" (use ms, s, m, h, d, w)");
}

TEST(ParseDurationTest, RejectsMalformedText) {
  EXPECT_EQ(ErrorOf("1h 30"), "\"1h 30\": number 30 needs a unit (use ms, s, m, h, d, w)");
  EXPECT_EQ(ErrorOf("5 m"), "\"5 m\": number 5 needs a unit (use ms, s, m, h, d, w)");
  EXPECT_EQ(ErrorOf("1.5h"),
            "\"1.5h\": fractions are not supported; combine units instead, as in 1h30m");
  EXPECT_EQ(ErrorOf("h"), "\"h\": expected a number at \"h\"");
  EXPECT_EQ(ErrorOf("+5m"), "\"+5m\": expected a number at \"+5m\"");
  EXPECT_EQ(ErrorOf("1h,30m"), "\"1h,30m\": expected a number at \",30m\"");
  EXPECT_EQ(ErrorOf("5-3"), "\"5-3\": unexpected \"-\" after \"5\"");
  EXPECT_EQ(ErrorOf("5\x01"), "\"5\\x01\": unexpected \"\\x01\" after \"5\"");
}

TEST(ParseDurationTest, RejectsMoreThanTenYearsWithoutOverflow) {
  EXPECT_EQ(Parsed("3653d"), days(3653));
  EXPECT_EQ(ErrorOf("3654d"), "\"3654d\": must be at most 10 years (3653d)");
  EXPECT_EQ(ErrorOf("3653d1ms"), "\"3653d1ms\": must be at most 10 years (3653d)");
  EXPECT_EQ(ErrorOf("600w"), "\"600w\": must be at most 10 years (3653d)");
  EXPECT_EQ(ErrorOf("99999999999999999999999999s"),
            "\"99999999999999999999999999s\": must be at most 10 years (3653d)");
  EXPECT_EQ(ErrorOf("99999999999999999999999999"),
            "\"99999999999999999999999999\": must be at most 10 years (3653d)");
  EXPECT_EQ(ErrorOf("3000d 3000d"), "\"3000d 3000d\": must be at most 10 years (3653d)");
}

TEST(ParseDurationTest, RefusesOverlongTextWithoutEchoingIt) {
  const std::string text(1000, '1');
  const std::string message = ErrorOf(text);
  EXPECT_EQ(message, "\"11111111111111111111\"...: must be at most 100 characters");
}

TEST(FormatDurationTest, UsesTheShortestExactSpelling) {
  EXPECT_EQ(FormatDuration(minutes(90)), "1h30m");
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(Duration{0}), "0s");
  EXPECT_EQ(FormatDuration(days(7)), "7d");
  EXPECT_EQ(FormatDuration(days(1) + seconds(1)), "1d1s");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(Duration{1'001}), "1ms1us");
  EXPECT_EQ(FormatDuration(-seconds(90)), "-1m30s");
  EXPECT_EQ(FormatDuration(Duration::min()), "-106751991d4h54s775ms808us");
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  const Duration cases[] = {Duration{0},
                            milliseconds(1),
                            seconds(59),
                            minutes(61),
                            hours(25),
                            days(3653),
                            days(400) + hours(1) + minutes(2) + seconds(3) + milliseconds(4)};
  for (Duration d : cases) {
    EXPECT_EQ(Parsed(FormatDuration(d)), d) << FormatDuration(d);
  }
}

}  // namespace
}  // namespace overdue::base
