#include "base/duration.h"

#include <array>
#include <cstdint>

#include "base/quote.h"

namespace overdue::base {
namespace {

using std::chrono::microseconds;

// The longest sensible spelling ("1w 6d 23h 59m 59s 999ms" is 23 characters); longer text is
// refused before parsing so error messages never echo a megabyte back.
constexpr size_t kMaxDurationText = 100;

constexpr std::string_view kUnitList = "(use ms, s, m, h, d, w)";

struct Unit {
  std::string_view name;
  int64_t micros;
};
constexpr std::array<Unit, 6> kUnits = {{
    {"w", int64_t{7} * 24 * 3600 * 1'000'000},
    {"d", int64_t{24} * 3600 * 1'000'000},
    {"h", int64_t{3600} * 1'000'000},
    {"m", int64_t{60} * 1'000'000},
    {"s", int64_t{1'000'000}},
    {"ms", int64_t{1'000}},
}};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

Error Bad(std::string_view text, std::string_view rule) {
  return InvalidArgument(Quote(text) + ": " + std::string(rule));
}

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  if (text.size() > kMaxDurationText) {
    return InvalidArgument(Quote(text.substr(0, 20)) + "...: must be at most " +
                           std::to_string(kMaxDurationText) + " characters");
  }
  std::string_view s = text;
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  if (s.empty()) return Bad(text, "empty; expected a duration such as 90s, 5m or 1h30m");
  if (s.front() == '-') return Bad(text, "must not be negative");

  const int64_t max_us = kMaxParsedDuration.count();
  const auto too_long = [&] {
    return Bad(text, "must be at most 10 years (" + FormatDuration(kMaxParsedDuration) + ")");
  };
  int64_t total = 0;
  size_t i = 0;
  bool first = true;
  while (i < s.size()) {
    if (!IsDigit(s[i])) {
      return Bad(text, "expected a number at " + Quote(s.substr(i)));
    }
    // Saturates well above any accepted value: the bound check below rejects it either way.
    int64_t n = 0;
    const size_t num_start = i;
    while (i < s.size() && IsDigit(s[i])) {
      if (n <= max_us) n = n * 10 + (s[i] - '0');
      ++i;
    }
    const std::string_view number = s.substr(num_start, i - num_start);
    if (i < s.size() && s[i] == '.') {
      return Bad(text, "fractions are not supported; combine units instead, as in 1h30m");
    }
    const size_t unit_start = i;
    while (i < s.size() && IsAlpha(s[i])) ++i;
    const std::string_view unit = s.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      if (first && i == s.size()) {  // a lone number: seconds, as healthchecks' timeout field
        if (n > max_us / 1'000'000) return too_long();
        return Duration{n * 1'000'000};
      }
      if (i < s.size() && !IsSpace(s[i])) {
        return Bad(text, "unexpected " + Quote(s.substr(i, 1)) + " after " + Quote(number));
      }
      return Bad(text, "number " + std::string(number) + " needs a unit " + std::string(kUnitList));
    }
    const Unit* found = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit) found = &u;
    }
    if (found == nullptr) {
      return Bad(text, "unknown unit " + Quote(unit) + " " + std::string(kUnitList));
    }
    if (n > max_us / found->micros) return too_long();
    total += n * found->micros;  // both terms <= max_us, far below int64 overflow
    if (total > max_us) return too_long();
    first = false;
    while (i < s.size() && IsSpace(s[i])) ++i;
  }
  return Duration{total};
}

std::string FormatDuration(Duration d) {
  int64_t us = d.count();
  if (us == 0) return "0s";
  std::string out;
  uint64_t rest;
  if (us < 0) {
    out += '-';
    rest = static_cast<uint64_t>(-(us + 1)) + 1;  // exact even for INT64_MIN
  } else {
    rest = static_cast<uint64_t>(us);
  }
  constexpr std::array<Unit, 6> kFormatUnits = {{
      {"d", int64_t{24} * 3600 * 1'000'000},
      {"h", int64_t{3600} * 1'000'000},
      {"m", int64_t{60} * 1'000'000},
      {"s", int64_t{1'000'000}},
      {"ms", int64_t{1'000}},
      {"us", int64_t{1}},
  }};
  for (const Unit& u : kFormatUnits) {
    const uint64_t n = rest / static_cast<uint64_t>(u.micros);
    if (n == 0) continue;
    rest -= n * static_cast<uint64_t>(u.micros);
    out += std::to_string(n);
    out += u.name;
  }
  return out;
}

}  // namespace overdue::base
