// Config: everything `overdue serve` and `overdue init` need to know, and LoadConfig, which
// builds it from four sources. Precedence, highest first:
//
//   1. command-line flags        --min-period 1s
//   2. environment variables     OVERDUE_MIN_PERIOD=1s   (an empty variable counts as unset)
//   3. the TOML file             min_period = "1s"       (named by --config or OVERDUE_CONFIG)
//   4. the defaults below
//
// Every option has one name, spelt with underscores in the TOML file and in `flags`
// (`min_period`), with dashes on the command line (`--min-period`) and upper-cased behind
// `OVERDUE_` in the environment. Every value is validated whatever its source; an error names
// the source, the field, the value and the rule, e.g.
//   OVERDUE_MIN_PERIOD: "abc": ...
//   config overdue.toml: listen: "localhost": must be HOST:PORT
//   config overdue.toml: watch[0].cron: "61 * * * *": minute must be 0-59
// The TOML file may also declare watches ([[watch]] tables), notification channels ([[channel]])
// and escalation policies ([[policy]] with [[policy.step]]), config as code; unknown keys
// there are errors, so a typo never passes silently. What the file alone cannot know is left
// to the server: a channel's kind-specific settings (notify::ValidateChannel) and whether the
// channel ids a policy names exist (in the file or in the database).
//
// LoadConfig reads the TOML file. It writes only when the file declares a watch without an id:
// it then creates the data dir and its watch-id key (config-watch-ids.key) if they are not
// there yet, as `overdue serve` would. It is thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/time.h"
#include "model/incident.h"
#include "model/watch.h"

namespace overdue::server {

// When a check-in is acknowledged: kCommit after its transaction is durable (fsync'd);
// kRelaxed before the fsync, for users who choose speed over the last few check-ins.
enum class Durability { kCommit, kRelaxed };

struct Config {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8000;  // 0: any free port (the server prints the one it bound)
  std::string data_dir = "./data";
  std::string config_file;  // "" = none
  Durability durability = Durability::kCommit;
  base::Duration min_period = std::chrono::seconds(60);  // healthchecks' minimum period/grace
  int threads = 0;                                       // 0 = one I/O thread per core
  size_t ping_body_limit = 10000;                        // healthchecks' PING_BODY_LIMIT
  int history_limit = 100;                               // check-ins kept per watch
  int64_t check_limit = 100000;                          // checks per project
  size_t max_import_bytes = 32 * 1024 * 1024;            // body of POST /api/v1/import
  size_t max_connections = 10000;
  size_t max_body_bytes = 1024 * 1024;
  base::Duration read_timeout = std::chrono::seconds(10);
  base::Duration idle_timeout = std::chrono::seconds(60);
  std::string public_url;           // base of ping URLs shown to users; "" = http://listen
  std::string log_level = "info";   // trace debug info warn error
  std::string log_format = "text";  // text | json
  // Notifications. Webhooks and other targets on loopback or private addresses are refused
  // unless this is set (SSRF protection; end-to-end tests need it for local receivers).
  // With durability=commit: while flips are committing, plain check-ins are also written to
  // the check-in log and answered once it has them (journal/checkin_log.h). Off by default:
  // the extra fdatasyncs delayed a storm's notifications by ~10% (BENCHMARKS.md).
  bool checkin_log = false;
  bool allow_private_targets = false;
  // PEM file of the certificate authorities trusted for TLS to receivers (HTTPS webhooks,
  // SMTP with STARTTLS or smtps://) in place of the system's bundle; "" = the system's.
  std::string tls_ca_file;
  base::Duration notify_timeout = std::chrono::seconds(10);  // one delivery attempt
  int notify_max_attempts = 8;  // a notification fails for good after this many attempts
  // Delay before the first retry; each later one doubles it (with jitter, capped at 10m).
  base::Duration notify_retry_delay = std::chrono::seconds(5);
  // The server GETs this URL every heartbeat_interval while its self-checks pass, so another
  // monitor notices when overdue itself is down ("" = no heartbeat).
  std::string heartbeat_url;
  base::Duration heartbeat_interval = std::chrono::seconds(60);
  base::Duration ack_link_ttl = std::chrono::hours(24 * 7);  // lifetime of signed ack links
  std::vector<model::WatchSpec> watches;                     // [[watch]] tables in the TOML file
  // [[channel]] tables: config is the [channel.config] table as JSON text, not yet checked by
  // notify::ValidateChannel; project_id 0 = the default project (filled in by the server).
  std::vector<model::Channel> channels;
  // [[policy]] tables; project_id 0 as above. Channel ids are UUIDs, not yet known to exist.
  std::vector<model::Policy> policies;
};

// One configurable option, for front ends that present them (the CLI builds its flags from
// this list, so a new option appears everywhere at once).
struct ConfigOption {
  const char* name;   // with underscores: "min_period"
  const char* value;  // what the value looks like, for help: "DURATION"
  const char* help;   // one line, with the default
};

// Every option LoadConfig accepts in `flags`, in the environment and at the top of the TOML
// file, in the order `overdue serve --help` shows them. Includes "config".
std::span<const ConfigOption> ConfigOptions();

// flags: option name (with underscores, e.g. "min_period") → value as typed on the command
// line; only options actually given. getenv: the environment (std::getenv in production).
// Errors are kInvalidArgument with a message as described at the top of this file; an
// unreadable or malformed TOML file is also kInvalidArgument.
base::Result<Config> LoadConfig(const std::map<std::string, std::string>& flags,
                                const std::function<const char*(const char*)>& getenv);

}  // namespace overdue::server
