// Clock: the only source of time in overdue. Now() is wall time (schedules, stored
// instants); Steady() is monotonic (timeouts, latency). SystemClock reads the OS;
// ManualClock is moved by tests so days of schedules run in milliseconds.
// Both implementations are safe to call from any thread.
#pragma once

#include <atomic>

#include "base/time.h"

namespace overdue::base {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  virtual SteadyPoint Steady() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
  SteadyPoint Steady() const override;
};

// Starts at `start`; time moves only through Set/Advance. Steady() moves with Now().
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_us_(ToMicros(start)) {}
  TimePoint Now() const override { return FromMicros(now_us_.load()); }
  SteadyPoint Steady() const override;
  void Advance(Duration d) { now_us_.fetch_add(d.count()); }
  // REQUIRES: t >= Now() (time never runs backwards in a test either).
  void Set(TimePoint t) { now_us_.store(ToMicros(t)); }

 private:
  std::atomic<int64_t> now_us_;
};

}  // namespace overdue::base
