#include "server/admin.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/key_ring.h"
#include "base/json_text.h"
#include "base/time.h"
#include "base/uuid.h"
#include "store/sqlite/sqlite_store.h"

namespace overdue::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The data dir's database file, as server.cc opens it.
constexpr const char* kDatabaseFile = "overdue.db";
// healthchecks' Project.name is at most 200 characters; an API key's label at most 100.
constexpr size_t kMaxProjectName = 200;
constexpr size_t kMaxKeyName = 100;
// Ping URLs take Django slugs; 64 is ample for healthchecks' 22-character keys.
constexpr size_t kMaxPingKey = 64;
// A shorter prefix than "hcw_" would revoke too easily by accident.
constexpr size_t kMinRevokePrefix = 4;

base::Error AlreadyExists(std::string message) {
  return {base::ErrorCode::kAlreadyExists, std::move(message)};
}
base::Error Conflict(std::string message) {
  return {base::ErrorCode::kConflict, std::move(message)};
}

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == '\x7f'; });
}

std::string_view Kind(const store::ApiKey& k) { return k.read_only ? "read-only" : "read-write"; }

std::string ProjectList(const std::vector<store::Project>& projects) {
  std::string out;
  for (const store::Project& p : projects) {
    out +=
        fmt::format("{}{} \"{}\" ({})", out.empty() ? "" : ", ", p.id, p.name, p.uuid.ToString());
  }
  return out.empty() ? "none" : out;
}

std::string KeyLine(const store::ApiKey& k, const std::map<int64_t, std::string>& names) {
  auto it = names.find(k.project_id);
  return fmt::format("{} ({}, \"{}\", project \"{}\")", k.prefix, Kind(k), k.name,
                     it == names.end() ? std::to_string(k.project_id) : it->second);
}

base::Result<std::vector<store::Project>> SortedProjects(store::Store& store) {
  auto projects = store.LoadProjects();
  if (!projects.ok()) return projects.error();
  std::sort(projects.value().begin(), projects.value().end(),
            [](const store::Project& a, const store::Project& b) { return a.id < b.id; });
  return projects;
}

store::ApiKey StoredKey(const std::string& secret, int64_t project_id, bool read_only,
                        std::string name, base::TimePoint created) {
  store::ApiKey k;
  k.project_id = project_id;
  k.prefix = secret.substr(0, kKeyPrefixChars);
  k.hash = api::KeyRing::Hash(secret);
  k.read_only = read_only;
  k.name = std::move(name);
  k.created = created;
  return k;
}

// Writes `project` with `ping_key` after checking that no other project has it.
base::Result<store::Project> StorePingKey(store::Store& store, store::Project project,
                                          std::string ping_key) {
  auto projects = store.LoadProjects();
  if (!projects.ok()) return projects.error();
  for (const store::Project& p : projects.value()) {
    if (p.id != project.id && p.ping_key == ping_key) {
      return AlreadyExists(
          fmt::format("ping key is already used by project {} \"{}\"", p.id, p.name));
    }
  }
  project.ping_key = std::move(ping_key);
  if (auto st = store.Apply({store::UpsertProject{project}}); !st.ok()) return st.error();
  return project;
}

}  // namespace

