#include "cli/migrate_command.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/uuid.h"

namespace overdue::cli {
namespace {

using nlohmann::json;

// Exports and imports carry history and may be large; the server streams them from its store.
constexpr ApiTimeouts kBulkTimeouts{std::chrono::seconds(5), std::chrono::minutes(10)};

constexpr const char* kStringFields[] = {"name",    "slug",     "tags",       "desc",
                                         "methods", "start_kw", "success_kw", "failure_kw"};
constexpr const char* kBoolFields[] = {"manual_resume", "filter_subject", "filter_body",
                                       "filter_http_body", "filter_default_fail"};

size_t CountFields(std::string_view s) {
  size_t n = 0;
  bool in_field = false;
  for (const char c : s) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_field) ++n;
    in_field = !space;
  }
  return n;
}

std::string StringOr(const json& j, const char* key, std::string fallback = "") {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// "https://hc.example.com/api/v3/checks/" → "https://hc.example.com": people paste the URL
// they see in healthchecks' API docs.
std::string SiteRoot(std::string url) {
  for (const char* suffix : {"/api/v3/checks", "/api/v3", "/api"}) {
    const std::string_view s(suffix);
    if (url.size() > s.size() && url.ends_with(s)) {
      url.resize(url.size() - s.size());
      break;
    }
  }
  while (url.size() > 8 && url.back() == '/') url.pop_back();
  return url;
}

// One line of the plan or the report: "create     <uuid>  "name"  detail".
void Line(std::ostream& out, std::string_view action, const std::string& id,
          const std::string& name, const std::string& detail) {
  std::string line(action);
  line.append(line.size() < 10 ? 10 - line.size() : 1, ' ');
  line += id.empty() ? "-" : id;
  if (!name.empty()) line += "  \"" + name + "\"";
  if (!detail.empty()) line += "  " + detail;
  out << line << "\n";
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The status and server message of a failed exchange, for a per-check line.
std::string Failure(const ApiResponse& r) {
  const std::string m = ServerMessage(r);
  return "HTTP " + std::to_string(r.status) + (m.empty() ? "" : ": " + m);
}

bool IsOk(long status) { return status >= 200 && status < 300; }

}  // namespace

base::Result<json> SpecFromHealthchecks(const json& check) {
  if (!check.is_object()) return base::InvalidArgument("not a check object");
  const std::string uuid = StringOr(check, "uuid");
  if (uuid.empty()) {
    return base::InvalidArgument(
        check.contains("unique_key")
            ? "no \"uuid\" (the API key is read-only: a read-write key is needed)"
            : "no \"uuid\"");
  }
  if (!base::Uuid::Parse(uuid)) return base::InvalidArgument("\"" + uuid + "\": not a UUID");
  json spec = json::object();
  for (const char* key : kStringFields) {
    const auto it = check.find(key);
    if (it != check.end() && it->is_string()) spec[key] = *it;
  }
  for (const char* key : kBoolFields) {
    const auto it = check.find(key);
    if (it != check.end() && it->is_boolean()) spec[key] = *it;
  }
  // healthchecks before the keyword filters had "subject"/"subject_fail": email subject
  // keywords. Newer ones send both, derived from the keywords; those win.
  if (!check.contains("success_kw") && !StringOr(check, "subject").empty()) {
    spec["success_kw"] = StringOr(check, "subject");
    spec["filter_subject"] = true;
  }
  if (!check.contains("failure_kw") && !StringOr(check, "subject_fail").empty()) {
    spec["failure_kw"] = StringOr(check, "subject_fail");
    spec["filter_subject"] = true;
  }
  if (const auto g = check.find("grace"); g != check.end() && g->is_number()) {
    spec["grace"] = g->get<int64_t>();
  }
  if (const auto t = check.find("timeout"); t != check.end() && t->is_number()) {
    spec["timeout"] = t->get<int64_t>();
  } else if (const auto s = check.find("schedule"); s != check.end() && s->is_string()) {
    const std::string schedule = s->get<std::string>();
    if (CountFields(schedule) != 5) {
      return base::InvalidArgument("schedule \"" + schedule +
                                   "\" is an OnCalendar expression; overdue supports 5-field "
                                   "cron schedules only");
    }
    spec["schedule"] = schedule;
    spec["tz"] = StringOr(check, "tz", "UTC");
  } else {
    return base::InvalidArgument("neither \"timeout\" nor \"schedule\"");
  }
  return spec;
}

std::vector<std::string> ChangedFields(const json& spec, const json& current) {
  std::vector<std::string> changed;
  for (const auto& [key, value] : spec.items()) {
    const auto it = current.find(key);
    if (it == current.end() || *it != value) changed.push_back(key);
  }
  // A period replaced by a cron schedule (or back) shows as the field that appears.
  if (spec.contains("timeout") && current.contains("schedule") &&
      std::find(changed.begin(), changed.end(), "timeout") == changed.end()) {
    changed.push_back("timeout");
  }
  if (spec.contains("schedule") && current.contains("timeout") &&
      std::find(changed.begin(), changed.end(), "schedule") == changed.end()) {
    changed.push_back("schedule");
  }
  return changed;
}

int ImportFromHealthchecks(const HealthchecksImport& options, std::ostream& out,
                           std::ostream& err) {
  auto source = NormalizeBaseUrl(options.source_url, "--from-healthchecks");
  if (!source.ok()) {
    err << "overdue: " << source.error().message << "\n";
    return kExitUsage;
  }
  const std::string source_url = SiteRoot(source.value());
  if (options.source_key.empty()) {
    err << "overdue: --api-key: the healthchecks project's read-write API key is required\n";
    return kExitUsage;
  }
  if (auto st = RequireApiKey(options.target, options.config_path); !st.ok()) {
    err << "overdue: overdue server: " << st.error().message
        << " (with --from-healthchecks, --api-key is healthchecks' key; give overdue's as "
           "--to-api-key)\n";
    return kExitUsage;
  }

  const ApiClient hc(source_url, options.source_key);
  auto listed = hc.Get("/api/v3/checks/");
  if (!listed.ok()) return ReportUnreachable(listed.error(), err);
  if (!IsOk(listed->status)) {
    return ReportHttpError(listed.value(), "healthchecks at " + source_url, err);
  }
  const json doc = json::parse(listed->body, nullptr, false);
  if (!doc.is_object() || !doc.contains("checks") || !doc["checks"].is_array()) {
    err << "overdue: healthchecks at " << source_url
        << ": GET /api/v3/checks/ did not answer {\"checks\": [...]}: is this a healthchecks "
           "site root?\n";
    return kExitError;
  }
  const json& checks = doc["checks"];
  for (const json& c : checks) {
    if (c.is_object() && !c.contains("uuid") && c.contains("unique_key")) {
      err << "overdue: the healthchecks API key is read-only (checks come with unique_key, not "
             "uuid): a read-write key is needed to keep each check's UUID and ping URL\n";
      return kExitAuth;
    }
  }

  const ApiClient od(options.target.url, options.target.api_key);
  out << (options.dry_run ? "Dry run (nothing changes): " : "Importing ") << checks.size()
      << (checks.size() == 1 ? " check" : " checks") << " from " << source_url << " into "
      << od.base_url() << "\n";
  int created = 0, updated = 0, unchanged = 0, paused = 0, skipped = 0, failed = 0;
  int with_channels = 0;
  int result = kExitOk;
  auto fail = [&](int code) {
    if (result == kExitOk) result = code;
  };
  for (const json& check : checks) {
    const std::string id = check.is_object() ? StringOr(check, "uuid") : "";
    const std::string name = check.is_object() ? StringOr(check, "name") : "";
    if (check.is_object() && !StringOr(check, "channels").empty()) ++with_channels;
    auto spec = SpecFromHealthchecks(check);
    if (!spec.ok()) {
      Line(out, "skip", id, name, spec.error().message);
      ++skipped;
      fail(kExitRejected);
      continue;
    }
    const bool source_paused = StringOr(check, "status") == "paused";
    const std::string check_path = "/api/v3/checks/" + id;

    auto current = od.Get(check_path);
    if (!current.ok()) return ReportUnreachable(current.error(), err);
    if (current->status == 401) {
      return ReportHttpError(current.value(), "overdue at " + od.base_url(), err);
    }
    std::string action;
    std::vector<std::string> changed;
    bool pause = false;
    if (current->status == 404) {
      action = "create";
      pause = source_paused;
    } else if (IsOk(current->status)) {
      const json now = json::parse(current->body, nullptr, false);
      if (!now.is_object()) {
        Line(out, "failed", id, name, "overdue's answer to GET " + check_path + " is not JSON");
        ++failed;
        fail(kExitError);
        continue;
      }
      changed = ChangedFields(spec.value(), now);
      pause = source_paused && StringOr(now, "status") != "paused";
      action = changed.empty() ? (pause ? "pause" : "unchanged") : "update";
    } else {
      Line(out, "failed", id, name, Failure(current.value()));
      ++failed;
      fail(ExitCodeForStatus(current->status));
      continue;
    }
    std::string detail = Join(changed);
    if (pause && action != "pause") detail += std::string(detail.empty() ? "" : "; ") + "paused";

    if (options.dry_run) {
      Line(out, action, id, name, detail);
      if (action == "create") ++created;
      if (action == "update") ++updated;
      if (action == "unchanged") ++unchanged;
      if (pause) ++paused;
      continue;
    }
    if (action == "create" || action == "update") {
      auto put = od.Send("PUT", "/api/v1/checks/" + id, spec->dump());
      if (!put.ok()) return ReportUnreachable(put.error(), err);
      if (put->status == 401) {
        return ReportHttpError(put.value(), "overdue at " + od.base_url(), err);
      }
      if (!IsOk(put->status)) {
        Line(out, "failed", id, name, Failure(put.value()));
        ++failed;
        fail(ExitCodeForStatus(put->status));
        continue;
      }
      // The server's answer is the truth: 201 created, 200 updated.
      action = put->status == 201 ? "created" : "updated";
      (put->status == 201 ? created : updated) += 1;
    } else if (action == "unchanged") {
      ++unchanged;
    }
    if (pause) {
      auto p = od.Send("POST", check_path + "/pause");
      if (!p.ok()) return ReportUnreachable(p.error(), err);
      if (!IsOk(p->status)) {
        Line(out, "failed", id, name, "pause: " + Failure(p.value()));
        ++failed;
        fail(ExitCodeForStatus(p->status));
        continue;
      }
      ++paused;
      if (action == "pause") action = "paused";
    }
    Line(out, action, id, name, detail);
  }

  if (options.dry_run) {
    out << "Plan: " << created << " to create, " << updated << " to update, " << unchanged
        << " unchanged, " << paused << " to pause, " << skipped << " skipped, " << failed
        << " failed. Nothing was changed.\n";
  } else {
    out << "Done: " << created << " created, " << updated << " updated, " << unchanged
        << " unchanged, " << paused << " paused, " << skipped << " skipped, " << failed
        << " failed.\n";
  }
  if (with_channels > 0) {
    out << "Note: integrations are not migrated (" << with_channels
        << (with_channels == 1 ? " check has" : " checks have")
        << " channels in healthchecks); set up notifications in overdue.\n";
  }
  if (skipped > 0) {
    err << "overdue: " << skipped << (skipped == 1 ? " check was" : " checks were")
        << " skipped: overdue cannot represent " << (skipped == 1 ? "it" : "them")
        << " (see \"skip\" above)\n";
  }
  if (failed > 0) {
    err << "overdue: " << failed << (failed == 1 ? " check" : " checks")
        << " failed (see \"failed\" above)\n";
  }
  return result;
}

int ExportCommand(const ExportOptions& options, std::ostream& out, std::ostream& err) {
  if (auto st = RequireApiKey(options.target, options.config_path); !st.ok()) {
    err << "overdue: " << st.error().message << "\n";
    return kExitUsage;
  }
  const ApiClient client(options.target.url, options.target.api_key, kBulkTimeouts);
  auto r =
      client.Send("GET", options.history ? "/api/v1/export?history=1" : "/api/v1/export", {}, &out);
  if (!r.ok()) {
    if (r.error().code == base::ErrorCode::kUnavailable) return ReportUnreachable(r.error(), err);
    err << "overdue: export: " << r.error().message << "\n";
    return kExitError;
  }
  if (!IsOk(r->status)) return ReportHttpError(r.value(), "export", err);
  out.flush();
  if (!out) {
    err << "overdue: export: cannot write the output\n";
    return kExitError;
  }
  return kExitOk;
}

int ImportFileCommand(const ImportFileOptions& options, std::istream& in, std::ostream& out,
                      std::ostream& err) {
  if (auto st = RequireApiKey(options.target, options.config_path); !st.ok()) {
    err << "overdue: " << st.error().message << "\n";
    return kExitUsage;
  }
  std::stringstream content;
  if (options.path == "-") {
    content << in.rdbuf();
  } else {
    std::ifstream file(options.path, std::ios::binary);
    if (!file) {
      err << "overdue: import: " << options.path << ": " << std::strerror(errno) << "\n";
      return kExitUsage;
    }
    content << file.rdbuf();
    if (file.bad()) {
      err << "overdue: import: " << options.path << ": read error\n";
      return kExitError;
    }
  }
  const ApiClient client(options.target.url, options.target.api_key, kBulkTimeouts);
  auto r = client.Send("POST", "/api/v1/import", content.str());
  if (!r.ok()) {
    if (r.error().code == base::ErrorCode::kUnavailable) return ReportUnreachable(r.error(), err);
    err << "overdue: import: " << r.error().message << "\n";
    return kExitError;
  }
  if (!IsOk(r->status)) return ReportHttpError(r.value(), "import " + options.path, err);
  if (options.json) {
    out << r->body;
    if (!r->body.empty() && r->body.back() != '\n') out << "\n";
    return kExitOk;
  }
  const json summary = json::parse(r->body, nullptr, false);
  if (!summary.is_object()) {
    out << r->body << "\n";
    return kExitOk;
  }
  auto n = [&](const char* key) {
    const auto it = summary.find(key);
    return it != summary.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  out << "Imported " << options.path << ": " << n("checks_created") << " checks created, "
      << n("checks_updated") << " updated, " << n("api_keys_added") << " API keys added, "
      << n("check_ins_imported") << " check-ins and " << n("flips_imported") << " flips imported";
  const auto restored = summary.find("ping_key_restored");
  if (restored != summary.end() && restored->is_boolean() && restored->get<bool>()) {
    out << "; the project's ping key was restored";
  }
  out << "\n";
  return kExitOk;
}

}  // namespace overdue::cli
