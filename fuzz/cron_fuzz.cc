// Fuzzes CompileCron and NextCron. Input: "<tz>\n<after, seconds since the epoch>\n<expr>";
// input without two newlines is taken whole as an expression in UTC at a fixed instant.
// Beyond "no crash, no sanitizer report" it checks NextCron's contract: answers are strictly
// after `after`, within the horizon, increasing when iterated, and (for wildcard
// expressions) a local time whose fields match.
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <date/date.h>
#include <date/tz.h>

#include "schedule/cron.h"

namespace {

using overdue::base::TimePoint;
using overdue::schedule::CronSchedule;

void Require(bool ok) {
  if (!ok) std::abort();
}

TimePoint ParseAfter(std::string_view s) {
  int64_t secs = 1'700'000'000;
  std::from_chars(s.data(), s.data() + s.size(), secs);
  constexpr int64_t kLimit = INT64_MAX / 1'000'000 - 1;
  if (secs > kLimit) secs = kLimit;
  if (secs < -kLimit) secs = -kLimit;
  return TimePoint{std::chrono::seconds{secs}};
}

void CheckFieldsMatch(const CronSchedule& c, TimePoint t) {
  const auto local = c.zone->to_local(date::floor<std::chrono::seconds>(t));
  const auto day = date::floor<date::days>(local);
  const date::hh_mm_ss<std::chrono::seconds> tod{local - day};
  const date::year_month_day ymd{day};
  Require(tod.seconds().count() == 0);
  Require((c.minutes >> tod.minutes().count()) & 1);
  Require((c.hours >> tod.hours().count()) & 1);
  Require((c.months >> static_cast<unsigned>(ymd.month())) & 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view tz = "UTC";
  std::string_view expr = in;
  TimePoint after = TimePoint{std::chrono::seconds{1'700'000'000}};
  const size_t nl1 = in.find('\n');
  const size_t nl2 = nl1 == in.npos ? in.npos : in.find('\n', nl1 + 1);
  if (nl2 != in.npos) {
    tz = in.substr(0, nl1);
    after = ParseAfter(in.substr(nl1 + 1, nl2 - nl1 - 1));
    expr = in.substr(nl2 + 1);
  }

  auto compiled = overdue::schedule::CompileCron(expr, tz);
  if (!compiled.ok()) {
    Require(!compiled.error().message.empty());
    return 0;
  }
  const CronSchedule& cron = *compiled.value();
  Require(cron.zone != nullptr && cron.minutes != 0 && cron.hours != 0 && cron.months != 0);
  (void)overdue::schedule::CheckCronCanMatch(cron);

  TimePoint t = after;
  for (int i = 0; i < 4; ++i) {
    const TimePoint next = overdue::schedule::NextCron(cron, t);
    if (next == overdue::base::kNever) break;
    Require(next > t);
    // NextCron counts an `after` before the year 1 as 0001-01-01.
    constexpr TimePoint kYear1{date::sys_days{date::year{1} / 1 / 1}.time_since_epoch()};
    if (t >= kYear1) Require(next - t <= overdue::schedule::kCronHorizon + std::chrono::hours(48));
    if (!cron.wall_clock) CheckFieldsMatch(cron, next);
    t = next;
  }
  return 0;
}
