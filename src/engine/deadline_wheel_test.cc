#include "engine/deadline_wheel.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

namespace overdue::engine {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const base::TimePoint kStart = base::FromMicros(1'700'000'000'000'000);

std::vector<uint32_t> AdvanceTo(DeadlineWheel& w, base::TimePoint t) {
  std::vector<uint32_t> out;
  w.Advance(t, &out);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DeadlineWheelTest, FiresOnFirstAdvanceAtOrAfterDeadline) {
  DeadlineWheel w(milliseconds(10), kStart);
  w.Schedule(1, kStart + milliseconds(105));
  EXPECT_TRUE(AdvanceTo(w, kStart + milliseconds(104)).empty());
  EXPECT_EQ(AdvanceTo(w, kStart + milliseconds(105)), std::vector<uint32_t>{1});
  EXPECT_FALSE(w.Scheduled(1));
  EXPECT_TRUE(AdvanceTo(w, kStart + seconds(100)).empty());
}

TEST(DeadlineWheelTest, RescheduleMovesTheDeadline) {
  DeadlineWheel w(milliseconds(10), kStart);
  w.Schedule(7, kStart + seconds(1));
  w.Schedule(7, kStart + seconds(5));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(AdvanceTo(w, kStart + seconds(2)).empty());
  EXPECT_EQ(AdvanceTo(w, kStart + seconds(5)), std::vector<uint32_t>{7});
}

TEST(DeadlineWheelTest, CancelAndNeverRemove) {
  DeadlineWheel w(milliseconds(10), kStart);
  w.Schedule(1, kStart + seconds(1));
  w.Schedule(2, kStart + seconds(1));
  w.Cancel(1);
  w.Schedule(2, base::kNever);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_TRUE(AdvanceTo(w, kStart + seconds(10)).empty());
}

TEST(DeadlineWheelTest, DeadlinesBeyondOneRevolutionWaitTheirTurn) {
  DeadlineWheel w(milliseconds(10), kStart);
  // 4096 buckets x 10 ms = 40.96 s; 100 s is more than two revolutions away.
  w.Schedule(3, kStart + seconds(100));
  for (int s = 1; s < 100; ++s) {
    ASSERT_TRUE(AdvanceTo(w, kStart + seconds(s)).empty()) << "fired early at +" << s << "s";
  }
  EXPECT_EQ(AdvanceTo(w, kStart + seconds(100)), std::vector<uint32_t>{3});
}

TEST(DeadlineWheelTest, PastDeadlineFiresOnNextAdvance) {
  DeadlineWheel w(milliseconds(10), kStart);
  EXPECT_TRUE(AdvanceTo(w, kStart + seconds(10)).empty());
  w.Schedule(4, kStart + seconds(1));  // already passed
  EXPECT_EQ(AdvanceTo(w, kStart + seconds(10)), std::vector<uint32_t>{4});
}

TEST(DeadlineWheelTest, DeadlineLaterInTheCurrentTickIsNotSkipped) {
  DeadlineWheel w(milliseconds(10), kStart);
  EXPECT_TRUE(AdvanceTo(w, kStart + milliseconds(3)).empty());
  w.Schedule(5, kStart + milliseconds(6));  // same 10 ms tick as the last Advance
  EXPECT_EQ(AdvanceTo(w, kStart + milliseconds(7)), std::vector<uint32_t>{5});
}

TEST(DeadlineWheelTest, LongJumpSweepsEverythingDue) {
  DeadlineWheel w(milliseconds(10), kStart);
  for (uint32_t i = 0; i < 1000; ++i) w.Schedule(i, kStart + seconds(i));
  auto fired = AdvanceTo(w, kStart + seconds(499));
  EXPECT_EQ(fired.size(), 500u);
  EXPECT_EQ(fired.front(), 0u);
  EXPECT_EQ(fired.back(), 499u);
  EXPECT_EQ(w.size(), 500u);
}

TEST(DeadlineWheelTest, RandomisedAgainstReference) {
  std::mt19937 rng(42);
  DeadlineWheel w(milliseconds(10), kStart);
  std::vector<int64_t> ref(200, -1);  // deadline in ms from start, -1 = none
  int64_t now_ms = 0;
  for (int step = 0; step < 20000; ++step) {
    const uint32_t id = rng() % ref.size();
    const int op = static_cast<int>(rng() % 4);
    if (op == 0) {
      w.Cancel(id);
      ref[id] = -1;
    } else if (op <= 2) {
      const int64_t at = now_ms + static_cast<int64_t>(rng() % 120000);
      w.Schedule(id, kStart + milliseconds(at));
      ref[id] = at;
    } else {
      now_ms += static_cast<int64_t>(rng() % 3000);
      auto fired = AdvanceTo(w, kStart + milliseconds(now_ms));
      std::vector<uint32_t> want;
      for (uint32_t i = 0; i < ref.size(); ++i) {
        if (ref[i] >= 0 && ref[i] <= now_ms) {
          want.push_back(i);
          ref[i] = -1;
        }
      }
      ASSERT_EQ(fired, want) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace overdue::engine
