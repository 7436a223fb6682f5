// The pure state machine of a watch: (runtime, event, now) -> (new runtime, flip).
// No I/O, no threads, no clock: callers pass `now` and, for schedules, the next expected
// check-in (computed by src/schedule). The rules are healthchecks.io's (hc/api/models.py
// Check.ping, get_grace_start, get_status; sendalerts' handle_going_down) so that a watch
// behaves exactly like the check it replaces, plus overdue's durable `grace` state.
#pragma once

#include <optional>
#include <string_view>

#include "model/check_in.h"
#include "model/flip.h"
#include "model/watch.h"

namespace overdue::model {

// The parts of a WatchSpec that decide what a check-in counts as. Views into the spec (or
// the engine's copy of it): valid while that lives.
struct SignalRules {
  bool manual_resume = false;
  bool post_only = false;
  bool filter_http_body = false;
  bool filter_default_fail = false;
  std::string_view start_kw;
  std::string_view success_kw;
  std::string_view failure_kw;
};
SignalRules RulesOf(const WatchSpec& spec);

// The signal a check-in counts as. Order (healthchecks views.ping, then Check.ping):
// a non-zero exit status is a fail; a POST-only watch ignores other methods; when
// filter_http_body is set, keywords decide (failure before success before start, else
// filter_default_fail ? fail : ignored); a paused manual_resume watch ignores everything.
Signal ResolveSignal(const SignalRules& rules, Status status, Signal url_signal,
                     std::optional<int> exit_status, std::string_view method,
                     std::string_view body);

// healthchecks' match_keywords: any non-empty, trimmed, comma-separated keyword is a
// substring of `haystack`.
bool MatchKeywords(std::string_view haystack, std::string_view keywords);

// Applies a resolved signal at `now`. Updates last_ping/last_start/last_duration/status and
// n_pings; returns the flip when the stored status changes. Does not touch alert_after
// (the caller recomputes deadlines).
std::optional<Flip> ApplyCheckIn(const Uuid& watch_id, WatchRuntime& rt, Signal signal,
                                 const std::optional<Uuid>& rid, TimePoint now);

// When the engine must next look at a watch.
struct Deadlines {
  TimePoint late_at = base::kNever;     // grace period begins (status up only)
  TimePoint down_at = base::kNever;     // the watch is down
  TimePoint Next(Status status) const;  // the earlier deadline still ahead of `status`
};

// `next_expected`: the schedule's next expected check-in after last_ping. It counts only
// while the status is up or grace (new, paused and down wait for a check-in, not a
// deadline) — and, with `armed_when_new`, also while new (a `once` schedule: a trip's
// expected return is a deadline from the moment the trip is planned).
Deadlines ComputeDeadlines(const WatchRuntime& rt, Duration grace, TimePoint next_expected,
                           bool armed_when_new = false);

// Called when a deadline may have passed. Returns the flip to grace or down, if due at
// `now`. A down flip carries `at = down_at` (the moment it went down, as healthchecks'
// flip_time) and reason "timeout".
std::optional<Flip> ApplyDeadline(const Uuid& watch_id, WatchRuntime& rt,
                                  const Deadlines& deadlines, TimePoint now);

// Pause: no flip when already paused. Resume: REQUIRES status == kPaused; back to new.
std::optional<Flip> ApplyPause(const Uuid& watch_id, WatchRuntime& rt, TimePoint now);
Flip ApplyResume(const Uuid& watch_id, WatchRuntime& rt, TimePoint now);

// healthchecks' get_status(with_started=True): "new", "started", "up", "grace", "down",
// "paused", computed from the stored runtime and the deadlines at `now`.
std::string_view DisplayStatus(const WatchRuntime& rt, const Deadlines& deadlines, Duration grace,
                               TimePoint now, bool with_started = true);

}  // namespace overdue::model