base::Result<NewProject> CreateProject(store::Store& store, const base::Clock& clock,
                                       std::string_view name) {
  if (name.empty() || name.size() > kMaxProjectName || HasControl(name)) {
    return base::InvalidArgument(fmt::format(
        "project name: must be 1–{} characters without control characters", kMaxProjectName));
  }
  auto projects = store.LoadProjects();
  if (!projects.ok()) return projects.error();
  int64_t max_id = 0;
  for (const store::Project& p : projects.value()) {
    if (p.name == name) {
      return AlreadyExists(fmt::format("project \"{}\" already exists (id {}, {})", p.name, p.id,
                                       p.uuid.ToString()));
    }
    max_id = std::max(max_id, p.id);
  }
  NewProject r;
  r.project.id = max_id + 1;
  r.project.uuid = base::Uuid::Random();
  r.project.name = std::string(name);
  r.project.ping_key = api::KeyRing::NewPingKey();
  r.project.badge_key = base::Uuid::Random().ToString();
  r.project.created = clock.Now();
  r.api_key = api::KeyRing::NewApiKey(false);
  r.api_key_readonly = api::KeyRing::NewApiKey(true);
  std::vector<store::Mutation> m;
  m.emplace_back(store::UpsertProject{r.project});
  m.emplace_back(store::InsertApiKey{
      StoredKey(r.api_key, r.project.id, false, "default read-write", r.project.created)});
  m.emplace_back(store::InsertApiKey{
      StoredKey(r.api_key_readonly, r.project.id, true, "default read-only", r.project.created)});
  if (auto st = store.Apply(m); !st.ok()) return st.error();
  return r;
}

base::Result<store::Project> FindProject(store::Store& store, std::string_view selector) {
  auto sorted = SortedProjects(store);
  if (!sorted.ok()) return sorted.error();
  const std::vector<store::Project>& projects = sorted.value();
  if (selector.empty()) {
    if (projects.size() == 1) return projects.front();
    for (const store::Project& p : projects) {
      if (p.id == 1) return p;
    }
    if (projects.empty()) return base::NotFound("no projects: run `overdue init` first");
    return base::InvalidArgument(
        "several projects and none with id 1: choose one with "
        "--project (" +
        ProjectList(projects) + ")");
  }
  int64_t id = 0;
  const auto [end, ec] = std::from_chars(selector.data(), selector.data() + selector.size(), id);
  if (ec == std::errc() && end == selector.data() + selector.size()) {
    for (const store::Project& p : projects) {
      if (p.id == id) return p;
    }
  }
  if (auto uuid = base::Uuid::Parse(selector)) {
    for (const store::Project& p : projects) {
      if (p.uuid == *uuid) return p;
    }
  }
  std::vector<store::Project> named;
  std::copy_if(projects.begin(), projects.end(), std::back_inserter(named),
               [&](const store::Project& p) { return p.name == selector; });
  if (named.size() == 1) return named.front();
  if (named.size() > 1) {
    return Conflict(fmt::format("project \"{}\" is ambiguous: {}; choose by id or UUID", selector,
                                ProjectList(named)));
  }
  return base::NotFound(
      fmt::format("project \"{}\" not found; projects: {}", selector, ProjectList(projects)));
}

base::Result<NewKey> CreateKey(store::Store& store, const base::Clock& clock,
                               const store::Project& project, bool read_only,
                               std::string_view name) {
  if (name.size() > kMaxKeyName || HasControl(name)) {
    return base::InvalidArgument(fmt::format(
        "key name: must be at most {} characters without control characters", kMaxKeyName));
  }
  NewKey r;
  r.secret = api::KeyRing::NewApiKey(read_only);
  r.key = StoredKey(r.secret, project.id, read_only, std::string(name), clock.Now());
  if (auto st = store.Apply({store::InsertApiKey{r.key}}); !st.ok()) return st.error();
  return r;
}

base::Result<std::vector<store::ApiKey>> ListKeys(store::Store& store, int64_t project_id) {
  auto keys = store.LoadApiKeys();
  if (!keys.ok()) return keys.error();
  std::vector<store::ApiKey> out;
  for (store::ApiKey& k : keys.value()) {
    if (project_id == 0 || k.project_id == project_id) out.push_back(std::move(k));
  }
  std::sort(out.begin(), out.end(), [](const store::ApiKey& a, const store::ApiKey& b) {
    return std::tie(a.project_id, a.created, a.prefix) <
           std::tie(b.project_id, b.created, b.prefix);
  });
  return out;
}

