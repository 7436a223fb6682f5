// `overdue checks list|show|create|update|pause|resume|delete`: the Management API v3 from the
// command line. Works against overdue and against healthchecks itself (only /api/v3 is used).
// Human-readable output by default; with --json the server's JSON is printed unchanged.
// Exit statuses are api_client.h's ExitCode.
//
// The formatting and body-building functions are pure and exposed for tests; RunChecks does
// the HTTP exchange (blocking, one request per command).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "base/time.h"
#include "cli/api_client.h"

namespace overdue::cli {

// The check's settings as given on the command line; only fields that were given go into the
// request body, so `checks update` changes just those.
struct CheckFields {
  std::optional<std::string> name;
  std::optional<std::string> slug;
  std::optional<std::string> tags;  // space-separated, as healthchecks keeps them
  std::optional<std::string> desc;
  std::optional<std::string> timeout;   // a duration: "60", "90s", "5m", "2h", "1d"
  std::optional<std::string> schedule;  // 5 cron fields
  std::optional<std::string> tz;
  std::optional<std::string> grace;  // a duration
  std::optional<bool> manual_resume;
  std::optional<std::string> unique;  // "name,slug": create only
};

// A duration flag's value in whole seconds (the API's unit). `flag` names the flag in errors:
// --grace: "5x": unknown unit "x" (use ms, s, m, h, d, w); "1500ms" must be whole seconds.
base::Result<int64_t> ParseSecondsFlag(std::string_view flag, std::string_view text);

// The JSON body of a v3 create or update call. Errors (kInvalidArgument) are usage errors:
// a bad duration, --timeout together with --schedule, an empty --unique item.
base::Result<nlohmann::json> BuildCheckBody(const CheckFields& fields);

// "2020-03-24T14:02:03+00:00" (healthchecks' isostring; any offset, optional fraction or 'Z').
std::optional<base::TimePoint> ParseIsoTime(std::string_view text);

// "never", "just now", "45s ago", "5m ago", "3h ago", "2d ago", or "in 5m" for the future.
std::string FormatRelative(std::optional<base::TimePoint> then, base::TimePoint now);

// "every 1h" (timeout), "*/5 * * * * Europe/Paris" (cron), "once 2026-…" (overdue's one-off).
std::string FormatSchedule(const nlohmann::json& check);

// The aligned table `checks list` prints: NAME SLUG STATUS LAST PING SCHEDULE UUID, one row per
// element of `checks` (a v3 list's "checks" array). A read-only key's unique_key stands in for
// the UUID. Widths count UTF-8 code points; no trailing spaces.
std::string FormatChecksTable(const nlohmann::json& checks, base::TimePoint now);

// `checks show`: one "label: value" line per field that is set.
std::string FormatCheckDetails(const nlohmann::json& check, base::TimePoint now);

struct ChecksRequest {
  enum class Verb { kList, kShow, kCreate, kUpdate, kPause, kResume, kDelete };
  Verb verb = Verb::kList;
  ClientConfig client;
  std::string config_path;          // for the "no API key" message
  std::string id;                   // show/update/pause/resume/delete
  std::vector<std::string> tags;    // list: checks having every one of these tags
  std::optional<std::string> slug;  // list: only this slug
  CheckFields fields;               // create/update
  bool json = false;
};

// Runs one `checks` command: prints to `out` on success, names the problem on `err`
// otherwise. Returns an ExitCode.
int RunChecks(const ChecksRequest& request, std::ostream& out, std::ostream& err);

}  // namespace overdue::cli
