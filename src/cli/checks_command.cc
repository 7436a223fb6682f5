#include "cli/checks_command.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "base/duration.h"
#include "base/json_text.h"
#include "base/uuid.h"

namespace overdue::cli {
namespace {

using nlohmann::json;

// Code points of UTF-8 text: the width a terminal gives it (wide CJK glyphs aside).
size_t Width(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string StringField(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::optional<int64_t> IntField(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<int64_t>();
}

bool BoolField(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string OrDash(std::string s) { return s.empty() ? "-" : s; }

// The id a user can pass back to `checks show`: the UUID, or a read-only key's unique_key.
std::string CheckId(const json& check) {
  std::string id = StringField(check, "uuid");
  return id.empty() ? StringField(check, "unique_key") : id;
}

std::optional<base::TimePoint> TimeField(const json& j, const char* key) {
  const std::string s = StringField(j, key);
  if (s.empty()) return std::nullopt;
  return ParseIsoTime(s);
}

std::string FormatSpan(std::chrono::seconds d) {
  const int64_t s = d.count();
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

// Reads "dd" digits at `s[*i]`; false when they are not all digits.
bool Digits(std::string_view s, size_t* i, size_t n, int* out) {
  if (*i + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    const char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* i, char c) {
  if (*i >= s.size() || s[*i] != c) return false;
  ++*i;
  return true;
}

std::string CheckLabel(const json& check) {
  const std::string name = StringField(check, "name");
  return name.empty() ? CheckId(check) : "\"" + name + "\" (" + CheckId(check) + ")";
}

}  // namespace

base::Result<int64_t> ParseSecondsFlag(std::string_view flag, std::string_view text) {
  auto d = base::ParseDuration(text);
  if (!d.ok()) return base::InvalidArgument(std::string(flag) + ": " + d.error().message);
  if (d.value().count() % 1'000'000 != 0) {
    return base::InvalidArgument(std::string(flag) + ": \"" + std::string(text) +
                                 "\": must be whole seconds");
  }
  return static_cast<int64_t>(d.value().count() / 1'000'000);
}

base::Result<json> BuildCheckBody(const CheckFields& f) {
  if (f.timeout && f.schedule) {
    return base::InvalidArgument(
        "--timeout and --schedule exclude each other: a check has a period or a cron schedule");
  }
  json body = json::object();
  if (f.name) body["name"] = *f.name;
  if (f.slug) body["slug"] = *f.slug;
  if (f.tags) body["tags"] = *f.tags;
  if (f.desc) body["desc"] = *f.desc;
  if (f.timeout) {
    auto s = ParseSecondsFlag("--timeout", *f.timeout);
    if (!s.ok()) return s.error();
    body["timeout"] = s.value();
  }
  if (f.schedule) body["schedule"] = *f.schedule;
  if (f.tz) body["tz"] = *f.tz;
  if (f.grace) {
    auto s = ParseSecondsFlag("--grace", *f.grace);
    if (!s.ok()) return s.error();
    body["grace"] = s.value();
  }
  if (f.manual_resume) body["manual_resume"] = *f.manual_resume;
  if (f.unique) {
    json items = json::array();
    std::string_view rest = *f.unique;
    while (true) {
      const size_t comma = rest.find(',');
      std::string item(rest.substr(0, comma));
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (item.empty()) {
        return base::InvalidArgument("--unique: \"" + *f.unique +
                                     "\": a comma-separated list of name, slug, tags, timeout, "
                                     "grace without empty items");
      }
      items.push_back(item);
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
    body["unique"] = std::move(items);
  }
  return body;
}

std::optional<base::TimePoint> ParseIsoTime(std::string_view s) {
  size_t i = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!Digits(s, &i, 4, &y) || !Expect(s, &i, '-') || !Digits(s, &i, 2, &mo) ||
      !Expect(s, &i, '-') || !Digits(s, &i, 2, &d) || !(Expect(s, &i, 'T') || Expect(s, &i, ' ')) ||
      !Digits(s, &i, 2, &h) || !Expect(s, &i, ':') || !Digits(s, &i, 2, &mi) ||
      !Expect(s, &i, ':') || !Digits(s, &i, 2, &sec)) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int64_t scale = 100'000;
    size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      micros += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
  }
  int offset_minutes = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh = 0, om = 0;
    if (!Digits(s, &i, 2, &oh)) return std::nullopt;
    Expect(s, &i, ':');
    if (!Digits(s, &i, 2, &om)) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(y),
                                        std::chrono::month(static_cast<unsigned>(mo)),
                                        std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  const auto days = std::chrono::sys_days(ymd).time_since_epoch();
  const auto t = std::chrono::duration_cast<base::Duration>(days) + std::chrono::hours(h) +
                 std::chrono::minutes(mi - offset_minutes) + std::chrono::seconds(sec) +
                 base::Duration(micros);
  return base::TimePoint(t);
}

std::string FormatRelative(std::optional<base::TimePoint> then, base::TimePoint now) {
  if (!then) return "never";
  const auto d = std::chrono::duration_cast<std::chrono::seconds>(now - *then);
  if (d.count() <= -1) return "in " + FormatSpan(-d);
  if (d.count() < 1) return "just now";
  return FormatSpan(d) + " ago";
}

std::string FormatSchedule(const json& check) {
  if (auto timeout = IntField(check, "timeout")) {
    return "every " + base::FormatDuration(std::chrono::seconds(*timeout));
  }
  const std::string cron = StringField(check, "schedule");
  if (!cron.empty()) {
    const std::string tz = StringField(check, "tz");
    return tz.empty() ? cron : cron + " " + tz;
  }
  const std::string once = StringField(check, "once");
  if (!once.empty()) return "once " + once;
  return "-";
}

std::string FormatChecksTable(const json& checks, base::TimePoint now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "SLUG", "STATUS", "LAST PING", "SCHEDULE", "UUID"});
  if (checks.is_array()) {
    for (const json& c : checks) {
      if (!c.is_object()) continue;
      rows.push_back({OrDash(StringField(c, "name")), OrDash(StringField(c, "slug")),
                      OrDash(StringField(c, "status")),
                      FormatRelative(TimeField(c, "last_ping"), now), FormatSchedule(c),
                      OrDash(CheckId(c))});
    }
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t k = 0; k < row.size(); ++k) widths[k] = std::max(widths[k], Width(row[k]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t k = 0; k < row.size(); ++k) {
      line += row[k];
      if (k + 1 < row.size()) line.append(widths[k] - Width(row[k]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatCheckDetails(const json& check, base::TimePoint now) {
  std::vector<std::pair<std::string, std::string>> lines;
  auto add = [&](const char* label, std::string value) {
    if (!value.empty()) lines.emplace_back(label, std::move(value));
  };
  auto when = [&](const char* key) {
    const std::string text = StringField(check, key);
    if (text.empty()) return std::string("never");
    return FormatRelative(ParseIsoTime(text), now) + " (" + text + ")";
  };
  add("name", StringField(check, "name"));
  add("slug", StringField(check, "slug"));
  add("uuid", StringField(check, "uuid"));
  add("unique key", StringField(check, "unique_key"));
  add("status", StringField(check, "status"));
  add("tags", StringField(check, "tags"));
  add("description", StringField(check, "desc"));
  add("schedule", FormatSchedule(check));
  if (auto grace = IntField(check, "grace")) {
    add("grace", base::FormatDuration(std::chrono::seconds(*grace)));
  }
  add("last ping", when("last_ping"));
  if (!StringField(check, "next_ping").empty()) add("next ping", when("next_ping"));
  if (auto n = IntField(check, "n_pings")) add("pings", std::to_string(*n));
  add("ping URL", StringField(check, "ping_url"));
  if (StringField(check, "methods") == "POST") add("methods", "POST only (HEAD/GET ignored)");
  if (BoolField(check, "manual_resume")) add("manual resume", "yes");
  add("start keyword", StringField(check, "start_kw"));
  add("success keyword", StringField(check, "success_kw"));
  add("failure keyword", StringField(check, "failure_kw"));
  std::string filters;
  for (const auto& [key, label] :
       {std::pair{"filter_subject", "email subject"}, std::pair{"filter_body", "email body"},
        std::pair{"filter_http_body", "HTTP body"}}) {
    if (!BoolField(check, key)) continue;
    if (!filters.empty()) filters += ", ";
    filters += label;
  }
  if (!filters.empty() && BoolField(check, "filter_default_fail")) {
    filters += "; no keyword = failure";
  }
  add("keywords in", filters);
  add("channels", StringField(check, "channels"));
  size_t width = 0;
  for (const auto& [label, value] : lines) width = std::max(width, label.size());
  std::string out;
  for (const auto& [label, value] : lines) {
    out += label + ":" + std::string(width - label.size() + 1, ' ') + value + "\n";
  }
  return out;
}

int RunChecks(const ChecksRequest& request, std::ostream& out, std::ostream& err) {
  using Verb = ChecksRequest::Verb;
  if (auto st = RequireApiKey(request.client, request.config_path); !st.ok()) {
    err << "overdue: " << st.error().message << "\n";
    return kExitUsage;
  }
  const bool needs_uuid = request.verb == Verb::kUpdate || request.verb == Verb::kPause ||
                          request.verb == Verb::kResume || request.verb == Verb::kDelete;
  if (needs_uuid && !base::Uuid::Parse(request.id)) {
    err << "overdue: \"" << request.id << "\": must be a check's UUID\n";
    return kExitUsage;
  }
  if (request.verb == Verb::kShow && request.id.empty()) {
    err << "overdue: a check's UUID is required\n";
    return kExitUsage;
  }
  const std::string check_path = "/api/v3/checks/" + EscapeQueryComponent(request.id);

  std::string method = "GET";
  std::string path;
  std::string body;
  std::string what;
  switch (request.verb) {
    case Verb::kList: {
      path = "/api/v3/checks/";
      char sep = '?';
      for (const std::string& t : request.tags) {
        path += sep + std::string("tag=") + EscapeQueryComponent(t);
        sep = '&';
      }
      if (request.slug) path += sep + std::string("slug=") + EscapeQueryComponent(*request.slug);
      what = "checks list";
      break;
    }
    case Verb::kShow:
      path = check_path;
      what = "check " + request.id;
      break;
    case Verb::kCreate:
    case Verb::kUpdate: {
      auto b = BuildCheckBody(request.fields);
      if (!b.ok()) {
        err << "overdue: " << b.error().message << "\n";
        return kExitUsage;
      }
      if (request.verb == Verb::kUpdate && b.value().empty()) {
        err << "overdue: nothing to update: give at least one of --name, --slug, --tags, "
               "--desc, --timeout, --schedule, --tz, --grace, --manual-resume\n";
        return kExitUsage;
      }
      if (request.verb == Verb::kUpdate && b.value().contains("unique")) {
        err << "overdue: --unique applies to `checks create` only\n";
        return kExitUsage;
      }
      method = "POST";
      body = base::JsonText(b.value());
      path = request.verb == Verb::kCreate ? "/api/v3/checks/" : check_path;
      what = request.verb == Verb::kCreate ? "checks create" : "check " + request.id;
      break;
    }
    case Verb::kPause:
    case Verb::kResume:
      method = "POST";
      path = check_path + (request.verb == Verb::kPause ? "/pause" : "/resume");
      what = "check " + request.id;
      break;
    case Verb::kDelete:
      method = "DELETE";
      path = check_path;
      what = "check " + request.id;
      break;
  }

  const ApiClient client(request.client.url, request.client.api_key);
  auto r = client.Send(method, path, body);
  if (!r.ok()) {
    if (r.error().code == base::ErrorCode::kUnavailable) return ReportUnreachable(r.error(), err);
    err << "overdue: " << r.error().message << "\n";
    return kExitError;
  }
  if (r->status < 200 || r->status >= 300) {
    const int code = ReportHttpError(r.value(), what, err);
    if (r->status == 401 && !request.client.api_key_source.empty()) {
      err << "overdue: the API key came from " << request.client.api_key_source << "\n";
    }
    return code;
  }
  if (request.json) {
    out << r->body;
    if (!r->body.empty() && r->body.back() != '\n') out << "\n";
    return kExitOk;
  }
  const json reply = json::parse(r->body, nullptr, false);
  if (!reply.is_object()) {
    err << "overdue: " << what << ": the server's answer (HTTP " << r->status
        << ") is not a JSON object: is " << request.client.url << " an overdue server?\n";
    return kExitError;
  }
  const base::TimePoint now =
      std::chrono::time_point_cast<base::Duration>(std::chrono::system_clock::now());
  switch (request.verb) {
    case Verb::kList: {
      const auto checks = reply.find("checks");
      if (checks == reply.end() || !checks->is_array()) {
        err << "overdue: checks list: the answer has no \"checks\" array\n";
        return kExitError;
      }
      if (checks->empty()) {
        out << "no checks\n";
      } else {
        out << FormatChecksTable(*checks, now);
      }
      break;
    }
    case Verb::kShow:
      out << FormatCheckDetails(reply, now);
      break;
    case Verb::kCreate:
      out << (r->status == 201 ? "created " : "updated existing ") << CheckLabel(reply) << "\n";
      if (!StringField(reply, "ping_url").empty()) {
        out << "ping URL: " << StringField(reply, "ping_url") << "\n";
      }
      break;
    case Verb::kUpdate:
      out << "updated " << CheckLabel(reply) << "\n";
      break;
    case Verb::kPause:
      out << "paused " << CheckLabel(reply) << "\n";
      break;
    case Verb::kResume:
      out << "resumed " << CheckLabel(reply) << "\n";
      break;
    case Verb::kDelete:
      out << "deleted " << CheckLabel(reply) << "\n";
      break;
  }
  return kExitOk;
}

}  // namespace overdue::cli
