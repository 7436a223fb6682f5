#include "base/clock.h"

namespace overdue::base {

TimePoint SystemClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

SteadyPoint SystemClock::Steady() const { return std::chrono::steady_clock::now(); }

SteadyPoint ManualClock::Steady() const {
  return SteadyPoint{std::chrono::duration_cast<SteadyPoint::duration>(Duration{now_us_.load()})};
}

}  // namespace overdue::base
