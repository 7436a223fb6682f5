#include "model/state_machine.h"

#include <algorithm>

namespace overdue::model {
namespace {

std::string_view Trim(std::string_view s) {
  const auto not_space = [](char c) { return c != ' ' && c != '\t' && c != '\n' && c != '\r'; };
  while (!s.empty() && !not_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && !not_space(s.back())) s.remove_suffix(1);
  return s;
}

Flip MakeFlip(const Uuid& id, TimePoint at, Status from, Status to, std::string reason) {
  Flip f;
  f.watch_id = id;
  f.at = at;
  f.old_status = from;
  f.new_status = to;
  f.reason = std::move(reason);
  return f;
}

bool IsSet(TimePoint t) { return t != base::kNoTime; }

}  // namespace

bool MatchKeywords(std::string_view haystack, std::string_view keywords) {
  while (true) {
    const size_t comma = keywords.find(',');
    const std::string_view kw = Trim(keywords.substr(0, comma));
    if (!kw.empty() && haystack.find(kw) != std::string_view::npos) return true;
    if (comma == std::string_view::npos) return false;
    keywords.remove_prefix(comma + 1);
  }
}

SignalRules RulesOf(const WatchSpec& spec) {
  SignalRules r;
  r.manual_resume = spec.manual_resume;
  r.post_only = spec.post_only;
  r.filter_http_body = spec.filter_http_body;
  r.filter_default_fail = spec.filter_default_fail;
  r.start_kw = spec.start_kw;
  r.success_kw = spec.success_kw;
  r.failure_kw = spec.failure_kw;
  return r;
}

Signal ResolveSignal(const SignalRules& spec, Status status, Signal url_signal,
                     std::optional<int> exit_status, std::string_view method,
                     std::string_view body) {
  Signal s = url_signal;
  if (exit_status && *exit_status > 0) s = Signal::kFail;
  if (spec.post_only && method != "POST") s = Signal::kIgnored;
  if (s != Signal::kIgnored && spec.filter_http_body) {
    if (!spec.failure_kw.empty() && MatchKeywords(body, spec.failure_kw)) {
      s = Signal::kFail;
    } else if (!spec.success_kw.empty() && MatchKeywords(body, spec.success_kw)) {
      s = Signal::kSuccess;
    } else if (!spec.start_kw.empty() && MatchKeywords(body, spec.start_kw)) {
      s = Signal::kStart;
    } else {
      s = spec.filter_default_fail ? Signal::kFail : Signal::kIgnored;
    }
  }
  if (status == Status::kPaused && spec.manual_resume) s = Signal::kIgnored;
  return s;
}

std::optional<Flip> ApplyCheckIn(const Uuid& watch_id, WatchRuntime& rt, Signal signal,
                                 const std::optional<Uuid>& rid, TimePoint now) {
  rt.n_pings += 1;
  if (signal == Signal::kStart) {
    rt.last_start = now;
    rt.last_start_rid = rid;
    return std::nullopt;
  }
  if (signal != Signal::kSuccess && signal != Signal::kFail) return std::nullopt;

  rt.last_ping = now;
  rt.last_duration.reset();
  rt.failures = signal == Signal::kFail ? rt.failures + 1 : 0;
  if (IsSet(rt.last_start)) {
    if (rt.last_start_rid == rid) {
      rt.last_duration = now - rt.last_start;
      rt.last_start = base::kNoTime;
    } else if (signal == Signal::kFail || !rid) {
      rt.last_start = base::kNoTime;
    }
  }
  const Status new_status = signal == Signal::kFail ? Status::kDown : Status::kUp;
  // A success during grace is not a flip in healthchecks' terms (grace is derived there);
  // here grace is stored, so grace -> up is recorded as a flip that the v3 API hides.
  if (rt.status == new_status) return std::nullopt;
  Flip f = MakeFlip(watch_id, now, rt.status, new_status, signal == Signal::kFail ? "fail" : "");
  rt.status = new_status;
  return f;
}

TimePoint Deadlines::Next(Status status) const {
  if (status == Status::kDown) return base::kNever;
  if (status == Status::kGrace) return down_at;  // late_at has passed already
  return std::min(late_at, down_at);
}

Deadlines ComputeDeadlines(const WatchRuntime& rt, Duration grace, TimePoint next_expected,
                           bool armed_when_new) {
  Deadlines d;
  TimePoint grace_start = base::kNever;
  if (rt.status == Status::kUp || rt.status == Status::kGrace ||
      (armed_when_new && rt.status == Status::kNew)) {
    grace_start = next_expected;
    d.late_at = next_expected;
  }
  if (IsSet(rt.last_start) && rt.status != Status::kDown) {
    grace_start = std::min(grace_start, rt.last_start);
  }
  if (grace_start != base::kNever) {
    d.down_at = grace_start >= base::kNever - grace ? base::kNever : grace_start + grace;
  }
  return d;
}

std::optional<Flip> ApplyDeadline(const Uuid& watch_id, WatchRuntime& rt,
                                  const Deadlines& deadlines, TimePoint now) {
  if (rt.status == Status::kDown) return std::nullopt;
  if (now >= deadlines.down_at) {
    Flip f = MakeFlip(watch_id, deadlines.down_at, rt.status, Status::kDown, "timeout");
    rt.status = Status::kDown;
    return f;
  }
  if ((rt.status == Status::kUp || rt.status == Status::kNew) && now >= deadlines.late_at) {
    Flip f = MakeFlip(watch_id, deadlines.late_at, rt.status, Status::kGrace, "");
    rt.status = Status::kGrace;
    return f;
  }
  return std::nullopt;
}

std::optional<Flip> ApplyPause(const Uuid& watch_id, WatchRuntime& rt, TimePoint now) {
  if (rt.status == Status::kPaused) return std::nullopt;
  Flip f = MakeFlip(watch_id, now, rt.status, Status::kPaused, "");
  rt.status = Status::kPaused;
  rt.last_start = base::kNoTime;
  rt.alert_after = base::kNoTime;
  return f;
}

Flip ApplyResume(const Uuid& watch_id, WatchRuntime& rt, TimePoint now) {
  Flip f = MakeFlip(watch_id, now, rt.status, Status::kNew, "");
  rt.status = Status::kNew;
  rt.last_start = base::kNoTime;
  rt.last_ping = base::kNoTime;
  rt.alert_after = base::kNoTime;
  return f;
}

std::string_view DisplayStatus(const WatchRuntime& rt, const Deadlines& deadlines, Duration grace,
                               TimePoint now, bool with_started) {
  if (IsSet(rt.last_start)) {
    if (now >= rt.last_start + grace) return "down";
    if (with_started) return "started";
  }
  switch (rt.status) {
    case Status::kNew:
      return "new";
    case Status::kPaused:
      return "paused";
    case Status::kDown:
      return "down";
    case Status::kUp:
    case Status::kGrace:
      break;
  }
  if (deadlines.late_at == base::kNever) return "up";
  const TimePoint grace_end =
      deadlines.late_at >= base::kNever - grace ? base::kNever : deadlines.late_at + grace;
  if (now >= grace_end) return "down";
  if (now >= deadlines.late_at) return "grace";
  return "up";
}

}  // namespace overdue::model
