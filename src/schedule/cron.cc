#include "schedule/cron.h"

#include <array>
#include <bit>
#include <exception>
#include <optional>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "base/quote.h"

namespace overdue::schedule {
namespace {

using base::Error;
using base::Result;
using base::TimePoint;

constexpr int64_t kSecondsPerDay = 86'400;
constexpr int64_t kHorizonSeconds =
    std::chrono::duration_cast<std::chrono::seconds>(kCronHorizon).count();

// The calendar arithmetic below uses date's 16-bit years; instants outside [0001, 9000) are
// clamped (before) or answered with kNever (after) instead of reaching it.
constexpr TimePoint kEarliest{date::sys_days{date::year{1} / 1 / 1}.time_since_epoch()};
constexpr TimePoint kLatest{date::sys_days{date::year{9000} / 1 / 1}.time_since_epoch()};

enum Field { kMinute, kHour, kDayOfMonth, kMonth, kDayOfWeek };
struct FieldSpec {
  const char* name;
  int lo;
  int hi;
  const char* names_hint;  // how names are spelled, for messages; "" if the field has none
};
constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, ""},
    {"hour", 0, 23, ""},
    {"day-of-month", 1, 31, ""},
    {"month", 1, 12, " or month name (JAN-DEC)"},
    {"day-of-week", 0, 7, " or weekday name (SUN-SAT)"},
}};
constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED",
                                                           "THU", "FRI", "SAT"};
// cronsim's DAYS_IN_MONTH: February counts 29 so "29 2" is allowed (leap years).
constexpr std::array<int, 13> kMaxDaysInMonth = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

using base::Quote;

// A set of field values as cronsim's Field.parse returns it: plain numbers plus the special
// items of the day fields. Day-of-week values keep 7 apart from 0 here, because steps count
// over 0..7 ("*/2" is 0,2,4,6 but "1-7/2" is 1,3,5,7); they are folded at the end.
struct Items {
  uint64_t values = 0;
  bool last_day = false;      // "L"
  bool last_workday = false;  // "LW"
  uint8_t last_weekdays = 0;  // "wL", bit w (0-7)
  uint64_t nth_weekdays = 0;  // "w#n", bit 8*w + n

  void Add(const Items& o) {
    values |= o.values;
    last_day |= o.last_day;
    last_workday |= o.last_workday;
    last_weekdays |= o.last_weekdays;
    nth_weekdays |= o.nth_weekdays;
  }
  int Count() const {
    return std::popcount(values) + int{last_day} + int{last_workday} +
           std::popcount(last_weekdays) + std::popcount(nth_weekdays);
  }
};

// Parses one expression; mirrors the order of cronsim's checks so the same texts are accepted
// and refused. Works on an upper-cased copy; messages show the text as the user wrote it.
class Parser {
 public:
  explicit Parser(std::string_view expr) : expr_(expr), upper_(expr) {
    for (char& c : upper_) c = Upper(c);
  }

  Result<CronSchedule> Parse() {
    if (expr_.size() > kMaxCronText) {
      return base::InvalidArgument(Quote(expr_.substr(0, 30)) + "...: must be at most " +
                                   std::to_string(kMaxCronText) + " characters");
    }
    std::vector<std::string_view> parts;
    const std::string_view all = upper_;
    size_t i = 0;
    while (i < all.size()) {
      while (i < all.size() && IsSpace(all[i])) ++i;
      const size_t start = i;
      while (i < all.size() && !IsSpace(all[i])) ++i;
      if (i > start) parts.push_back(all.substr(start, i - start));
    }
    if (parts.size() != 5) {
      return Fail("expected 5 fields, got " + std::to_string(parts.size()));
    }
    std::array<Items, 5> items;
    for (int f = 0; f < 5; ++f) {
      field_ = static_cast<Field>(f);
      auto r = ParseTerm(parts[f]);
      if (!r.ok()) return r.error();
      items[f] = r.value();
    }

    CronSchedule c;
    c.expr = std::string(expr_);
    c.minutes = items[kMinute].values;
    c.hours = static_cast<uint32_t>(items[kHour].values);
    c.days = static_cast<uint32_t>(items[kDayOfMonth].values);
    c.last_day = items[kDayOfMonth].last_day;
    c.last_workday = items[kDayOfMonth].last_workday;
    c.months = static_cast<uint16_t>(items[kMonth].values);
    const Items& dow = items[kDayOfWeek];
    c.weekdays = static_cast<uint8_t>((dow.values & 0x7f) | ((dow.values >> 7) & 1));
    c.last_weekdays = static_cast<uint8_t>((dow.last_weekdays & 0x7f) | (dow.last_weekdays >> 7));
    c.nth_weekdays = (dow.nth_weekdays & ((uint64_t{1} << 56) - 1)) | (dow.nth_weekdays >> 56);
    c.day_and = parts[kDayOfMonth].front() == '*' || parts[kDayOfWeek].front() == '*';
    c.wall_clock = parts[kMinute].front() != '*' && parts[kHour].front() != '*';

    // cronsim refuses a day-of-month that no chosen month has ("30 2", "31 4,6").
    if (c.days != 0 && !c.last_day && !c.last_workday) {
      const int min_day = std::countr_zero(c.days);
      if (min_day > 29) {
        int longest = 0;
        for (int m = 1; m <= 12; ++m) {
          if ((c.months >> m) & 1) longest = std::max(longest, kMaxDaysInMonth[m]);
        }
        if (min_day > longest) {
          return Fail("day-of-month " + std::to_string(min_day) +
                      " never occurs in the chosen months");
        }
      }
    }
    return c;
  }

