// Time vocabulary shared by every folder: wall-clock instants with microsecond resolution
// (what the store keeps and what schedules are computed in) and durations.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace overdue::base {

using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;
using SteadyPoint = std::chrono::steady_clock::time_point;

// Sentinel for "no such instant" (healthchecks' NEVER): compares after every real time.
inline constexpr TimePoint kNever = TimePoint::max();
inline constexpr TimePoint kNoTime = TimePoint{};  // epoch: "unset" in stored records

inline int64_t ToMicros(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromMicros(int64_t us) { return TimePoint{Duration{us}}; }

// "2025-03-30T01:30:00.123456+00:00" — the ISO 8601 form healthchecks uses (seconds only
// when micros == 0 and `seconds_only`).
std::string FormatIso8601(TimePoint t, bool seconds_only = true);
// "2025-03-30 01:30:00 UTC" — for a person reading a message or a page: whole seconds (the
// fraction is dropped, not rounded), a space, and the zone spelled out.
std::string FormatForPeople(TimePoint t);
// "2026-11-25T10:00:00Z", with optional fractional seconds (up to microseconds) and a "Z" or
// "+HH:MM"/"-HH:MM" offset (required). nullopt when malformed or out of range.
std::optional<TimePoint> ParseIso8601(std::string_view text);

}  // namespace overdue::base
