#include "schedule/schedule.h"

#include <string>

#include "base/check.h"
#include "base/duration.h"

namespace overdue::schedule {
namespace {

using base::Duration;
using base::Status;
using base::TimePoint;

Status CheckBounds(const char* field, Duration d, Duration min_period) {
  if (d < min_period) {
    return base::InvalidArgument(std::string(field) + ": " + base::FormatDuration(d) +
                                 " is below the minimum " + base::FormatDuration(min_period) +
                                 " (min_period)");
  }
  if (d > kMaxPeriod) {
    return base::InvalidArgument(std::string(field) + ": " + base::FormatDuration(d) +
                                 " is above the maximum " + base::FormatDuration(kMaxPeriod));
  }
  return {};
}

}  // namespace

Status Validate(const model::Schedule& s, Duration min_period) {
  switch (s.kind) {
    case model::Schedule::Kind::kPeriod:
      if (auto st = CheckBounds("period", s.period, min_period); !st.ok()) return st;
      break;
    case model::Schedule::Kind::kCron: {
      auto parsed = ParseCron(s.cron);
      if (!parsed.ok()) return base::InvalidArgument("cron: " + parsed.error().message);
      if (auto zone = LocateZone(s.tz); !zone.ok()) return zone.error();
      if (auto st = CheckCronCanMatch(parsed.value()); !st.ok()) {
        return base::InvalidArgument("cron: " + st.error().message);
      }
      break;
    }
    case model::Schedule::Kind::kOnce:
      if (s.once_at == base::kNoTime) return base::InvalidArgument("once_at: must be set");
      break;
    default:
      return base::InvalidArgument("kind: must be period, cron or once");
  }
  return CheckBounds("grace", s.grace, min_period);
}

TimePoint NextExpected(const model::Schedule& s, const CronSchedule* cron, TimePoint last_ping) {
  switch (s.kind) {
    case model::Schedule::Kind::kPeriod:
      // Saturate instead of overflowing: a schedule that cannot come due is never due.
      if (s.period > Duration::zero() && last_ping > base::kNever - s.period) return base::kNever;
      if (s.period < Duration::zero() && last_ping < TimePoint::min() - s.period) {
        return TimePoint::min();
      }
      return last_ping + s.period;
    case model::Schedule::Kind::kCron:
      OVERDUE_DCHECK(cron != nullptr);
      return NextCron(*cron, last_ping);
    case model::Schedule::Kind::kOnce:
      return last_ping == base::kNoTime ? s.once_at : base::kNever;
  }
  return base::kNever;
}

}  // namespace overdue::schedule
