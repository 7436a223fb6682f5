// The client side of the Management API (healthchecks' /api/v3 and overdue's /api/v1), used by
// `overdue checks`, `export` and `import`: where the server is and which key to send
// (ClientConfig: flag > environment > ~/.config/overdue/cli.toml > default), one blocking HTTP
// exchange per call (ApiClient, libcurl), and the exit status a script sees for each outcome.
//
// ApiClient never retries: a management write that timed out may have happened, and sending
// it again could create a second check. Each call blocks for at most its request timeout.
// An ApiClient may be used from one thread at a time; separate instances are independent.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "base/result.h"

namespace overdue::cli {

// Exit statuses of the management commands, stable for scripts (documented in README.md and
// `overdue checks --help`).
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // the server failed (5xx), an unexpected answer, a local I/O error
  kExitUsage = 2,        // the command line or the client configuration is wrong
  kExitNotFound = 3,     // 404: no such check
  kExitAuth = 4,         // 401/403: wrong, missing or read-only key; another project's check
  kExitRejected = 5,     // 400/409/413/422: the server refused the input (its message is shown)
  kExitUnreachable = 6,  // no HTTP answer: connection refused, DNS, timeout
};

// One line per exit status, for --help footers.
extern const char kExitCodesHelp[];

inline constexpr const char* kDefaultApiUrl = "http://127.0.0.1:8000";

// Where the server is and the key to send. `api_key_source` names where the key came from
// ("--api-key", "OVERDUE_API_KEY", the file's path) so that a 401 can say which to fix.
struct ClientConfig {
  std::string url = kDefaultApiUrl;  // no trailing slash
  std::string api_key;
  std::string api_key_source;
};

// Values given on the command line; nullopt when the flag was absent.
struct ClientFlags {
  std::optional<std::string> url;
  std::optional<std::string> api_key;
};

// Reads an environment variable (std::getenv in production, a map in tests); null if unset.
using GetEnv = std::function<const char*(const char*)>;

// $XDG_CONFIG_HOME/overdue/cli.toml when XDG_CONFIG_HOME is an absolute path, else
// $HOME/.config/overdue/cli.toml; empty when neither variable is usable.
std::string ClientConfigPath(const GetEnv& getenv);

// Each value from the first of: flag, environment (OVERDUE_URL, OVERDUE_API_KEY; empty counts
// as unset), the TOML file at `config_path` (keys `url`, `api_key`; a missing file is fine),
// the default. Errors (kInvalidArgument) name the source and the rule: an unreadable or
// malformed file, a non-string value, a URL that is not http:// or https://. A missing key is
// not an error here: commands that need one say so (RequireApiKey).
base::Result<ClientConfig> ResolveClientConfig(const ClientFlags& flags, const GetEnv& getenv,
                                               const std::string& config_path);

// kInvalidArgument naming the three places a key can come from, when config.api_key is empty.
base::Status RequireApiKey(const ClientConfig& config, const std::string& config_path);

// "http://host:8000/" → "http://host:8000"; kInvalidArgument unless http:// or https://.
// `what` names the setting in the error ("--url", "OVERDUE_URL", …).
base::Result<std::string> NormalizeBaseUrl(std::string_view url, std::string_view what);

// Percent-encodes a query component (RFC 3986 unreserved characters pass).
std::string EscapeQueryComponent(std::string_view text);

struct ApiResponse {
  long status = 0;
  std::string body;  // the whole body, or what did not go to the caller's sink (see Send)
};

// The error text of a non-2xx reply: healthchecks' {"error": "..."} message, else the body's
// text (trimmed, at most one line of it), else "".
std::string ServerMessage(const ApiResponse& response);

// 2xx → kExitOk, 404 → kExitNotFound, 401/403 → kExitAuth, 400/409/413/422 → kExitRejected,
// anything else → kExitError.
int ExitCodeForStatus(long status);

// Prints "overdue: <what>: <why>" for a non-2xx reply and returns ExitCodeForStatus. <why>
// says what the status means and quotes the server's message unchanged.
int ReportHttpError(const ApiResponse& response, std::string_view what, std::ostream& err);

// Prints a transport failure ("overdue: cannot reach …") and returns kExitUnreachable.
int ReportUnreachable(const base::Error& error, std::ostream& err);

struct ApiTimeouts {
  std::chrono::milliseconds connect = std::chrono::seconds(5);
  // The whole exchange. A management call is one database write on the server; 30 s means
  // the server is stuck, and a script should hear about it rather than hang.
  std::chrono::milliseconds total = std::chrono::seconds(30);
};

class ApiClient {
 public:
  // REQUIRES: base_url is http:// or https:// without a trailing slash (NormalizeBaseUrl).
  // An empty api_key sends no X-Api-Key header.
  ApiClient(std::string base_url, std::string api_key, ApiTimeouts timeouts = {});

  const std::string& base_url() const { return base_url_; }

  // Sends `method` to base_url + `path` (path and query, starting with '/') with X-Api-Key,
  // and a JSON body when `body` is non-empty. Returns the reply, whatever its status; an
  // error (kUnavailable, "cannot reach <url>: <reason>") when no reply arrived. When `sink`
  // is given, a 2xx body is written to it as it arrives instead of being kept in memory
  // (exports can be large); other bodies are kept, cut at kMaxKeptBodyBytes.
  base::Result<ApiResponse> Send(std::string_view method, std::string_view path,
                                 std::string_view body = {}, std::ostream* sink = nullptr) const;

  base::Result<ApiResponse> Get(std::string_view path) const { return Send("GET", path); }

  // A body kept in memory is cut here: check lists are a few hundred bytes per check, so this
  // allows well over 100,000 checks; a server sending more is broken.
  static constexpr size_t kMaxKeptBodyBytes = 256 * 1024 * 1024;

 private:
  std::string base_url_;
  std::string api_key_;
  ApiTimeouts timeouts_;
};

}  // namespace overdue::cli
