// The `overdue` executable: parses the command line (CLI11) and hands over to the server
// (serve, init) or to the ping client (ping, run). Exit status 2 means the command line or the
// configuration is wrong; other codes are each command's own.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "api/api.h"
#include "base/uuid.h"
#include "cli/management_commands.h"
#include "cli/ping_command.h"
#include "cli/run_command.h"
#include "cli/version.h"
#include "server/admin.h"
#include "server/config.h"
#include "server/server.h"

namespace overdue::cli {
namespace {

constexpr int kUsageError = 2;

// The configuration options as flags of one subcommand; remembers which ones were given.
class ConfigFlags {
 public:
  explicit ConfigFlags(CLI::App* sub) {
    for (const server::ConfigOption& o : server::ConfigOptions()) {
      std::string flag = "--";
      for (const char* p = o.name; *p != '\0'; ++p) flag.push_back(*p == '_' ? '-' : *p);
      CLI::Option* opt = sub->add_option(flag, values_[o.name], o.help);
      opt->type_name(o.value);
      options_.emplace_back(o.name, opt);
    }
  }

  // Only the flags actually given: LoadConfig lets the environment and the file fill the rest.
  std::map<std::string, std::string> Given() const {
    std::map<std::string, std::string> given;
    for (const auto& [name, opt] : options_) {
      if (opt->count() > 0) given[name] = values_.at(name);
    }
    return given;
  }

