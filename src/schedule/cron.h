// Cron expressions evaluated in an IANA time zone, with the semantics of healthchecks.io
// (its cronsim library), so a watch moved from healthchecks expects check-ins at the same
// instants.
//
// Syntax: five whitespace-separated fields, minute hour day-of-month month day-of-week. Each
// field is a comma-separated list of `*`, `N`, `A-B`, `*/S`, `A-B/S` and `A/S` (from A to the
// field's end). Months JAN-DEC and weekdays SUN-SAT may replace numbers (case-insensitive);
// 0 and 7 are both Sunday. cronsim's extensions are accepted too: `L` (last day of the month)
// and `LW` (last weekday of the month) in day-of-month; `5L` (last Friday) and `1#2` (second
// Monday) in day-of-week. Like cronsim, `*/S` on day-of-week steps over 0..7 (`*/3` is Sunday,
// Wednesday, Saturday), and a step over a single value runs to the field's end (`5-5/2` is
// `5/2`).
//
// Day rule (Debian cron, cronsim): if day-of-month or day-of-week *starts with* `*` (so `*/2`
// counts), a day must match both fields; otherwise it must match either. "0 0 1 * MON" is the
// 1st and every Monday; "0 0 */2 * MON" is odd-numbered Mondays.
//
// Time zones and DST. Which rule applies depends on the text of the expression, as in cronsim:
//  * Wall-clock expressions (neither the minute nor the hour field starts with `*`, e.g.
//    "30 2 * * *", "0 1-5 * * *"): the expression picks local wall-clock times and each one
//    runs once. A time skipped by a spring-forward gap runs at the first minute after the gap
//    (02:30 on the Berlin switch day → 03:00 CEST; on Lord Howe, 02:10 → 02:30 +11). A time
//    repeated by a fall-back overlap runs only at its first occurrence (02:30 CEST, not again
//    at 02:30 CET).
//  * Wildcard expressions (minute or hour starts with `*`, e.g. "*/15 * * * *", "0 */2 * * *",
//    "* 3 * * *"): every real instant whose local wall-clock time matches, so nothing fires in
//    a gap and a matching time in an overlap fires twice ("0 * * * *" fires at 02:00 CEST and
//    again at 02:00 CET).
// Where cronsim departs from these rules we do not follow it (all only on switch days; checked
// against cronsim on tens of thousands of random expressions and instants):
//  * A wall-clock time whose first occurrence is not after `after` is skipped: after a check-in
//    at 02:10 CET (the second pass of the repeated hour), "30 2 * * *" next expects tomorrow's
//    02:30; cronsim answers today's 02:30 CEST, an instant before the check-in.
//  * In zones whose gap is not a whole hour (Lord Howe's 30 minutes), cronsim's minute and
//    hour jumps can overshoot for wildcard expressions ("45 * * * *" from 01:50 on the switch
//    day: cronsim 03:45, here 02:45 +11, the first real match).
//  * In zones that switch at midnight (Havana, Santiago), cronsim may fire a wildcard
//    expression's hour 0 at the end of the gap, or skip the hour after it, depending on how
//    its search reached the day; here hour 0 simply does not exist that day.
//
// The time-zone database is the OS's (/usr/share/zoneinfo) read by date/tz, which stores
// transitions up to 2037: later instants use the last offset of 2037 (no DST after 2037).
//
// Thread safety: a CronSchedule is immutable after CompileCron; share it freely.
// Cost: NextCron is O(days skipped), whole months, days, hours and minutes skipped by bitmask:
// 40-250 ns for everyday expressions, ~20 us for one that never matches (cron_bench.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/time.h"

namespace date {
class time_zone;
}  // namespace date

namespace overdue::schedule {

// Longest expression accepted: far above any real one (every minute spelled out is 170
// characters) and small enough that error messages quoting it stay readable.
inline constexpr size_t kMaxCronText = 1000;

// NextCron answers kNever when nothing matches within this horizon (e.g. Feb 29 across 2100).
inline constexpr base::Duration kCronHorizon = std::chrono::hours(24 * (5 * 365 + 2));

// A parsed expression and its zone. Bit n of a mask set means value n matches.
struct CronSchedule {
  std::string expr;           // as given
  std::string tz;             // as given; empty until a zone is attached
  uint64_t minutes = 0;       // bits 0-59
  uint32_t hours = 0;         // bits 0-23
  uint32_t days = 0;          // bits 1-31
  uint16_t months = 0;        // bits 1-12
  uint8_t weekdays = 0;       // bits 0-6, 0 = Sunday (7 is folded into 0)
  uint8_t last_weekdays = 0;  // "5L": bit w set → the month's last weekday w matches
  uint64_t nth_weekdays = 0;  // "1#2": bit 8*w + n set → the n-th (1-5) weekday w matches
  bool last_day = false;      // "L" in day-of-month
  bool last_workday = false;  // "LW" in day-of-month: the month's last Monday-Friday
  bool day_and = false;       // both day fields must match (one of them starts with '*')
  bool wall_clock = false;    // the wall-clock DST rule applies (see the file comment)
  const date::time_zone* zone = nullptr;  // from the OS database; lives as long as the process
};

// Parses an expression without a zone (zone stays nullptr). Errors quote the expression and
// name the field and the rule: `"61 * * * *": minute must be 0-59`,
// `"* * * *": expected 5 fields, got 4`.
base::Result<CronSchedule> ParseCron(std::string_view expr);

// Finds an IANA zone ("Europe/Berlin", "US/Eastern", "UTC"; case-sensitive; "localtime", the
// server's own zone, is refused). Error: `tz: "Mars/Base": unknown time zone`.
base::Result<const date::time_zone*> LocateZone(std::string_view tz);

// ParseCron + LocateZone (expression errors first).
base::Result<std::shared_ptr<const CronSchedule>> CompileCron(std::string_view expr,
                                                              std::string_view tz);

// The first matching minute strictly after `after`, as a UTC instant (cronsim's next() on
// `after` converted to the zone, apart from the deviations listed above). kNever if nothing
// matches within kCronHorizon or `after` is at or beyond the year 9000; an `after` before the
// year 1 counts as 0001-01-01T00:00Z.
// REQUIRES: cron.zone != nullptr (from CompileCron).
base::TimePoint NextCron(const CronSchedule& cron, base::TimePoint after);

// Whether the expression can ever fire: some local wall-clock minute from 2000 to 2050
// matches. Healthchecks refuses expressions that cannot (cronsim from 2000-01-01 gives up
// after 50 years), e.g. "1 1 */100 * MON#4" (the 1st that is also a 4th Monday). Error:
// `"1 1 */100 * MON#4": never matches (no minute from 2000 to 2050 fits)`. Cost: up to ~19k
// day steps for an expression that never matches; for validation, not for every check-in.
base::Status CheckCronCanMatch(const CronSchedule& cron);

}  // namespace overdue::schedule
