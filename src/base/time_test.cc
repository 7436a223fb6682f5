#include "base/time.h"

#include <gtest/gtest.h>

#include "base/clock.h"

namespace overdue::base {
namespace {

TEST(TimeTest, FormatIso8601LikeDjango) {
  const TimePoint t = FromMicros(1'700'000'000'123'456);
  EXPECT_EQ(FormatIso8601(t), "2023-11-14T22:13:20+00:00");
  EXPECT_EQ(FormatIso8601(t, false), "2023-11-14T22:13:20.123456+00:00");
  EXPECT_EQ(FormatIso8601(FromMicros(1'700'000'000'000'000), false), "2023-11-14T22:13:20+00:00");
}

TEST(TimeTest, FormatForPeopleDropsTheFractionAndNamesTheZone) {
  EXPECT_EQ(FormatForPeople(FromMicros(1'700'000'000'999'999)), "2023-11-14 22:13:20 UTC");
  EXPECT_EQ(FormatForPeople(FromMicros(0)), "1970-01-01 00:00:00 UTC");
  EXPECT_EQ(FormatForPeople(FromMicros(-1)), "1969-12-31 23:59:59 UTC");
}

TEST(ManualClockTest, MovesOnlyWhenTold) {
  ManualClock c(FromMicros(1'000'000));
  EXPECT_EQ(ToMicros(c.Now()), 1'000'000);
  const SteadyPoint s0 = c.Steady();
  c.Advance(std::chrono::seconds(90));
  EXPECT_EQ(ToMicros(c.Now()), 91'000'000);
  EXPECT_EQ(c.Steady() - s0, std::chrono::seconds(90));
}

TEST(TimeTest, ParsesIso8601WithOffsetsAndFractions) {
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:00Z"), FromMicros(0));
  EXPECT_EQ(ParseIso8601("2026-11-25T10:00:00.5Z"), FromMicros(1'795'600'800'000'000 + 500'000));
  EXPECT_EQ(ParseIso8601("2026-11-25T11:00:00+01:00"), ParseIso8601("2026-11-25T10:00:00Z"));
  const TimePoint t = FromMicros(1'795'600'800'123'456);
  EXPECT_EQ(ParseIso8601(FormatIso8601(t, false)), t);
  // The first and the last instant with a four-digit year in UTC.
  for (const char* edge :
       {"0001-01-01T00:00:00Z", "0000-12-31T23:00:00-01:00", "9999-12-31T23:59:59.999999Z"}) {
    const auto e = ParseIso8601(edge);
    ASSERT_TRUE(e) << edge;
    EXPECT_EQ(ParseIso8601(FormatIso8601(*e, false)), e) << edge;
  }
  for (const char* bad : {"", "2026-11-25", "2026-11-25T10:00:00", "2026-13-01T00:00:00Z",
                          "2026-02-29T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:00:00Zx",
                          "2026-11-25T10:00:00.Z", "2026-11-25T10:00:00+0100",
                          // in UTC: year -1 and year 10000, which could not be written back
                          "0000-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"}) {
    EXPECT_FALSE(ParseIso8601(bad)) << bad;
  }
}

}  // namespace
}  // namespace overdue::base
