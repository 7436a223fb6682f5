// The management subcommands on the `overdue` command line (CLI11): `checks list|show|create|
// update|pause|resume|delete`, `export`, `import`, and `incidents`, `channels` and `silences`.
// main.cc constructs one before parsing and calls RunIfParsed after; the work is done by
// checks_command.h, migrate_command.h and incidents_command.h.
// Flag values live in this object (CLI11 keeps pointers to them): it must outlive the parse.
#pragma once

#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/api_client.h"
#include "cli/checks_command.h"
#include "cli/incidents_command.h"

namespace overdue::cli {

class ManagementCommands {
 public:
  explicit ManagementCommands(CLI::App& app);
  ManagementCommands(const ManagementCommands&) = delete;
  ManagementCommands& operator=(const ManagementCommands&) = delete;

  // Runs the management command the parsed command line named and returns its exit status
  // (api_client.h's ExitCode); nullopt when the command line named another command.
  std::optional<int> RunIfParsed(const GetEnv& getenv, std::istream& in, std::ostream& out,
                                 std::ostream& err);

 private:
  CLI::App* AddChecksLeaf(CLI::App* checks, const char* name, const char* help,
                          ChecksRequest::Verb verb);
  void AddCheckFieldFlags(CLI::App* sub, bool create);
  CLI::App* AddIncidentsLeaf(CLI::App* parent, const char* name, const char* help,
                             IncidentsRequest::Verb verb);
  void AddIncidentsCommands(CLI::App& app);
  // The overdue server's URL and key for `sub` from its flags, the environment and cli.toml;
  // prints the error and returns nullopt when the configuration is invalid.
  std::optional<ClientConfig> Target(CLI::App* sub, const GetEnv& getenv,
                                     const std::string& config_path, std::ostream& err) const;
  int RunChecksLeaf(CLI::App* sub, ChecksRequest::Verb verb, const GetEnv& getenv,
                    std::ostream& out, std::ostream& err);
  int RunImport(const GetEnv& getenv, std::istream& in, std::ostream& out, std::ostream& err);
  int RunIncidentsLeaf(CLI::App* sub, IncidentsRequest::Verb verb, const GetEnv& getenv,
                       std::ostream& out, std::ostream& err);

  std::vector<std::pair<CLI::App*, ChecksRequest::Verb>> leaves_;
  std::vector<std::pair<CLI::App*, IncidentsRequest::Verb>> incident_leaves_;
  CLI::App* export_ = nullptr;
  CLI::App* import_ = nullptr;

  // Flag values shared by the leaves (only one leaf is parsed per run).
  std::string url_;
  std::string api_key_;
  std::string to_api_key_;
  std::string id_;
  std::vector<std::string> tags_;
  std::string slug_filter_;
  std::string name_, slug_, tags_text_, desc_, timeout_, schedule_, tz_, grace_, unique_;
  bool manual_resume_ = false;
  bool json_ = false;
  bool history_ = false;
  bool dry_run_ = false;
  std::string file_;
  std::string from_healthchecks_;
  // incidents, channels, silences
  std::string state_, watch_, limit_, by_, reason_, tag_, duration_, ends_;
  std::vector<std::string> note_words_;
  bool project_ = false;
};

}  // namespace overdue::cli
