#include "cli/management_commands.h"

#include "cli/migrate_command.h"

namespace overdue::cli {
namespace {

// The value of `flag` on `sub` when it was given on the command line.
std::optional<std::string> Given(CLI::App* sub, const char* flag, const std::string& value) {
  const CLI::Option* opt = sub->get_option_no_throw(flag);
  if (opt == nullptr || opt->count() == 0) return std::nullopt;
  return value;
}

}  // namespace

ManagementCommands::ManagementCommands(CLI::App& app) {
  using Verb = ChecksRequest::Verb;
  CLI::App* checks = app.add_subcommand(
      "checks", "List, show, create, update, pause, resume and delete checks (Management API v3)");
  checks->require_subcommand(1);
  checks->footer(kExitCodesHelp);

  CLI::App* list = AddChecksLeaf(checks, "list", "List checks as a table", Verb::kList);
  list->add_option("--tag", tags_, "Only checks with this tag (repeat: all of them)")
      ->allow_extra_args(false);
  list->add_option("--slug", slug_filter_, "Only the check with this slug");

  AddChecksLeaf(checks, "show", "Show one check", Verb::kShow)
      ->add_option("uuid", id_, "The check's UUID (or a read-only key's unique_key)")
      ->required();

  CLI::App* create = AddChecksLeaf(checks, "create", "Create a check", Verb::kCreate);
  AddCheckFieldFlags(create, /*create=*/true);

  CLI::App* update = AddChecksLeaf(
      checks, "update", "Change the given settings of a check (others stay)", Verb::kUpdate);
  update->add_option("uuid", id_, "The check's UUID")->required();
  AddCheckFieldFlags(update, /*create=*/false);

  AddChecksLeaf(checks, "pause", "Pause a check: no alerts until its next ping", Verb::kPause)
      ->add_option("uuid", id_, "The check's UUID")
      ->required();
  AddChecksLeaf(checks, "resume", "Resume a paused check", Verb::kResume)
      ->add_option("uuid", id_, "The check's UUID")
      ->required();
  AddChecksLeaf(checks, "delete", "Delete a check and its history", Verb::kDelete)
      ->add_option("uuid", id_, "The check's UUID")
      ->required();

  export_ = app.add_subcommand(
      "export", "Write every check of the key's project as JSON to stdout (GET /api/v1/export)");
  export_->add_option("--url", url_, "overdue server (default http://127.0.0.1:8000)");
  export_->add_option("--api-key", api_key_, "Read-write API key of the project");
  export_->add_flag("--history", history_, "Include check-ins and flips");
  export_->footer(kExitCodesHelp);

  import_ = app.add_subcommand(
      "import",
      "Import an `overdue export` file (POST /api/v1/import), or copy a healthchecks project's "
      "checks with their UUIDs (--from-healthchecks)");
  CLI::Option* file =
      import_->add_option("file", file_, "An `overdue export` file (- reads stdin)");
  CLI::Option* from = import_->add_option(
      "--from-healthchecks", from_healthchecks_,
      "healthchecks site root (https://healthchecks.io or your own); needs --api-key");
  file->excludes(from);
  import_->add_option("--api-key", api_key_,
                      "With --from-healthchecks: the healthchecks project's read-write key "
                      "(else $HEALTHCHECKS_API_KEY). Without: the overdue key");
  import_->add_option("--to-url,--url", url_,
                      "overdue server to import into (default: OVERDUE_URL, cli.toml, "
                      "http://127.0.0.1:8000)");
  import_->add_option("--to-api-key", to_api_key_,
                      "overdue's read-write API key (default: OVERDUE_API_KEY, cli.toml)");
  import_->add_flag("--dry-run", dry_run_,
                    "With --from-healthchecks: print what would be created, updated or skipped, "
                    "and change nothing");
  import_->add_flag("--json", json_, "Print the server's summary as JSON (file import)");
  import_->footer(std::string(kExitCodesHelp) +
                  "\nWith --from-healthchecks, exit status 5 means some checks were skipped "
                  "(OnCalendar schedules) or refused; the others were imported.\n");

  AddIncidentsCommands(app);
}

void ManagementCommands::AddIncidentsCommands(CLI::App& app) {
  using Verb = IncidentsRequest::Verb;
  CLI::App* incidents = app.add_subcommand(
      "incidents", "List, show, acknowledge, annotate and resolve incidents (/api/v1)");
  incidents->require_subcommand(1);
  incidents->footer(kExitCodesHelp);
  CLI::App* list =
      AddIncidentsLeaf(incidents, "list", "List incidents, newest first", Verb::kIncidentsList);
  list->add_option("--state", state_,
                   "open, acknowledged, resolved or active (open and acknowledged); "
                   "comma-separated");
  list->add_option("--watch", watch_, "Only this watch's incidents (UUID)");
  list->add_option("--limit", limit_, "At most this many (1-1000)");
  AddIncidentsLeaf(incidents, "show", "Show an incident with its timeline and notifications",
                   Verb::kIncidentsShow)
      ->add_option("id", id_, "The incident's number")
      ->required();
  CLI::App* ack = AddIncidentsLeaf(incidents, "ack", "Acknowledge an incident: stop escalating",
                                   Verb::kIncidentsAck);
  ack->add_option("id", id_, "The incident's number")->required();
  ack->add_option("--by", by_, "Who acknowledges (default: the API key's name)");
  CLI::App* unack = AddIncidentsLeaf(incidents, "unack",
                                     "Undo an acknowledgement: escalate again from the first step",
                                     Verb::kIncidentsUnack);
  unack->add_option("id", id_, "The incident's number")->required();
  unack->add_option("--by", by_, "Who undoes it (default: the API key's name)");
  CLI::App* note = AddIncidentsLeaf(incidents, "note", "Add a note to an incident's timeline",
                                    Verb::kIncidentsNote);
  note->add_option("id", id_, "The incident's number")->required();
  note->add_option("text", note_words_, "The note (the remaining words)")->required();
  note->add_option("--by", by_, "Who writes it (default: the API key's name)");
  CLI::App* resolve = AddIncidentsLeaf(incidents, "resolve", "Resolve an incident by hand",
                                       Verb::kIncidentsResolve);
  resolve->add_option("id", id_, "The incident's number")->required();
  resolve->add_option("--reason", reason_, "Why it is over")->required();
  resolve->add_option("--by", by_, "Who resolves it (default: the API key's name)");

  CLI::App* channels =
      app.add_subcommand("channels", "List notification channels and send test messages");
  channels->require_subcommand(1);
  channels->footer(kExitCodesHelp);
  AddIncidentsLeaf(channels, "list", "List the project's channels", Verb::kChannelsList);
  AddIncidentsLeaf(channels, "test", "Send a test notification through a channel",
                   Verb::kChannelsTest)
      ->add_option("id", id_, "The channel's UUID")
      ->required();

  CLI::App* silences = app.add_subcommand(
      "silences", "Maintenance windows: hold notifications back for a watch, a tag or everything");
  silences->require_subcommand(1);
  silences->footer(kExitCodesHelp);
  AddIncidentsLeaf(silences, "list", "List silences that have not ended", Verb::kSilencesList);
  CLI::App* create = AddIncidentsLeaf(
      silences, "create",
      "Silence a watch, a tag or the whole project from now on (state changes are still "
      "recorded)",
      Verb::kSilencesCreate);
  CLI::Option* watch = create->add_option("--watch", watch_, "The watch's UUID");
  CLI::Option* tag = create->add_option("--tag", tag_, "Every watch with this tag");
  CLI::Option* project = create->add_flag("--project", project_, "Every watch of the project");
  watch->excludes(tag)->excludes(project);
  tag->excludes(project);
  CLI::Option* duration = create->add_option("--duration", duration_, "How long (90m, 2h, 1d)");
  CLI::Option* ends = create->add_option("--ends", ends_,
                                         "Until when (ISO 8601 with offset: 2026-11-25T10:00:00Z)");
  duration->excludes(ends);
  create->add_option("--reason", reason_, "Why (shown in the list)");
  AddIncidentsLeaf(silences, "delete", "End a silence now", Verb::kSilencesDelete)
      ->add_option("id", id_, "The silence's UUID")
      ->required();
}

CLI::App* ManagementCommands::AddIncidentsLeaf(CLI::App* parent, const char* name, const char* help,
                                               IncidentsRequest::Verb verb) {
  CLI::App* sub = parent->add_subcommand(name, help);
  sub->add_option("--url", url_, "Server (default http://127.0.0.1:8000)");
  sub->add_option("--api-key", api_key_, "API key of the project");
  sub->add_flag("--json", json_, "Print the server's JSON unchanged");
  sub->footer(kExitCodesHelp);
  incident_leaves_.emplace_back(sub, verb);
  return sub;
}

CLI::App* ManagementCommands::AddChecksLeaf(CLI::App* checks, const char* name, const char* help,
                                            ChecksRequest::Verb verb) {
  CLI::App* sub = checks->add_subcommand(name, help);
  sub->add_option("--url", url_, "Server (default http://127.0.0.1:8000)");
  sub->add_option("--api-key", api_key_, "API key of the project");
  sub->add_flag("--json", json_, "Print the server's JSON unchanged");
  sub->footer(kExitCodesHelp);
  leaves_.emplace_back(sub, verb);
  return sub;
}

void ManagementCommands::AddCheckFieldFlags(CLI::App* sub, bool create) {
  sub->add_option("--name", name_, "Name");
  sub->add_option("--slug", slug_, "Slug for /ping/<ping-key>/<slug> (a-z 0-9 - _)");
  sub->add_option("--tags", tags_text_, "Space-separated tags, e.g. \"prod db\"");
  sub->add_option("--desc", desc_, "Description");
  CLI::Option* timeout =
      sub->add_option("--timeout", timeout_, "Expected period between pings (60, 90s, 5m, 2h, 1d)");
  CLI::Option* schedule =
      sub->add_option("--schedule", schedule_, "Cron schedule, 5 fields (\"*/5 * * * *\")");
  timeout->excludes(schedule);
  sub->add_option("--tz", tz_, "Time zone of --schedule (IANA name, default UTC)");
  sub->add_option("--grace", grace_, "Grace time after a missed ping (default 1h)");
  sub->add_flag("--manual-resume,!--no-manual-resume", manual_resume_,
                "Stay down after a failure until resumed by hand");
  if (create) {
    sub->add_option("--unique", unique_,
                    "Update instead of creating when a check matches these fields "
                    "(comma-separated: name, slug, tags, timeout, grace)");
  }
}

std::optional<ClientConfig> ManagementCommands::Target(CLI::App* sub, const GetEnv& getenv,
                                                       const std::string& config_path,
                                                       std::ostream& err) const {
  ClientFlags flags;
  flags.url = Given(sub, "--url", url_);
  flags.api_key = Given(sub, "--api-key", api_key_);
  auto config = ResolveClientConfig(flags, getenv, config_path);
  if (!config.ok()) {
    err << "overdue: " << config.error().message << "\n";
    return std::nullopt;
  }
  return std::move(config.value());
}

int ManagementCommands::RunChecksLeaf(CLI::App* sub, ChecksRequest::Verb verb, const GetEnv& getenv,
                                      std::ostream& out, std::ostream& err) {
  ChecksRequest request;
  request.verb = verb;
  request.config_path = ClientConfigPath(getenv);
  auto target = Target(sub, getenv, request.config_path, err);
  if (!target) return kExitUsage;
  request.client = std::move(*target);
  request.id = id_;
  request.json = json_;
  if (verb == ChecksRequest::Verb::kList) {
    request.tags = tags_;
    request.slug = Given(sub, "--slug", slug_filter_);
  }
  if (verb == ChecksRequest::Verb::kCreate || verb == ChecksRequest::Verb::kUpdate) {
    CheckFields& f = request.fields;
    f.name = Given(sub, "--name", name_);
    f.slug = Given(sub, "--slug", slug_);
    f.tags = Given(sub, "--tags", tags_text_);
    f.desc = Given(sub, "--desc", desc_);
    f.timeout = Given(sub, "--timeout", timeout_);
    f.schedule = Given(sub, "--schedule", schedule_);
    f.tz = Given(sub, "--tz", tz_);
    f.grace = Given(sub, "--grace", grace_);
    f.unique = Given(sub, "--unique", unique_);
    if (sub->get_option("--manual-resume")->count() > 0) f.manual_resume = manual_resume_;
  }
  return RunChecks(request, out, err);
}

int ManagementCommands::RunImport(const GetEnv& getenv, std::istream& in, std::ostream& out,
                                  std::ostream& err) {
  const bool from_hc = import_->get_option("--from-healthchecks")->count() > 0;
  const bool from_file = import_->get_option("file")->count() > 0;
  if (!from_hc && !from_file) {
    err << "overdue import: give an export file (overdue import backup.json) or "
           "--from-healthchecks URL --api-key KEY\n";
    return kExitUsage;
  }
  if (dry_run_ && !from_hc) {
    err << "overdue import: --dry-run applies to --from-healthchecks only\n";
    return kExitUsage;
  }
  const std::string config_path = ClientConfigPath(getenv);
  ClientFlags flags;
  flags.url = Given(import_, "--to-url", url_);
  flags.api_key = Given(import_, "--to-api-key", to_api_key_);
  if (!flags.api_key && !from_hc) flags.api_key = Given(import_, "--api-key", api_key_);
  auto target = ResolveClientConfig(flags, getenv, config_path);
  if (!target.ok()) {
    err << "overdue: " << target.error().message << "\n";
    return kExitUsage;
  }
  if (from_hc) {
    HealthchecksImport options;
    options.source_url = from_healthchecks_;
    if (auto key = Given(import_, "--api-key", api_key_)) {
      options.source_key = *key;
    } else if (const char* env = getenv("HEALTHCHECKS_API_KEY")) {
      options.source_key = env;
    }
    options.target = std::move(target.value());
    options.config_path = config_path;
    options.dry_run = dry_run_;
    return ImportFromHealthchecks(options, out, err);
  }
  ImportFileOptions options;
  options.target = std::move(target.value());
  options.config_path = config_path;
  options.path = file_;
  options.json = json_;
  return ImportFileCommand(options, in, out, err);
}

int ManagementCommands::RunIncidentsLeaf(CLI::App* sub, IncidentsRequest::Verb verb,
                                         const GetEnv& getenv, std::ostream& out,
                                         std::ostream& err) {
  IncidentsRequest request;
  request.verb = verb;
  request.config_path = ClientConfigPath(getenv);
  auto target = Target(sub, getenv, request.config_path, err);
  if (!target) return kExitUsage;
  request.client = std::move(*target);
  request.id = id_;
  request.json = json_;
  request.state = Given(sub, "--state", state_);
  request.watch = Given(sub, "--watch", watch_);
  request.limit = Given(sub, "--limit", limit_);
  request.by = Given(sub, "--by", by_);
  request.reason = Given(sub, "--reason", reason_);
  request.tag = Given(sub, "--tag", tag_);
  request.duration = Given(sub, "--duration", duration_);
  request.ends = Given(sub, "--ends", ends_);
  request.project = project_;
  for (const std::string& word : note_words_) {
    request.text += (request.text.empty() ? "" : " ") + word;
  }
  return RunIncidents(request, out, err);
}

std::optional<int> ManagementCommands::RunIfParsed(const GetEnv& getenv, std::istream& in,
                                                   std::ostream& out, std::ostream& err) {
  for (const auto& [sub, verb] : leaves_) {
    if (sub->parsed()) return RunChecksLeaf(sub, verb, getenv, out, err);
  }
  if (export_->parsed()) {
    ExportOptions options;
    options.config_path = ClientConfigPath(getenv);
    auto target = Target(export_, getenv, options.config_path, err);
    if (!target) return kExitUsage;
    options.target = std::move(*target);
    options.history = history_;
    return ExportCommand(options, out, err);
  }
  if (import_->parsed()) return RunImport(getenv, in, out, err);
  for (const auto& [sub, verb] : incident_leaves_) {
    if (sub->parsed()) return RunIncidentsLeaf(sub, verb, getenv, out, err);
  }
  return std::nullopt;
}

}  // namespace overdue::cli
