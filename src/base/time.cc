#include "base/time.h"

#include <ctime>

#include <fmt/format.h>

namespace overdue::base {

std::string FormatIso8601(TimePoint t, bool seconds_only) {
  const int64_t us = ToMicros(t);
  int64_t secs = us / 1'000'000;
  int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (!seconds_only && frac != 0) out += fmt::format(".{:06}", frac);
  out += "+00:00";
  return out;
}

}  // namespace overdue::base
