// Admin: `overdue projects …` and `overdue keys …`, run against the data dir's store directly
// (not through the HTTP API), so they work with the server stopped or running: SQLite in WAL
// mode lets this second process write while the server reads and writes, and the running
// server reloads projects and API keys from the store every second (server.cc,
// RefreshKeys), so a created key works and a revoked one stops working within about a second.
//
// API keys are printed once, when created, and stored as a SHA-256 hash with their first
// kKeyPrefixChars characters for listing (DESIGN.md, Security: API keys). Ping keys are not
// secret in the same way (they are in every ping URL) and are shown by `projects list`.
//
// The functions take a Store and are what the tests drive; RunAdmin is the command line
// side (opens the store, formats text or JSON, maps errors to exit codes).
// Run one admin command at a time per data dir: `projects create` picks the next id by
// reading the store, so two concurrent creations could pick the same one.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "store/store.h"

namespace overdue::server {

// Exit codes of the admin commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;     // the store failed, a name is taken, a prefix is ambiguous
inline constexpr int kExitUsage = 2;     // bad arguments (an invalid ping key, no project chosen)
inline constexpr int kExitNotFound = 3;  // no such data dir, project or key

// Stored with each API key so that `keys list` can tell keys apart ("hcw_ab12").
inline constexpr size_t kKeyPrefixChars = 8;

struct NewProject {
  store::Project project;
  std::string api_key;           // read-write, in clear: shown once
  std::string api_key_readonly;  // read-only, in clear: shown once
};

struct NewKey {
  store::ApiKey key;   // as stored (hash, prefix)
  std::string secret;  // the key in clear: shown once
};

// A new project: the next free id, a random UUID, ping key and badge key, and a read-write
// and a read-only API key. kInvalidArgument for an empty or over-long name (1–200
// characters), kAlreadyExists when a project has that name.
base::Result<NewProject> CreateProject(store::Store& store, const base::Clock& clock,
                                       std::string_view name);

// The project `selector` names: an id ("2"), a UUID or a name, tried in that order. Empty
// selects the default project: the only one, else id 1. kNotFound (the message lists the
// projects); kConflict when a name is shared by several projects.
base::Result<store::Project> FindProject(store::Store& store, std::string_view selector);

// A new API key of `project`. `name` is a free-form label, at most 100 characters.
base::Result<NewKey> CreateKey(store::Store& store, const base::Clock& clock,
                               const store::Project& project, bool read_only,
                               std::string_view name);

// Every API key, or only those of `project_id` when it is not 0; by project, then creation.
base::Result<std::vector<store::ApiKey>> ListKeys(store::Store& store, int64_t project_id);

// Deletes the key named by a prefix of at least 4 characters (as `keys list` shows it) or by
// the whole key. kNotFound; kConflict when the prefix matches several keys (the message
// lists them, nothing is deleted). Returns the deleted key.
base::Result<store::ApiKey> RevokeKey(store::Store& store, std::string_view prefix_or_key);

// 1–64 characters of [A-Za-z0-9_-] (a Django slug, what ping URLs accept); healthchecks' own
// are 22 characters. kInvalidArgument naming the rule.
base::Status ValidatePingKey(std::string_view ping_key);

// Gives `project` a new random ping key / the given one (migrating from healthchecks keeps
// /ping/<ping-key>/<slug> URLs). The old key stops working. SetPingKey: kInvalidArgument,
// or kAlreadyExists when another project uses the key. Returns the updated project.
base::Result<store::Project> RotatePingKey(store::Store& store, const store::Project& project);
base::Result<store::Project> SetPingKey(store::Store& store, const store::Project& project,
                                        std::string_view ping_key);

// The command line: one subcommand with its arguments, as parsed by src/cli/main.cc.
struct AdminCommand {
  enum class Verb {
    kProjectsCreate,     // argument = NAME
    kProjectsList,       //
    kKeysCreate,         // project, read_only, name
    kKeysList,           // project (empty: every project's keys)
    kKeysRevoke,         // argument = PREFIX_OR_KEY
    kKeysRotatePingKey,  // project
    kKeysSetPingKey,     // argument = KEY, project
  };
  Verb verb = Verb::kProjectsList;
  std::string data_dir;  // holds overdue.db; must exist (`overdue init` creates it)
  std::string argument;
  std::string project;  // selector for FindProject; empty = default
  std::string name;     // label of a new API key
  bool read_only = false;
  bool json = false;  // one JSON document on stdout instead of text
};

// Runs `command`: results on `out`, messages on `err`. Returns one of the kExit* codes.
int RunAdmin(const AdminCommand& command, std::ostream& out, std::ostream& err);

}  // namespace overdue::server
