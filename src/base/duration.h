// Human-readable durations: "90s", "5m", "1h30m", "1h 30m", "2d", "1w", "500ms", or a bare
// number of seconds ("90"). Used by config (flags, env, TOML) and the APIs for periods, grace
// and timeouts. Pure functions; safe from any thread; cost linear in the text.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "base/time.h"

namespace overdue::base {

// Longest duration ParseDuration accepts: 10 years including leap days. Anything longer is a
// typo (an extra zero), and the bound keeps every sum far from int64 overflow.
inline constexpr Duration kMaxParsedDuration = std::chrono::hours(24 * 3653);

// Parses `text` (surrounding whitespace ignored). Components are a whole number followed by a
// unit (w, d, h, m, s, ms), in any order, optionally separated by spaces; their sum is the
// result. A lone number without unit means seconds. Case-sensitive ("5M" is an error).
// Errors quote the text and name the rule:
//   "5x": unknown unit "x" (use ms, s, m, h, d, w)
//   "-5m": must not be negative
//   "11000d": must be at most 10 years (3653d)
Result<Duration> ParseDuration(std::string_view text);

// The shortest exact spelling with units d, h, m, s, ms (and us for a sub-millisecond
// remainder): 5400s → "1h30m", 90s → "1m30s", 0 → "0s", 7d → "7d" (weeks are never used).
// ParseDuration(FormatDuration(d)) == d for every d ParseDuration can return. Negative
// durations get a leading '-'.
std::string FormatDuration(Duration d);

}  // namespace overdue::base
