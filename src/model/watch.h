// The vocabulary of DESIGN.md as value types: a watch's definition (what the user
// configured) and its runtime (what check-ins and deadlines made of it). Plain data;
// the rules that change a runtime live in state_machine.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/time.h"
#include "base/uuid.h"

namespace overdue::model {

using base::Duration;
using base::TimePoint;
using base::Uuid;

enum class WatchKind : uint8_t { kJob, kPerson, kTeam };

// Stored state. `started` is not stored: it is derived from last_start (as in healthchecks).
// kGrace is stored once the deadline engine has seen the grace period begin, so an early
// "late" warning is a durable event and is not raised twice across a restart.
enum class Status : uint8_t { kNew, kUp, kGrace, kDown, kPaused };

std::string_view StatusName(Status s);  // "new", "up", "grace", "down", "paused"
std::optional<Status> ParseStatus(std::string_view name);
std::string_view WatchKindName(WatchKind k);
std::optional<WatchKind> ParseWatchKind(std::string_view name);

struct Schedule {
  enum class Kind : uint8_t { kPeriod, kCron, kOnce };
  Kind kind = Kind::kPeriod;
  Duration period = std::chrono::hours(24);  // kPeriod: healthchecks' default timeout
  std::string cron;                          // kCron: 5-field expression
  std::string tz = "UTC";                    // kCron: IANA time zone
  TimePoint once_at{};                       // kOnce: the single deadline
  Duration grace = std::chrono::hours(1);    // all kinds: healthchecks' default grace
};

// What a user configured. Field names follow healthchecks' check object where one exists.
struct WatchSpec {
  Uuid id;
  int64_t project_id = 0;
  WatchKind kind = WatchKind::kJob;
  std::string name;
  std::string slug;
  std::string tags;  // space-separated, as in healthchecks
  std::string desc;
  Schedule schedule;
  bool manual_resume = false;
  bool post_only = false;       // healthchecks `methods == "POST"`: other methods are ignored
  bool filter_subject = false;  // healthchecks' email filters: kept for API compatibility
  bool filter_body = false;     // (overdue receives no email yet)
  bool filter_http_body = false;
  bool filter_default_fail = false;
  std::string start_kw;  // comma-separated keywords
  std::string success_kw;
  std::string failure_kw;
  TimePoint created{};
  Uuid badge_key;        // public key of the watch's own badge (/b/<states>/<badge_key>.svg)
  std::string channels;  // comma-separated channel ids notified for this watch
};

// What check-ins and deadlines made of a watch. Times are kNoTime when unset.
struct WatchRuntime {
  Status status = Status::kNew;
  TimePoint last_ping{};   // last success or fail (not start, not log)
  TimePoint last_start{};  // a start not yet closed by a success/fail
  std::optional<Uuid> last_start_rid;
  std::optional<Duration> last_duration;
  int64_t n_pings = 0;      // every accepted ping, including log and ignored ones
  int32_t failures = 0;     // consecutive fail signals since the last success
  TimePoint alert_after{};  // when the engine next acts (grace start or down); kNoTime: none
};

struct Watch {
  WatchSpec spec;
  WatchRuntime runtime;
};

}  // namespace overdue::model
