// When a watch is next expected, for each kind of model::Schedule, and whether a schedule is
// acceptable at all. Pure functions; safe from any thread.
#pragma once

#include "base/result.h"
#include "base/time.h"
#include "model/watch.h"
#include "schedule/cron.h"

namespace overdue::schedule {

// healthchecks' upper bound for timeout and grace (31536000 s).
inline constexpr base::Duration kMaxPeriod = std::chrono::hours(24 * 365);

// Checks a schedule as a user configured it; the message names the field and the rule:
//   period: 30s is below the minimum 1m (min_period)
//   grace: 400d is above the maximum 365d
//   cron: "61 * * * *": minute must be 0-59
//   cron: "1 1 */100 * MON#4": never matches (no minute from 2000 to 2050 fits)
//   tz: "Mars/Base": unknown time zone
//   once_at: must be set
// period and grace must lie in [min_period, kMaxPeriod] (healthchecks: [60s, 365d], with
// min_period configurable); period counts only for kPeriod, cron and tz only for kCron,
// once_at only for kOnce; grace for every kind. Cost: a cron expression is parsed and checked
// for ever matching (CheckCronCanMatch), so call this when a schedule changes, not per check-in.
base::Status Validate(const model::Schedule& s, base::Duration min_period);

// The next expected check-in after `last_ping` (kNoTime when the watch has none):
//   kPeriod: last_ping + period (kNever if that overflows);
//   kCron:   NextCron(*cron, last_ping);
//   kOnce:   once_at while the watch has never checked in, then kNever (a trip that
//            reported back is over).
// REQUIRES: cron != nullptr for kCron, compiled from s.cron and s.tz (CompileCron).
base::TimePoint NextExpected(const model::Schedule& s, const CronSchedule* cron,
                             base::TimePoint last_ping);

}  // namespace overdue::schedule