 private:
  const FieldSpec& spec() const { return kFields[field_]; }
  std::string_view Original(std::string_view s) const {
    return expr_.substr(static_cast<size_t>(s.data() - upper_.data()), s.size());
  }
  Error Fail(const std::string& rule) const {
    return base::InvalidArgument(Quote(expr_) + ": " + rule);
  }
  Error FailRange() const {
    return Fail(std::string(spec().name) + " must be " + std::to_string(spec().lo) + "-" +
                std::to_string(spec().hi));
  }

  // cronsim's Field._int: one or more ASCII digits. Saturates: callers range-check.
  Result<int> Digits(std::string_view s, std::string_view context) const {
    if (s.empty()) {
      return Fail(std::string(spec().name) + " has an empty value in " + Quote(Original(context)));
    }
    int v = 0;
    for (char ch : s) {
      if (!IsDigit(ch)) {
        return Fail(std::string(spec().name) + " " + Quote(Original(s)) + " is not a number" +
                    spec().names_hint);
      }
      if (v < 1'000'000) v = v * 10 + (ch - '0');
    }
    return v;
  }

  // cronsim's Field.int: a name (months, weekdays) or an in-range number.
  Result<int> Value(std::string_view s, std::string_view context) const {
    if (field_ == kMonth) {
      for (size_t i = 0; i < kMonthNames.size(); ++i) {
        if (s == kMonthNames[i]) return static_cast<int>(i) + 1;
      }
    }
    if (field_ == kDayOfWeek) {
      for (size_t i = 0; i < kWeekdayNames.size(); ++i) {
        if (s == kWeekdayNames[i]) return static_cast<int>(i);
      }
    }
    auto v = Digits(s, context);
    if (!v.ok()) return v;
    if (v.value() < spec().lo || v.value() > spec().hi) return FailRange();
    return v;
  }

  Items Range(int from, int to, int step) const {
    Items r;
    for (int v = from; v <= to; v += step) r.values |= uint64_t{1} << v;
    return r;
  }

  // cronsim's Field.parse, branch for branch.
  Result<Items> ParseTerm(std::string_view s) const {
    if (s == "*") return Range(spec().lo, spec().hi, 1);

    if (s.find(',') != std::string_view::npos) {
      Items all;
      size_t start = 0;
      while (true) {
        const size_t comma = s.find(',', start);
        const std::string_view term = s.substr(start, comma - start);
        if (term.empty()) {
          return Fail(std::string(spec().name) + " has an empty list item in " +
                      Quote(Original(s)));
        }
        auto r = ParseTerm(term);
        if (!r.ok()) return r;
        all.Add(r.value());
        if (comma == std::string_view::npos) break;
        start = comma + 1;
      }
      return all;
    }

    if (field_ == kDayOfWeek && s.find('L') != std::string_view::npos) {
      const std::string_view w = s.substr(0, s.size() - 1);
      if (w.empty() || s.back() != 'L' || w.find_first_not_of("0123456789") != w.npos) {
        return Fail("day-of-week " + Quote(Original(s)) +
                    ": L must follow a weekday number, as in 5L (last Friday)");
      }
      auto v = Value(w, s);
      if (!v.ok()) return v.error();
      Items r;
      r.last_weekdays = static_cast<uint8_t>(1u << v.value());
      return r;
    }

    if (field_ == kDayOfWeek && s.find('#') != std::string_view::npos) {
      const size_t hash = s.find('#');
      const std::string_view w = s.substr(0, hash);
      auto nth = Digits(s.substr(hash + 1), s);
      if (!nth.ok()) return nth.error();
      if (nth.value() < 1 || nth.value() > 5) {
        return Fail("day-of-week " + Quote(Original(s)) + ": the week number after # must be 1-5");
      }
      auto v = Value(w, s);
      if (!v.ok()) return v.error();
      Items r;
      r.nth_weekdays = uint64_t{1} << (8 * v.value() + nth.value());
      return r;
    }

    if (s.find('/') != std::string_view::npos) {
      const size_t slash = s.find('/');
      auto step = Digits(s.substr(slash + 1), s);
      if (!step.ok()) return step.error();
      if (step.value() == 0) return Fail(std::string(spec().name) + " step must be at least 1");
      if (slash == 0) {
        return Fail(std::string(spec().name) + " has an empty value in " + Quote(Original(s)));
      }
      auto base = ParseTerm(s.substr(0, slash));
      if (!base.ok()) return base;
      const Items& b = base.value();
      if (b.values == 0) return b;  // "L/2", "LW/3": cronsim keeps the special item
      if (b.Count() == 1) {         // "A/S" and, like cronsim, "A-A/S": from A to the end
        return Range(std::countr_zero(b.values), spec().hi, step.value());
      }
      Items r;  // every step-th of the sorted values
      int k = 0;
      for (int v = 0; v < 64; ++v) {
        if (((b.values >> v) & 1) && (k++ % step.value()) == 0) r.values |= uint64_t{1} << v;
      }
      return r;
    }

    if (s.find('-') != std::string_view::npos) {
      const size_t dash = s.find('-');
      auto from = Value(s.substr(0, dash), s);
      if (!from.ok()) return from.error();
      auto to = Value(s.substr(dash + 1), s);
      if (!to.ok()) return to.error();
      if (to.value() < from.value()) {
        return Fail(std::string(spec().name) + " range " + Quote(Original(s)) +
                    " runs backwards (no wrap-around)");
      }
      return Range(from.value(), to.value(), 1);
    }

    if (field_ == kDayOfMonth && s == "LW") {
      Items r;
      r.last_workday = true;
      return r;
    }
    if (field_ == kDayOfMonth && s == "L") {
      Items r;
      r.last_day = true;
      return r;
    }
    auto v = Value(s, s);
    if (!v.ok()) return v.error();
    Items r;
    r.values = uint64_t{1} << v.value();
    return r;
  }