 private:
  std::map<std::string, std::string> values_;  // node-stable: CLI11 keeps pointers into it
  std::vector<std::pair<std::string, CLI::Option*>> options_;
};

// Loads the configuration for serve/init; prints the error and returns nullopt when invalid.
std::optional<server::Config> LoadOrReport(const ConfigFlags& flags) {
  auto config = server::LoadConfig(
      flags.Given(), [](const char* name) -> const char* { return std::getenv(name); });
  if (!config.ok()) {
    std::fprintf(stderr, "overdue: %s\n", config.error().message.c_str());
    return std::nullopt;
  }
  return std::move(config.value());
}

const CLI::Validator kUuidValidator(
    [](std::string& text) -> std::string {
      return base::Uuid::Parse(text) ? "" : "\"" + text + "\": must be a UUID";
    },
    "UUID");

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// `overdue projects …` and `overdue keys …` (server/admin.h): each leaf subcommand fills
// `command` and is remembered with its verb, so that RunAdminIfGiven runs the one parsed.
struct AdminFlags {
  server::AdminCommand command;
  std::vector<std::pair<CLI::App*, server::AdminCommand::Verb>> leaves;
};

void AddAdminCommands(CLI::App& app, AdminFlags* flags) {
  using Verb = server::AdminCommand::Verb;
  server::AdminCommand& c = flags->command;
  auto leaf = [&](CLI::App* parent, const char* name, const char* help, Verb verb, bool with_json) {
    CLI::App* sub = parent->add_subcommand(name, help);
    sub->add_option("--data-dir", c.data_dir, "Data dir of the server (default ./data)")
        ->envname("OVERDUE_DATA_DIR");
    if (with_json) sub->add_flag("--json", c.json, "Print one JSON document");
    flags->leaves.emplace_back(sub, verb);
    return sub;
  };
  auto with_project = [&](CLI::App* sub) {
    sub->add_option("--project", c.project,
                    "Project id, UUID or name (default: the only project, else id 1)");
  };
  c.data_dir = server::Config{}.data_dir;

  CLI::App* projects =
      app.add_subcommand("projects", "Create and list projects (works while the server runs)");
  projects->require_subcommand(1);
  leaf(projects, "create", "Create a project with its keys, and print them once",
       Verb::kProjectsCreate, true)
      ->add_option("name", c.argument, "Name of the project")
      ->required();
  leaf(projects, "list", "List projects with their ping keys", Verb::kProjectsList, true);

  CLI::App* keys = app.add_subcommand(
      "keys",
      "Create, list and revoke API keys; rotate or set ping keys (a running server notices "
      "within about a second)");
  keys->require_subcommand(1);
  CLI::App* create =
      leaf(keys, "create", "Create an API key and print it once", Verb::kKeysCreate, true);
  with_project(create);
  create->add_flag("--read-only", c.read_only, "A read-only key (hcr_…)");
  create->add_option("--name", c.name, "A label shown by `keys list`");
  with_project(leaf(keys, "list", "List API keys (prefix, kind, name; never the key)",
                    Verb::kKeysList, true));
  leaf(keys, "revoke", "Delete an API key", Verb::kKeysRevoke, false)
      ->add_option("key", c.argument, "The key's prefix as `keys list` shows it, or the key")
      ->required();
  with_project(leaf(keys, "rotate-ping-key",
                    "Give the project a new ping key (old /ping/<key>/<slug> URLs stop working)",
                    Verb::kKeysRotatePingKey, false));
  CLI::App* set_ping =
      leaf(keys, "set-ping-key", "Set the project's ping key (keep healthchecks' ping URLs)",
           Verb::kKeysSetPingKey, false);
  with_project(set_ping);
  set_ping->add_option("key", c.argument, "1-64 characters of A-Z a-z 0-9 _ -")->required();
}

std::optional<int> RunAdminIfGiven(AdminFlags& flags) {
  for (const auto& [sub, verb] : flags.leaves) {
    if (!sub->parsed()) continue;
    flags.command.verb = verb;
    return server::RunAdmin(flags.command, std::cout, std::cerr);
  }
  return std::nullopt;
}

int Main(int argc, char** argv) {
  CLI::App app{"overdue: a dead man's switch for people and machines. Silence is the alarm."};
  app.name("overdue");
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print the version and exit");

  CLI::App* serve = app.add_subcommand("serve",
                                       "Run the server (flags also from OVERDUE_<FLAG> "
                                       "variables and the --config TOML file)");
  ConfigFlags serve_flags(serve);

  CLI::App* init = app.add_subcommand("init",
                                      "Create the data dir and the default project, "
                                      "and print its keys");
  ConfigFlags init_flags(init);
  bool init_json = false;
  init->add_flag("--json", init_json, "Print the keys as one JSON line");

  CLI::App* ping = app.add_subcommand("ping", "Send one ping and print the server's reply");
  PingOptions ping_options;
  ping->add_option("target", ping_options.target, "Ping URL, UUID or <ping-key>/<slug>")
      ->required();
  bool start = false;
  bool fail = false;
  bool log = false;
  int exit_status = 0;
  CLI::Option* start_flag = ping->add_flag("--start", start, "Signal that a run has started");
  CLI::Option* fail_flag = ping->add_flag("--fail", fail, "Signal a failure");
  CLI::Option* log_flag = ping->add_flag("--log", log, "Log a message without a state change");
  CLI::Option* exit_option =
      ping->add_option("--exit", exit_status, "Report an exit status (0 = success)")
          ->check(CLI::Range(0, 255));
  start_flag->excludes(fail_flag)->excludes(log_flag)->excludes(exit_option);
  fail_flag->excludes(log_flag)->excludes(exit_option);
  log_flag->excludes(exit_option);
  std::string ping_body_file;
  CLI::Option* body_option =
      ping->add_option("--body-file", ping_body_file, "Send this file as the body (- = stdin)");
  std::string ping_rid;
  CLI::Option* ping_rid_option =
      ping->add_option("--rid", ping_rid, "Run id pairing a start with its finish")
          ->check(kUuidValidator);
  ping->add_option("--server", ping_options.server,
                   "Server for a UUID or <ping-key>/<slug> target (default " +
                       std::string(kDefaultServer) + ")")
      ->envname("OVERDUE_SERVER");

  CLI::App* run =
      app.add_subcommand("run",
                         "Run a command and report its start, exit status and output tail: "
                         "overdue run --url PING_URL -- COMMAND [ARGS...]");
  run->prefix_command();
  std::string run_url;
  CLI::Option* url_option =
      run->add_option("--url", run_url, "Ping URL of the watch (default: $OVERDUE_PING_URL)");
  std::string run_server = EnvOr("OVERDUE_SERVER", kDefaultServer);
  run->add_option(
      "--server", run_server,
      "Server for --uuid (default $OVERDUE_SERVER or " + std::string(kDefaultServer) + ")");
  std::string run_uuid;
  CLI::Option* uuid_option =
      run->add_option("--uuid", run_uuid, "UUID of the watch")->check(kUuidValidator);
  url_option->excludes(uuid_option);
  std::string run_rid;
  CLI::Option* run_rid_option =
      run->add_option("--rid", run_rid, "Run id to use instead of a fresh one")
          ->check(kUuidValidator);

  AdminFlags admin;
  AddAdminCommands(app, &admin);
  ManagementCommands management(app);  // checks, export, import, incidents, channels, silences
  app.add_subcommand("version", "Print the version");
  app.add_subcommand("routes", "Print every HTTP route the server answers (METHOD /path)");

  // `run … -- COMMAND ARGS`: everything after the first "--" is the command, untouched by
  // CLI11 (which would hand it to the parent app). Without "--", prefix_command() collects the
  // command from its first positional argument on.
  std::vector<std::string> run_command;
  bool run_dash_dash = false;
  if (argc > 1 && std::string_view(argv[1]) == "run") {
    for (int i = 2; i < argc; ++i) {
      if (std::string_view(argv[i]) == "--") {
        run_command.assign(argv + i + 1, argv + argc);
        run_dash_dash = true;
        argc = i;
        break;
      }
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsageError;
  }

  if (auto code = RunAdminIfGiven(admin)) return *code;
  if (auto code = management.RunIfParsed(std::getenv, std::cin, std::cout, std::cerr)) {
    return *code;
  }
  if (serve->parsed()) {
    auto config = LoadOrReport(serve_flags);
    if (!config) return kUsageError;
    return server::Serve(*config);
  }
  if (init->parsed()) {
    auto config = LoadOrReport(init_flags);
    if (!config) return kUsageError;
    return server::Init(*config, init_json);
  }
  if (ping->parsed()) {
    if (start) ping_options.signal = {PingSignal::Kind::kStart};
    if (fail) ping_options.signal = {PingSignal::Kind::kFail};
    if (log) ping_options.signal = {PingSignal::Kind::kLog};
    if (exit_option->count() > 0) ping_options.signal = {PingSignal::Kind::kExit, exit_status};
    if (body_option->count() > 0) ping_options.body_file = ping_body_file;
    if (ping_rid_option->count() > 0) ping_options.rid = base::Uuid::Parse(ping_rid);
    return PingCommand(ping_options, std::cout, std::cerr);
  }
  if (run->parsed()) {
    RunOptions options;
    if (run_dash_dash && !run->remaining().empty()) {
      std::fprintf(stderr,
                   "overdue run: \"%s\": unexpected before \"--\" (the command goes "
                   "after it)\n",
                   run->remaining().front().c_str());
      return kUsageError;
    }
    options.command = run_dash_dash ? run_command : run->remaining();
    if (options.command.empty()) {
      std::fprintf(stderr,
                   "overdue run: no command given: overdue run --url PING_URL -- "
                   "COMMAND [ARGS...]\n");
      return kUsageError;
    }
    std::string target = uuid_option->count() > 0 ? run_uuid : run_url;
    if (target.empty()) target = EnvOr("OVERDUE_PING_URL", "");
    if (target.empty()) {
      std::fprintf(stderr, "overdue run: no ping URL: give --url, --uuid or OVERDUE_PING_URL\n");
      return kUsageError;
    }
    auto url = ResolvePingTarget(target, run_server);
    if (!url.ok()) {
      std::fprintf(stderr, "overdue run: %s\n", url.error().message.c_str());
      return kUsageError;
    }
    options.ping_url = url.value();
    if (run_rid_option->count() > 0) options.rid = base::Uuid::Parse(run_rid);
    return RunCommand(options);
  }
  if (app.got_subcommand("routes")) {
    for (const std::string& r : api::Routes()) std::printf("%s\n", r.c_str());
    return 0;
  }
  if (show_version || app.got_subcommand("version")) {
    std::printf("overdue %s\n", Version());
    return 0;
  }
  std::fprintf(stderr, "overdue: a subcommand is required\n%s", app.help().c_str());
  return kUsageError;
}

}  // namespace
}  // namespace overdue::cli

int main(int argc, char** argv) { return overdue::cli::Main(argc, argv); }
