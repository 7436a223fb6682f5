#include "api/check_spec.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "schedule/cron.h"
#include "schedule/schedule.h"

namespace overdue::api {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxSeconds = 31536000;  // healthchecks: le=31536000 for timeout and grace

base::Error Invalid(std::string_view field, std::string_view what) {
  return base::InvalidArgument("json validation error: " + std::string(field) + " " +
                               std::string(what));
}

enum class Kind { kString, kBool, kSeconds, kUniqueList };

struct Field {
  std::string_view name;
  Kind kind;
  size_t max_length = 0;  // kString: 0 = unlimited
};

// healthchecks' Spec, in declaration order: the first failing field is the one reported.
constexpr std::array<Field, 21> kFields = {{
    {"channels", Kind::kString},          {"desc", Kind::kString},
    {"failure_kw", Kind::kString, 200},   {"filter_subject", Kind::kBool},
    {"filter_body", Kind::kBool},         {"filter_http_body", Kind::kBool},
    {"filter_default_fail", Kind::kBool}, {"grace", Kind::kSeconds},
    {"manual_resume", Kind::kBool},       {"methods", Kind::kString},
    {"name", Kind::kString, 100},         {"schedule", Kind::kString, 100},
    {"slug", Kind::kString, 100},         {"start_kw", Kind::kString, 200},
    {"subject", Kind::kString, 200},      {"subject_fail", Kind::kString, 200},
    {"success_kw", Kind::kString, 200},   {"tags", Kind::kString},
    {"timeout", Kind::kSeconds},          {"tz", Kind::kString},
    {"unique", Kind::kUniqueList},
}};

bool ValidSlug(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// healthchecks' guess_kind() + check_schedule(): 5 fields on one line is cron; anything else
// would be OnCalendar, which overdue does not support.
base::Status CheckSchedule(const std::string& expr) {
  const std::string_view trimmed = [&] {
    std::string_view v = expr;
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return v;
  }();
  if (trimmed.find('\n') == std::string_view::npos) {
    auto cron = schedule::ParseCron(expr);
    if (cron.ok() && schedule::CheckCronCanMatch(cron.value()).ok()) return {};
  }
  return Invalid("schedule", "is not a valid cron or OnCalendar expression");
}

}  // namespace

size_t CodePoints(std::string_view utf8) {
  return static_cast<size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

base::Result<CheckSpec> ParseCheckSpec(const json& body, const CheckSpecLimits& limits) {
  if (!body.is_object()) {
    return base::InvalidArgument("json validation error: value is not an object");
  }
  CheckSpec spec;
  for (const Field& f : kFields) {
    auto it = body.find(std::string(f.name));
    if (it == body.end()) continue;
    const json& v = *it;
    switch (f.kind) {
      case Kind::kString: {
        // methods is a Literal: any non-matching value, of any type, "has unexpected value".
        if (f.name == "methods") {
          if (!v.is_string() || (v.get_ref<const std::string&>() != "" &&
                                 v.get_ref<const std::string&>() != "POST")) {
            return Invalid(f.name, "has unexpected value");
          }
          spec.methods = v.get<std::string>();
          break;
        }
        if (!v.is_string()) return Invalid(f.name, "is not a string");
        const std::string& s = v.get_ref<const std::string&>();
        if (f.max_length > 0 && CodePoints(s) > f.max_length) return Invalid(f.name, "is too long");
        if (f.name == "slug" && !ValidSlug(s)) return Invalid(f.name, "does not match pattern");
        if (f.name == "schedule") {
          if (auto st = CheckSchedule(s); !st.ok()) return st.error();
        }
        if (f.name == "tz" && !schedule::LocateZone(s).ok()) {
          return Invalid(f.name, "is not a valid timezone");
        }
        std::optional<std::string>* slot = nullptr;
        if (f.name == "channels") slot = &spec.channels;
        if (f.name == "desc") slot = &spec.desc;
        if (f.name == "failure_kw") slot = &spec.failure_kw;
        if (f.name == "name") slot = &spec.name;
        if (f.name == "schedule") slot = &spec.schedule;
        if (f.name == "slug") slot = &spec.slug;
        if (f.name == "start_kw") slot = &spec.start_kw;
        if (f.name == "subject") slot = &spec.subject;
        if (f.name == "subject_fail") slot = &spec.subject_fail;
        if (f.name == "success_kw") slot = &spec.success_kw;
        if (f.name == "tags") slot = &spec.tags;
        if (f.name == "tz") slot = &spec.tz;
        *slot = s;
        break;
      }
      case Kind::kBool: {
        if (!v.is_boolean()) return Invalid(f.name, "is not a boolean");
        const bool b = v.get<bool>();
        if (f.name == "filter_subject") spec.filter_subject = b;
        if (f.name == "filter_body") spec.filter_body = b;
        if (f.name == "filter_http_body") spec.filter_http_body = b;
        if (f.name == "filter_default_fail") spec.filter_default_fail = b;
        if (f.name == "manual_resume") spec.manual_resume = b;
        break;
      }
      case Kind::kSeconds: {
        // Python's isinstance(True, int): booleans count as 1 and 0.
        int64_t seconds = 0;
        if (v.is_boolean()) {
          seconds = v.get<bool>() ? 1 : 0;
        } else if (v.is_number_integer()) {
          if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
            return Invalid(f.name, "is too large");
          }
          seconds = v.get<int64_t>();
        } else {
          return Invalid(f.name, "is not a number");
        }
        // Range-check in seconds first: converting a huge count to microseconds overflows.
        if (seconds > kMaxSeconds) return Invalid(f.name, "is too large");
        if (seconds < 0) return Invalid(f.name, "is too small");
        const base::Duration d = std::chrono::seconds(seconds);
        if (d < limits.min_period) return Invalid(f.name, "is too small");
        (f.name == "grace" ? spec.grace : spec.timeout) = d;
        break;
      }
      case Kind::kUniqueList: {
        if (!v.is_array()) return Invalid(f.name, "is not an array");
        std::vector<std::string> items;
        for (const json& item : v) {
          static constexpr std::array<std::string_view, 5> kAllowed = {"name", "slug", "tags",
                                                                       "timeout", "grace"};
          if (!item.is_string() ||
              std::find(kAllowed.begin(), kAllowed.end(), item.get_ref<const std::string&>()) ==
                  kAllowed.end()) {
            return base::InvalidArgument(
                "json validation error: an item in 'unique' has unexpected value");
          }
          items.push_back(item.get<std::string>());
        }
        spec.unique = std::move(items);
        break;
      }
    }
  }
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    if (key == "api_key") continue;
    const bool known =
        std::any_of(kFields.begin(), kFields.end(), [&](const Field& f) { return f.name == key; });
    if (!known || (key == "unique" && !limits.allow_unique)) {
      return base::InvalidArgument("json validation error: unknown field '" + key + "'");
    }
  }
  return spec;
}