  std::string_view expr_;
  std::string upper_;
  Field field_ = kMinute;
};

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The lowest set bit at or above `from`, or -1.
int NextBit(uint64_t mask, int from) {
  if (from >= 64) return -1;
  const uint64_t rest = mask & (~uint64_t{0} << from);
  return rest == 0 ? -1 : std::countr_zero(rest);
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int DaysInMonth(int y, int m) {
  constexpr std::array<int, 13> kDays = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m];
}

// cronsim's match_day: day-of-month and day-of-week, combined by day_and.
bool DayMatches(const CronSchedule& c, int y, int m, int d, int wd) {
  const int last = DaysInMonth(y, m);
  bool dom = ((c.days >> d) & 1) != 0 || (c.last_day && d == last);
  if (!dom && c.last_workday && d >= last - 2) {
    // The last Monday-Friday: the last day, or the Friday before a weekend ending the month.
    const int last_wd = (wd + (last - d)) % 7;
    const int lw = last_wd == 0 ? last - 2 : last_wd == 6 ? last - 1 : last;
    dom = d == lw;
  }
  const bool dow = ((c.weekdays >> wd) & 1) != 0 ||
                   (((c.last_weekdays >> wd) & 1) != 0 && d + 7 > last) ||
                   ((c.nth_weekdays >> (8 * wd + (d + 6) / 7)) & 1) != 0;
  return c.day_and ? (dom && dow) : (dom || dow);
}

// The first local wall-clock time L (seconds since the local epoch, a whole minute) with
// from <= L < limit whose fields match, skipping non-matching months, days, hours, minutes.
std::optional<int64_t> NextLocal(const CronSchedule& c, int64_t from, int64_t limit) {
  const int64_t first_minute = FloorDiv(from + 59, 60) * 60;
  int64_t day = FloorDiv(first_minute, kSecondsPerDay);
  int hour = static_cast<int>((first_minute - day * kSecondsPerDay) / 3600);
  int minute = static_cast<int>((first_minute - day * kSecondsPerDay) % 3600 / 60);
  while (day * kSecondsPerDay < limit) {
    const date::sys_days dp{date::days{day}};
    const date::year_month_day ymd{dp};
    const int y = static_cast<int>(ymd.year());
    const int m = static_cast<int>(static_cast<unsigned>(ymd.month()));
    const int d = static_cast<int>(static_cast<unsigned>(ymd.day()));
    if (((c.months >> m) & 1) == 0) {
      // Jump to the 1st of the next chosen month (this year or the next).
      const int next = NextBit(c.months, m + 1);
      const date::year_month_day first =
          next > 0 ? date::year{y} / next / 1 : date::year{y + 1} / std::countr_zero(c.months) / 1;
      day = date::sys_days{first}.time_since_epoch().count();
      hour = minute = 0;
      continue;
    }
    const int wd = static_cast<int>(date::weekday{dp}.c_encoding());
    if (DayMatches(c, y, m, d, wd)) {
      for (int h = NextBit(c.hours, hour); h >= 0; h = NextBit(c.hours, h + 1)) {
        const int mi = NextBit(c.minutes, h == hour ? minute : 0);
        if (mi >= 0) {
          const int64_t local = day * kSecondsPerDay + h * 3600 + mi * 60;
          if (local >= limit) return std::nullopt;
          return local;
        }
      }
    }
    ++day;
    hour = minute = 0;
  }
  return std::nullopt;
}

