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

TEST(ManualClockTest, MovesOnlyWhenTold) {
  ManualClock c(FromMicros(1'000'000));
  EXPECT_EQ(ToMicros(c.Now()), 1'000'000);
  const SteadyPoint s0 = c.Steady();
  c.Advance(std::chrono::seconds(90));
  EXPECT_EQ(ToMicros(c.Now()), 91'000'000);
  EXPECT_EQ(c.Steady() - s0, std::chrono::seconds(90));
}

}  // namespace
}  // namespace overdue::base