void ApplyCheckSpec(const CheckSpec& spec, model::WatchSpec& w) {
  if (spec.name) w.name = *spec.name;
  // healthchecks' Spec.kind(): a non-empty schedule makes a cron check, else a timeout a
  // simple one; neither leaves the kind alone.
  if (spec.schedule && !spec.schedule->empty()) {
    w.schedule.kind = model::Schedule::Kind::kCron;
    w.schedule.cron = *spec.schedule;
  } else if (spec.timeout) {
    w.schedule.kind = model::Schedule::Kind::kPeriod;
    w.schedule.period = *spec.timeout;
  }
  // The deprecated subject / subject_fail map onto the keywords and filter_subject.
  if (spec.subject) {
    w.success_kw = *spec.subject;
    w.filter_subject = !w.success_kw.empty() || !w.failure_kw.empty();
  }
  if (spec.subject_fail) {
    w.failure_kw = *spec.subject_fail;
    w.filter_subject = !w.success_kw.empty() || !w.failure_kw.empty();
  }
  if (spec.slug) w.slug = *spec.slug;
  if (spec.tags) w.tags = *spec.tags;
  if (spec.desc) w.desc = *spec.desc;
  if (spec.manual_resume) w.manual_resume = *spec.manual_resume;
  if (spec.methods) w.post_only = *spec.methods == "POST";
  if (spec.tz) w.schedule.tz = *spec.tz;
  if (spec.start_kw) w.start_kw = *spec.start_kw;
  if (spec.success_kw) w.success_kw = *spec.success_kw;
  if (spec.failure_kw) w.failure_kw = *spec.failure_kw;
  if (spec.filter_subject) w.filter_subject = *spec.filter_subject;
  if (spec.filter_body) w.filter_body = *spec.filter_body;
  if (spec.filter_http_body) w.filter_http_body = *spec.filter_http_body;
  if (spec.filter_default_fail) w.filter_default_fail = *spec.filter_default_fail;
  if (spec.grace) w.schedule.grace = *spec.grace;
}

bool MatchesUnique(const CheckSpec& spec, const model::WatchSpec& w) {
  if (!spec.unique || spec.unique->empty()) return false;
  for (const std::string& field : *spec.unique) {
    if (field == "name" && (!spec.name || *spec.name != w.name)) return false;
    if (field == "slug" && (!spec.slug || *spec.slug != w.slug)) return false;
    if (field == "tags" && (!spec.tags || *spec.tags != w.tags)) return false;
    if (field == "timeout" && (!spec.timeout || *spec.timeout != w.schedule.period)) return false;
    if (field == "grace" && (!spec.grace || *spec.grace != w.schedule.grace)) return false;
  }
  return true;
}

}  // namespace overdue::api