int64_t ToSeconds(TimePoint t) {
  return date::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromSeconds(int64_t s) { return TimePoint{std::chrono::seconds{s}}; }

// The instant at which a wall-clock local time runs (the wall-clock rule): as is when it
// exists, the first occurrence when it is repeated, the first whole minute after the gap when
// it is skipped.
int64_t ResolveWallClock(const date::time_zone& zone, int64_t local) {
  for (int guard = 0; guard < 4; ++guard) {  // a gap followed by another: never in tzdb, bounded
    const date::local_info li = zone.get_info(date::local_seconds{std::chrono::seconds{local}});
    if (li.result != date::local_info::nonexistent) return local - li.first.offset.count();
    const int64_t gap_end = li.second.begin.time_since_epoch().count() + li.second.offset.count();
    local += FloorDiv(gap_end - local + 59, 60) * 60;
  }
  return local -
         zone.get_info(date::local_seconds{std::chrono::seconds{local}}).first.offset.count();
}

}  // namespace

Result<CronSchedule> ParseCron(std::string_view expr) { return Parser(expr).Parse(); }

Result<const date::time_zone*> LocateZone(std::string_view tz) {
  const auto unknown = [&] {
    return base::InvalidArgument("tz: " + Quote(tz) + ": unknown time zone");
  };
  // The OS database lists "localtime" (the server's own zone): a watch must not change
  // schedule when the server's configuration does.
  if (tz == "localtime") return unknown();
  // date throws for an unknown name (and if the OS database cannot be read at all).
  try {
    return date::locate_zone(tz);
  } catch (const std::exception&) {
    return unknown();
  }
}

Result<std::shared_ptr<const CronSchedule>> CompileCron(std::string_view expr,
                                                        std::string_view tz) {
  auto parsed = ParseCron(expr);
  if (!parsed.ok()) return parsed.error();
  auto zone = LocateZone(tz);
  if (!zone.ok()) return zone.error();
  parsed.value().tz = std::string(tz);
  parsed.value().zone = zone.value();
  return std::shared_ptr<const CronSchedule>(
      std::make_shared<CronSchedule>(std::move(parsed.value())));
}

TimePoint NextCron(const CronSchedule& cron, TimePoint after) {
  if (after >= kLatest) return base::kNever;
  if (after < kEarliest) after = kEarliest;
  const date::time_zone& zone = *cron.zone;
  const int64_t a = ToSeconds(after);
  const int64_t horizon = a + kHorizonSeconds;

  if (!cron.wall_clock) {
    // Walk the zone's offset periods: inside one, local time is the instant plus a constant,
    // so the first match is a plain calendar search over that period's local times.
    int64_t t = a + 1;
    while (t <= horizon) {
      const date::sys_info info = zone.get_info(date::sys_seconds{std::chrono::seconds{t}});
      const int64_t off = info.offset.count();
      const int64_t end = std::min(info.end.time_since_epoch().count(), horizon + 1);
      if (auto local = NextLocal(cron, t + off, end + off)) return FromSeconds(*local - off);
      t = end;
    }
    return base::kNever;
  }

  // Wall-clock rule: search local times after the check-in's local time; resolution to
  // instants never decreases with local time, so the first one after `after` is the answer.
  const int64_t off = zone.get_info(date::sys_seconds{std::chrono::seconds{a}}).offset.count();
  int64_t from = a + off + 1;
  const int64_t limit = horizon + off + kSecondsPerDay;  // slack for offset changes
  while (true) {
    const std::optional<int64_t> local = NextLocal(cron, from, limit);
    if (!local) return base::kNever;
    const int64_t t = ResolveWallClock(zone, *local);
    if (t > horizon) return base::kNever;
    if (t > a) return FromSeconds(t);
    from = *local + 60;  // only in the second pass of a repeated hour
  }
}

base::Status CheckCronCanMatch(const CronSchedule& cron) {
  const int64_t from = date::sys_days{date::year{2000} / 1 / 1}.time_since_epoch().count();
  const int64_t to = date::sys_days{date::year{2051} / 1 / 1}.time_since_epoch().count();
  if (NextLocal(cron, from * kSecondsPerDay, to * kSecondsPerDay)) return {};
  return base::InvalidArgument(Quote(cron.expr) +
                               ": never matches (no minute from 2000 to 2050 fits)");
}

}  // namespace overdue::schedule
