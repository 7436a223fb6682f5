// CheckSpec: the JSON body of healthchecks' v3 "create a check" / "update a check" calls,
// validated as healthchecks validates it (a pydantic model in strict mode), so that clients
// written against healthchecks get the same answers.
//
// Rules reproduced (hc/api/views.py, Spec):
//   - fields are checked in healthchecks' declaration order and the first error is reported,
//     as "json validation error: <field> is not a string" (… is not a boolean, is not a
//     number, is not an array, is too long, is too small, is too large, does not match
//     pattern, has unexpected value, is not a valid cron or OnCalendar expression, is not a
//     valid timezone; "an item in 'unique' has unexpected value");
//   - null is never accepted ("<field> is not a string" etc.);
//   - timeout and grace are integers (seconds; true counts as 1 as in Python) within
//     [min_period, 31536000];
//   - name/schedule/slug ≤ 100 characters, keywords and subjects ≤ 200; slug matches
//     ^[a-z0-9-_]*$; methods is "" or "POST"; unique items are name, slug, tags, timeout,
//     grace.
// Deliberate difference: a field healthchecks does not know is refused ("json validation
// error: unknown field 'timout'") instead of silently ignored, because a typo must not leave a
// safety check on a default schedule. "api_key" (authentication in the body) is allowed.
// healthchecks' OnCalendar schedules are not supported: a schedule that is not 5 cron fields
// gets healthchecks' own message for an invalid expression.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "base/time.h"
#include "model/watch.h"

namespace overdue::api {

struct CheckSpec {
  std::optional<std::string> channels;
  std::optional<std::string> desc;
  std::optional<std::string> failure_kw;
  std::optional<bool> filter_subject;
  std::optional<bool> filter_body;
  std::optional<bool> filter_http_body;
  std::optional<bool> filter_default_fail;
  std::optional<base::Duration> grace;
  std::optional<bool> manual_resume;
  std::optional<std::string> methods;
  std::optional<std::string> name;
  std::optional<std::string> schedule;
  std::optional<std::string> slug;
  std::optional<std::string> start_kw;
  std::optional<std::string> subject;
  std::optional<std::string> subject_fail;
  std::optional<std::string> success_kw;
  std::optional<std::string> tags;
  std::optional<base::Duration> timeout;
  std::optional<std::string> tz;
  std::optional<std::vector<std::string>> unique;
};

struct CheckSpecLimits {
  base::Duration min_period = std::chrono::seconds(60);
  bool allow_unique = true;  // false for overdue's PUT /api/v1/checks/<uuid>
};

// Validates `body` (a JSON object). The error message is the full text healthchecks puts in
// {"error": ...} (kInvalidArgument).
base::Result<CheckSpec> ParseCheckSpec(const nlohmann::json& body, const CheckSpecLimits& limits);

// healthchecks' _update(): applies the fields present in `spec` to `watch` (v3: the slug is
// never derived from the name). The channel list is resolved by the caller.
void ApplyCheckSpec(const CheckSpec& spec, model::WatchSpec& watch);

// healthchecks' _lookup(): whether `watch` matches every field named in spec.unique. False
// when spec.unique is empty or names a field the spec does not carry.
bool MatchesUnique(const CheckSpec& spec, const model::WatchSpec& watch);

// Number of Unicode code points of UTF-8 text (pydantic's max_length counts characters).
size_t CodePoints(std::string_view utf8);

}  // namespace overdue::api