base::Result<store::ApiKey> RevokeKey(store::Store& store, std::string_view prefix_or_key) {
  if (prefix_or_key.size() < kMinRevokePrefix) {
    return base::InvalidArgument(fmt::format(
        "\"{}\": give at least {} characters of the key's prefix (see `overdue keys list`)",
        prefix_or_key, kMinRevokePrefix));
  }
  auto keys = store.LoadApiKeys();
  if (!keys.ok()) return keys.error();
  std::vector<store::ApiKey> matches;
  if (prefix_or_key.size() > kKeyPrefixChars) {
    // The whole key: never echoed back in full.
    const std::string hash = api::KeyRing::Hash(prefix_or_key);
    for (const store::ApiKey& k : keys.value()) {
      if (k.hash == hash) matches.push_back(k);
    }
    if (matches.empty()) {
      return base::NotFound(fmt::format("no API key {}… (a whole key was given; it is unknown)",
                                        prefix_or_key.substr(0, kKeyPrefixChars)));
    }
  } else {
    for (const store::ApiKey& k : keys.value()) {
      if (k.prefix.compare(0, prefix_or_key.size(), prefix_or_key) == 0) matches.push_back(k);
    }
    if (matches.empty()) {
      return base::NotFound(fmt::format("no API key starts with \"{}\"", prefix_or_key));
    }
    if (matches.size() > 1) {
      std::map<int64_t, std::string> names;
      if (auto projects = store.LoadProjects(); projects.ok()) {
        for (const store::Project& p : projects.value()) names[p.id] = p.name;
      }
      std::string list;
      for (const store::ApiKey& k : matches) list += "\n  " + KeyLine(k, names);
      return Conflict(fmt::format(
          "\"{}\" matches {} keys; nothing revoked. Give a longer prefix or the whole key:{}",
          prefix_or_key, matches.size(), list));
    }
  }
  if (auto st = store.Apply({store::DeleteApiKey{matches.front().hash}}); !st.ok()) {
    return st.error();
  }
  return matches.front();
}

base::Status ValidatePingKey(std::string_view ping_key) {
  const bool ok = !ping_key.empty() && ping_key.size() <= kMaxPingKey &&
                  std::all_of(ping_key.begin(), ping_key.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '-';
                  });
  if (ok) return {};
  return base::InvalidArgument(
      fmt::format("ping key: must be 1–{} characters of A-Z, a-z, 0-9, '_' and '-'", kMaxPingKey));
}

base::Result<store::Project> RotatePingKey(store::Store& store, const store::Project& project) {
  return StorePingKey(store, project, api::KeyRing::NewPingKey());
}

base::Result<store::Project> SetPingKey(store::Store& store, const store::Project& project,
                                        std::string_view ping_key) {
  if (auto st = ValidatePingKey(ping_key); !st.ok()) return st.error();
  return StorePingKey(store, project, std::string(ping_key));
}

// ---- the command line ---------------------------------------------------------------------

namespace {

int ExitCodeOf(const base::Error& e) {
  switch (e.code) {
    case base::ErrorCode::kInvalidArgument:
      return kExitUsage;
    case base::ErrorCode::kNotFound:
      return kExitNotFound;
    default:
      return kExitError;
  }
}

// The verb's words, for messages: "overdue keys revoke: …".
std::string_view CommandName(AdminCommand::Verb verb) {
  switch (verb) {
    case AdminCommand::Verb::kProjectsCreate:
      return "projects create";
    case AdminCommand::Verb::kProjectsList:
      return "projects list";
    case AdminCommand::Verb::kKeysCreate:
      return "keys create";
    case AdminCommand::Verb::kKeysList:
      return "keys list";
    case AdminCommand::Verb::kKeysRevoke:
      return "keys revoke";
    case AdminCommand::Verb::kKeysRotatePingKey:
      return "keys rotate-ping-key";
    case AdminCommand::Verb::kKeysSetPingKey:
      return "keys set-ping-key";
  }
  return "";
}

// The existing store of `data_dir`; never creates one (a mistyped --data-dir would otherwise
// leave an empty database behind and report success).
base::Result<std::unique_ptr<store::Store>> OpenExisting(const std::string& data_dir) {
  const fs::path db = fs::path(data_dir) / kDatabaseFile;
  std::error_code ec;
  if (!fs::exists(db, ec)) {
    return base::NotFound(
        fmt::format("no overdue data dir at \"{}\" ({} is missing): pass --data-dir or set "
                    "OVERDUE_DATA_DIR, or create it with `overdue init --data-dir {}`",
                    data_dir, db.string(), data_dir));
  }
  store::SqliteOptions o;
  o.path = db.string();
  o.sync_full = true;
  return store::OpenSqlite(o);
}

std::string Created(base::TimePoint t) { return base::FormatIso8601(t); }

json KeyJson(const store::ApiKey& k, const std::map<int64_t, store::Project>& projects) {
  json j = {{"prefix", k.prefix},
            {"kind", Kind(k)},
            {"read_only", k.read_only},
            {"name", k.name},
            {"created", Created(k.created)},
            {"project_id", k.project_id}};
  if (auto it = projects.find(k.project_id); it != projects.end()) {
    j["project"] = it->second.uuid.ToString();
    j["project_name"] = it->second.name;
  }
  return j;
}

int Run(const AdminCommand& c, store::Store& store, std::ostream& out, std::ostream& err) {
  base::SystemClock clock;
  const std::string_view cmd = CommandName(c.verb);
  auto fail = [&](const base::Error& e) {
    err << "overdue " << cmd << ": " << e.message << "\n";
    return ExitCodeOf(e);
  };
  switch (c.verb) {
    case AdminCommand::Verb::kProjectsCreate: {
      auto r = CreateProject(store, clock, c.argument);
      if (!r.ok()) return fail(r.error());
      const NewProject& p = r.value();
      if (c.json) {
        out << base::JsonText(json{{"id", p.project.id},
                                   {"project", p.project.uuid.ToString()},
                                   {"name", p.project.name},
                                   {"api_key", p.api_key},
                                   {"api_key_readonly", p.api_key_readonly},
                                   {"ping_key", p.project.ping_key},
                                   {"badge_key", p.project.badge_key}})
            << "\n";
      } else {
        out << fmt::format(
            "project:        {} (id {}, \"{}\")\nAPI key:        {}\nread-only key:  {}\n"
            "ping key:       {}\n(API keys are shown once; they are stored hashed)\n",
            p.project.uuid.ToString(), p.project.id, p.project.name, p.api_key, p.api_key_readonly,
            p.project.ping_key);
      }
      return kExitOk;
    }
    case AdminCommand::Verb::kProjectsList: {
      auto projects = SortedProjects(store);
      if (!projects.ok()) return fail(projects.error());
      auto keys = store.LoadApiKeys();
      if (!keys.ok()) return fail(keys.error());
      std::map<int64_t, int> key_count;
      for (const store::ApiKey& k : keys.value()) ++key_count[k.project_id];
      if (c.json) {
        json list = json::array();
        for (const store::Project& p : projects.value()) {
          list.push_back({{"id", p.id},
                          {"project", p.uuid.ToString()},
                          {"name", p.name},
                          {"ping_key", p.ping_key},
                          {"badge_key", p.badge_key},
                          {"api_keys", key_count[p.id]},
                          {"created", Created(p.created)}});
        }
        out << base::JsonText(json{{"projects", std::move(list)}}) << "\n";
      } else {
        out << fmt::format("{:<4} {:<36} {:<24} {:<4} {:<25} {}\n", "ID", "UUID", "PING KEY",
                           "KEYS", "CREATED", "NAME");
        for (const store::Project& p : projects.value()) {
          out << fmt::format("{:<4} {:<36} {:<24} {:<4} {:<25} {}\n", p.id, p.uuid.ToString(),
                             p.ping_key, key_count[p.id], Created(p.created), p.name);
        }
      }
      return kExitOk;
    }
    case AdminCommand::Verb::kKeysCreate: {
      auto project = FindProject(store, c.project);
      if (!project.ok()) return fail(project.error());
      auto r = CreateKey(store, clock, project.value(), c.read_only, c.name);
      if (!r.ok()) return fail(r.error());
      const store::ApiKey& k = r.value().key;
      if (c.json) {
        out << base::JsonText(json{{"key", r.value().secret},
                                   {"prefix", k.prefix},
                                   {"kind", Kind(k)},
                                   {"read_only", k.read_only},
                                   {"name", k.name},
                                   {"project", project.value().uuid.ToString()},
                                   {"project_id", k.project_id}})
            << "\n";
      } else {
        // The key alone on stdout (KEY=$(overdue keys create)); the rest on stderr.
        out << r.value().secret << "\n";
        err << fmt::format(
            "created {} API key {} for project \"{}\" (shown once; stored hashed; a running "
            "server accepts it within about a second)\n",
            Kind(k), k.prefix, project.value().name);
      }
      return kExitOk;
    }
    case AdminCommand::Verb::kKeysList: {
      int64_t project_id = 0;
      if (!c.project.empty()) {
        auto project = FindProject(store, c.project);
        if (!project.ok()) return fail(project.error());
        project_id = project.value().id;
      }
      auto keys = ListKeys(store, project_id);
      if (!keys.ok()) return fail(keys.error());
      auto projects = store.LoadProjects();
      if (!projects.ok()) return fail(projects.error());
      std::map<int64_t, store::Project> by_id;
      for (store::Project& p : projects.value()) by_id[p.id] = std::move(p);
      if (c.json) {
        json list = json::array();
        for (const store::ApiKey& k : keys.value()) list.push_back(KeyJson(k, by_id));
        out << base::JsonText(json{{"keys", std::move(list)}}) << "\n";
      } else {
        out << fmt::format("{:<9} {:<11} {:<16} {:<25} {}\n", "PREFIX", "KIND", "PROJECT",
                           "CREATED", "NAME");
        for (const store::ApiKey& k : keys.value()) {
          auto it = by_id.find(k.project_id);
          out << fmt::format("{:<9} {:<11} {:<16} {:<25} {}\n", k.prefix, Kind(k),
                             it == by_id.end() ? std::to_string(k.project_id) : it->second.name,
                             Created(k.created), k.name.empty() ? "-" : k.name);
        }
      }
      return kExitOk;
    }
    case AdminCommand::Verb::kKeysRevoke: {
      auto r = RevokeKey(store, c.argument);
      if (!r.ok()) return fail(r.error());
      out << fmt::format(
          "revoked {} API key {} (\"{}\"); a running server refuses it within about a second\n",
          Kind(r.value()), r.value().prefix, r.value().name);
      return kExitOk;
    }
    case AdminCommand::Verb::kKeysRotatePingKey:
    case AdminCommand::Verb::kKeysSetPingKey: {
      auto project = FindProject(store, c.project);
      if (!project.ok()) return fail(project.error());
      auto r = c.verb == AdminCommand::Verb::kKeysSetPingKey
                   ? SetPingKey(store, project.value(), c.argument)
                   : RotatePingKey(store, project.value());
      if (!r.ok()) return fail(r.error());
      out << r.value().ping_key << "\n";
      err << fmt::format(
          "ping key of project \"{}\" is now {}: ping URLs are /ping/{}/<slug>; a running "
          "server stops accepting the old key {} within about a second\n",
          r.value().name, r.value().ping_key, r.value().ping_key, project.value().ping_key);
      return kExitOk;
    }
  }
  return kExitUsage;
}

}  // namespace

int RunAdmin(const AdminCommand& command, std::ostream& out, std::ostream& err) {
  auto store = OpenExisting(command.data_dir);
  if (!store.ok()) {
    err << "overdue " << CommandName(command.verb) << ": " << store.error().message << "\n";
    return ExitCodeOf(store.error());
  }
  return Run(command, *store.value(), out, err);
}

}  // namespace overdue::server
