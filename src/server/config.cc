#include "server/config.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <toml++/toml.h>

#include "base/duration.h"
#include "base/json_text.h"
#include "base/quote.h"
#include "schedule/schedule.h"

namespace overdue::server {
namespace {

using base::Duration;
using base::Result;
using base::Status;

// Upper bounds that catch typos (an extra zero) rather than encode a real limit of the server.
constexpr int64_t kMaxThreads = 1024;
constexpr int64_t kMaxHistoryLimit = 1'000'000;
constexpr int64_t kMaxConnectionsLimit = 10'000'000;
constexpr int64_t kMaxBytesOption = int64_t{1} << 30;  // 1 GiB for either body size
// The API's JSON requests (a check with its keywords and description) need a few KiB; a body
// limit below this would make the management API unusable.
constexpr int64_t kMinBodyBytes = 1024;
// Deadlines are tracked to the millisecond but schedules are meant in seconds; a smaller
// minimum period would let a watch's deadline race the latency of its own check-ins.
constexpr Duration kMinMinPeriod = std::chrono::seconds(1);
constexpr Duration kMinTimeout = std::chrono::milliseconds(1);
constexpr Duration kMaxTimeout = std::chrono::hours(24);

// healthchecks' model field limits (hc/api/models.py), so an imported check always fits.
constexpr size_t kMaxNameChars = 100;
constexpr size_t kMaxSlugChars = 100;
constexpr size_t kMaxTagsChars = 500;
constexpr size_t kMaxKeywordChars = 200;

// Notification options. A delivery attempt under 10ms cannot even connect; one over an hour
// would hold a delivery slot for longer than any human waits for an alert.
constexpr Duration kMinNotifyTimeout = std::chrono::milliseconds(10);
constexpr Duration kMaxNotifyTimeout = std::chrono::hours(1);
constexpr int64_t kMaxNotifyAttempts = 100;
// The retry delay doubles up to a 10-minute cap (notify/notifier.h), so a first delay above
// the cap would never be used as given.
constexpr Duration kMinRetryDelay = std::chrono::milliseconds(10);
constexpr Duration kMaxRetryDelay = std::chrono::minutes(10);
// A heartbeat more often than every second is load, not information.
constexpr Duration kMinHeartbeatInterval = std::chrono::seconds(1);
constexpr Duration kMaxHeartbeatInterval = std::chrono::hours(24);
// An ack link must survive reading the message; a year is beyond any incident's life.
constexpr Duration kMinAckLinkTtl = std::chrono::minutes(1);
constexpr Duration kMaxAckLinkTtl = std::chrono::hours(24 * 365);

// [[channel]] and [[policy]] limits: the same as the API's (api/incidents_api.cc), so a policy
// from the file could also have been created through the API.
constexpr size_t kMaxChannelNameChars = 200;
constexpr size_t kMaxPolicyNameChars = 200;
constexpr size_t kMaxPolicyListItems = 1000;  // watches, tags, channels of a step, late channels
constexpr size_t kMaxPolicySteps = 100;
constexpr int64_t kMaxRepeat = 100;
constexpr int64_t kMaxAlertAfterFailures = 1000;
constexpr Duration kMinStepWait = std::chrono::seconds(1);
constexpr Duration kMaxPolicyDuration = std::chrono::hours(24 * 366);  // wait, reminder, timeout

// The key that makes derived watch ids unguessable (see DeriveWatchId), kept in the data dir.
constexpr const char* kWatchIdKeyFile = "config-watch-ids.key";
constexpr size_t kWatchIdKeyBytes = crypto_generichash_KEYBYTES;

using base::Quote;

// base::ParseDuration's errors already quote the text ("\"5x\": unknown unit ..."); ours put
// the quoted value between the field and the rule themselves, so keep only the rule.
std::string DurationRule(std::string_view text, const base::Error& error) {
  const std::string prefix = Quote(text) + ": ";
  if (error.message.starts_with(prefix)) return error.message.substr(prefix.size());
  return error.message;
}

// Characters as Python counts them (code points), since healthchecks' limits are in those.
size_t CodePoints(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

Result<int64_t> ParseInteger(std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || v < min || v > max) {
    return base::InvalidArgument("must be an integer from " + std::to_string(min) + " to " +
                                 std::to_string(max));
  }
  return v;
}

Result<Duration> ParseBoundedDuration(std::string_view text, Duration min, Duration max,
                                      std::string_view min_text, std::string_view max_text) {
  auto d = base::ParseDuration(text);
  if (!d.ok()) return base::InvalidArgument(DurationRule(text, d.error()));
  if (d.value() < min) return base::InvalidArgument("must be at least " + std::string(min_text));
  if (d.value() > max) return base::InvalidArgument("must be at most " + std::string(max_text));
  return d;
}

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// HOST:PORT, with an IPv6 host in brackets ([::1]:8000). The host is kept without brackets.
Status ParseListen(std::string_view text, Config& c) {
  const std::string rule = "must be HOST:PORT, e.g. 127.0.0.1:8000 or [::1]:8000";
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return base::InvalidArgument(rule);
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return base::InvalidArgument(rule);
    host = host.substr(1, host.size() - 2);
    for (char ch : host) {
      if (!std::isxdigit(static_cast<unsigned char>(ch)) && ch != ':' && ch != '.') {
        return base::InvalidArgument("host: must be an IPv6 address inside brackets");
      }
    }
  } else {
    if (host.empty()) return base::InvalidArgument(rule);
    if (!std::all_of(host.begin(), host.end(), IsHostChar)) {
      return base::InvalidArgument("host: must be a name or an IP address (IPv6 in brackets)");
    }
  }
  auto p = ParseInteger(port, 0, 65535);
  if (!p.ok()) return base::InvalidArgument("port " + p.error().message);
  c.listen_host = std::string(host);
  c.listen_port = static_cast<uint16_t>(p.value());
  return {};
}

// An http:// or https:// URL naming a host; `forbidden` lists characters it may not hold.
Status CheckHttpUrl(std::string_view text, std::string_view forbidden, const char* rule) {
  std::string_view rest;
  if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    rest = text.substr(8);
  } else {
    return base::InvalidArgument("must start with http:// or https://");
  }
  if (rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#') {
    return base::InvalidArgument("must name a host");
  }
  if (rest.find_first_of(forbidden) != std::string_view::npos) {
    return base::InvalidArgument(rule);
  }
  return {};
}

Status ParsePublicUrl(std::string_view text, Config& c) {
  if (!text.empty()) {
    if (auto st = CheckHttpUrl(text, "?# ", "must have no query, fragment or spaces"); !st.ok()) {
      return st;
    }
  }
  c.public_url = std::string(text);
  return {};
}

// Another monitor's ping URL (a healthchecks check, an overdue watch): a query is fine.
Status ParseHeartbeatUrl(std::string_view text, Config& c) {
  if (!text.empty()) {
    if (auto st = CheckHttpUrl(text, " \t\r\n#", "must have no fragment or white space");
        !st.ok()) {
      return st;
    }
  }
  c.heartbeat_url = std::string(text);
  return {};
}

// How a TOML value is accepted for an option before it is parsed like a flag's text.
enum class TomlKind {
  kString,
  kInteger,
  kDuration,  // a string such as "90s", or an integer number of seconds
  kBool,      // true or false
};

using Setter = Status (*)(std::string_view text, Config& c);

struct OptionDef {
  ConfigOption option;
  TomlKind toml_kind;
  Setter set;  // parses `text`, validates it and stores it; the error names the rule only
};

template <typename T>
Status SetInteger(std::string_view text, int64_t min, int64_t max, T& field) {
  auto v = ParseInteger(text, min, max);
  if (!v.ok()) return v.error();
  field = static_cast<T>(v.value());
  return {};
}

Status SetTimeout(std::string_view text, Duration& field) {
  auto d = ParseBoundedDuration(text, kMinTimeout, kMaxTimeout, "1ms", "24h");
  if (!d.ok()) return d.error();
  field = d.value();
  return {};
}

Status SetDuration(std::string_view text, Duration min, Duration max, Duration& field) {
  auto d =
      ParseBoundedDuration(text, min, max, base::FormatDuration(min), base::FormatDuration(max));
  if (!d.ok()) return d.error();
  field = d.value();
  return {};
}

// "true" or "false", as TOML spells them; the environment and flags spell them the same way.
Status SetBool(std::string_view text, bool& field) {
  if (text == "true") {
    field = true;
  } else if (text == "false") {
    field = false;
  } else {
    return base::InvalidArgument("must be true or false");
  }
  return {};
}

const std::array<OptionDef, 26> kOptions = {{
    {{"listen", "HOST:PORT",
      "address to listen on; port 0 picks a free one (default 127.0.0.1:8000)"},
     TomlKind::kString,
     ParseListen},
    {{"data_dir", "DIR", "directory of the database (default ./data)"},
     TomlKind::kString,
     [](std::string_view text, Config& c) -> Status {
       if (text.empty()) return base::InvalidArgument("must not be empty");
       c.data_dir = std::string(text);
       return {};
     }},
    {{"config", "FILE", "TOML file with these options and [[watch]] tables (default: none)"},
     TomlKind::kString,
     [](std::string_view text, Config& c) -> Status {
       if (text.empty()) return base::InvalidArgument("must not be empty");
       c.config_file = std::string(text);
       return {};
     }},
    {{"durability", "commit|relaxed",
      "commit: acknowledge check-ins after fsync; relaxed: before (default commit)"},
     TomlKind::kString,
     [](std::string_view text, Config& c) -> Status {
       if (text == "commit") {
         c.durability = Durability::kCommit;
       } else if (text == "relaxed") {
         c.durability = Durability::kRelaxed;
       } else {
         return base::InvalidArgument("must be commit or relaxed");
       }
       return {};
     }},
    {{"min_period", "DURATION", "smallest period and grace a watch may have (default 60s)"},
     TomlKind::kDuration,
     [](std::string_view text, Config& c) -> Status {
       // Above healthchecks' longest period no watch could be valid.
       auto d = ParseBoundedDuration(text, kMinMinPeriod, schedule::kMaxPeriod, "1s", "365d");
       if (!d.ok()) return d.error();
       c.min_period = d.value();
       return {};
     }},
    {{"threads", "N", "I/O threads; 0 = one per core (default 0)"},
     TomlKind::kInteger,
     [](std::string_view text, Config& c) { return SetInteger(text, 0, kMaxThreads, c.threads); }},
    {{"ping_body_limit", "BYTES",
      "bytes of a ping body kept; longer ones are truncated (default 10000)"},
     TomlKind::kInteger,
     [](std::string_view text, Config& c) {
       return SetInteger(text, 0, kMaxBytesOption, c.ping_body_limit);
     }},
    {{"history_limit", "N", "check-ins kept per watch (default 100)"},
     TomlKind::kInteger,
     [](std::string_view text, Config& c) {
       return SetInteger(text, 1, kMaxHistoryLimit, c.history_limit);
     }},
    {{"max_import_bytes", "BYTES",
      "largest backup accepted by POST /api/v1/import (default 33554432, 32 MiB)"},
     TomlKind::kInteger,
     [](std::string_view text, Config& c) {
       return SetInteger(text, 1, kMaxBytesOption, c.max_import_bytes);
     }},
    {{"check_limit", "N", "checks per project; creating more answers 403 (default 100000)"},
     TomlKind::kInteger,
     [](std::string_view text, Config& c) {
       return SetInteger(text, 1, int64_t{100'000'000}, c.check_limit);
     }},
    {{"max_connections", "N", "open connections beyond which new ones get 503 (default 10000)"},
     TomlKind::kInteger,
     [](std::string_view text, Config& c) {
       return SetInteger(text, 1, kMaxConnectionsLimit, c.max_connections);
     }},
    {{"max_body_bytes", "BYTES", "largest request body; a larger one gets 413 (default 1048576)"},
     TomlKind::kInteger,
     [](std::string_view text, Config& c) {
       return SetInteger(text, kMinBodyBytes, kMaxBytesOption, c.max_body_bytes);
     }},
    {{"read_timeout", "DURATION", "close a client that sends nothing for this long (default 10s)"},
     TomlKind::kDuration,
     [](std::string_view text, Config& c) { return SetTimeout(text, c.read_timeout); }},
    {{"idle_timeout", "DURATION", "close a keep-alive connection idle this long (default 60s)"},
     TomlKind::kDuration,
     [](std::string_view text, Config& c) { return SetTimeout(text, c.idle_timeout); }},
    {{"public_url", "URL", "base of the ping URLs shown to users (default http://LISTEN)"},
     TomlKind::kString,
     ParsePublicUrl},
    {{"log_level", "LEVEL", "trace, debug, info, warn or error (default info)"},
     TomlKind::kString,
     [](std::string_view text, Config& c) -> Status {
       static constexpr std::array<std::string_view, 5> kLevels = {"trace", "debug", "info", "warn",
                                                                   "error"};
       if (std::find(kLevels.begin(), kLevels.end(), text) == kLevels.end()) {
         return base::InvalidArgument("must be trace, debug, info, warn or error");
       }
       c.log_level = std::string(text);
       return {};
     }},
    {{"log_format", "text|json", "text or json (default text)"},
     TomlKind::kString,
     [](std::string_view text, Config& c) -> Status {
       if (text != "text" && text != "json") return base::InvalidArgument("must be text or json");
       c.log_format = std::string(text);
       return {};
     }},
    {{"checkin_log", "true|false",
      "during a storm of deadlines, answer check-ins once an fdatasync'ed log has them, "
      "before the database's commit (default false)"},
     TomlKind::kBool,
     [](std::string_view text, Config& c) { return SetBool(text, c.checkin_log); }},
    {{"allow_private_targets", "true|false",
      "let webhooks and other channels reach loopback and private addresses (default false)"},
     TomlKind::kBool,
     [](std::string_view text, Config& c) { return SetBool(text, c.allow_private_targets); }},
    {{"tls_ca_file", "FILE",
      "PEM file of the certificate authorities trusted for TLS to receivers, in place of the "
      "system's bundle, e.g. an internal CA (default: the system's)"},
     TomlKind::kString,
     [](std::string_view text, Config& c) -> Status {
       const std::string path(text);
       if (path.empty()) {  // an empty flag overrides a file's setting: the system's again
         c.tls_ca_file.clear();
         return {};
       }
       std::error_code ec;
       std::ifstream in(path);
       if (!std::filesystem::is_regular_file(path, ec) || !in)
         return base::InvalidArgument("cannot be read");
       for (std::string line; std::getline(in, line);) {
         if (line.starts_with("-----BEGIN CERTIFICATE-----")) {
           c.tls_ca_file = path;
           return {};
         }
       }
       return base::InvalidArgument("holds no PEM certificate");
     }},
    {{"notify_timeout", "DURATION", "time limit of one notification attempt (default 10s)"},
     TomlKind::kDuration,
     [](std::string_view text, Config& c) {
       return SetDuration(text, kMinNotifyTimeout, kMaxNotifyTimeout, c.notify_timeout);
     }},
    {{"notify_max_attempts", "N",
      "attempts before a notification fails for good, 1-100 (default 8)"},
     TomlKind::kInteger,
     [](std::string_view text, Config& c) {
       return SetInteger(text, 1, kMaxNotifyAttempts, c.notify_max_attempts);
     }},
    {{"notify_retry_delay", "DURATION",
      "delay before the first retry; doubles, capped at 10m (default 5s)"},
     TomlKind::kDuration,
     [](std::string_view text, Config& c) {
       return SetDuration(text, kMinRetryDelay, kMaxRetryDelay, c.notify_retry_delay);
     }},
    {{"heartbeat_url", "URL",
      "URL to GET every heartbeat interval while the server is healthy (default: none)"},
     TomlKind::kString,
     ParseHeartbeatUrl},
    {{"heartbeat_interval", "DURATION", "time between heartbeats (default 60s)"},
     TomlKind::kDuration,
     [](std::string_view text, Config& c) {
       return SetDuration(text, kMinHeartbeatInterval, kMaxHeartbeatInterval, c.heartbeat_interval);
     }},
    {{"ack_link_ttl", "DURATION",
      "how long the acknowledge link in a notification works (default 7d)"},
     TomlKind::kDuration,
     [](std::string_view text, Config& c) {
       return SetDuration(text, kMinAckLinkTtl, kMaxAckLinkTtl, c.ack_link_ttl);
     }},
}};

std::span<const OptionDef> Options() { return kOptions; }

const OptionDef* FindOption(std::string_view name) {
  for (const OptionDef& d : Options()) {
    if (name == d.option.name) return &d;
  }
  return nullptr;
}

std::string EnvName(std::string_view option) {
  std::string env = "OVERDUE_";
  for (char ch : option)
    env.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  return env;
}

std::string FlagName(std::string_view option) {
  std::string flag = "--";
  for (char ch : option) flag.push_back(ch == '_' ? '-' : ch);
  return flag;
}

// ---- [[watch]] tables ----------------------------------------------------------------------

// The schedule fields of one table as given, checked once the final min_period is known.
struct RawWatch {
  model::WatchSpec spec;
  bool has_id = false;
  bool has_slug = false;
  bool has_period = false;
  bool has_cron = false;
  bool has_tz = false;
  bool has_once = false;
};

// RFC 3339 instant: 2025-06-01T18:00:00Z, 2025-06-01T18:00:00.5+02:00 ('t', 'z' and a space
// for 'T' accepted, as RFC 3339 section 5.6 allows).
std::optional<base::TimePoint> ParseRfc3339(std::string_view s) {
  size_t i = 0;
  auto digits = [&](size_t n, int& out) {
    if (i + n > s.size()) return false;
    out = 0;
    for (size_t k = 0; k < n; ++k) {
      const char ch = s[i + k];
      if (ch < '0' || ch > '9') return false;
      out = out * 10 + (ch - '0');
    }
    i += n;
    return true;
  };
  auto literal = [&](std::string_view options) {
    if (i >= s.size() || options.find(s[i]) == std::string_view::npos) return false;
    ++i;
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(4, year) || !literal("-") || !digits(2, month) || !literal("-") || !digits(2, day) ||
      !literal("Tt ") || !digits(2, hour) || !literal(":") || !digits(2, minute) || !literal(":") ||
      !digits(2, second)) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (n < 6) micros = micros * 10 + (s[i] - '0');
      ++i;
      ++n;
    }
    if (n == 0) return std::nullopt;
    for (; n < 6; ++n) micros *= 10;
  }
  int offset_minutes = 0;
  if (literal("Zz")) {
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh, om;
    if (!digits(2, oh) || !literal(":") || !digits(2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (i != s.size() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  const auto t = std::chrono::sys_days{ymd} + std::chrono::hours(hour) +
                 std::chrono::minutes(minute - offset_minutes) + std::chrono::seconds(second) +
                 std::chrono::microseconds(micros);
  return base::TimePoint{std::chrono::duration_cast<Duration>(t.time_since_epoch())};
}

// Django's slugify for ASCII (healthchecks fills a missing slug with slugify(name)): drop
// what is not a word character, space or dash, lower-case, runs of dashes/spaces become one
// dash, dashes and underscores trimmed at both ends. Non-ASCII letters are dropped (Django
// would first transliterate them through NFKD).
std::string Slugify(std::string_view name) {
  std::string kept;
  for (char ch : name) {
    const auto u = static_cast<unsigned char>(ch);
    if (u >= 0x80) continue;
    if (std::isalnum(u) || ch == '_' || ch == '-' || std::isspace(u)) {
      kept.push_back(static_cast<char>(std::tolower(u)));
    }
  }
  std::string out;
  bool pending_dash = false;
  for (char ch : kept) {
    if (ch == '-' || std::isspace(static_cast<unsigned char>(ch))) {
      pending_dash = true;
      continue;
    }
    if (pending_dash && !out.empty()) out.push_back('-');
    pending_dash = false;
    out.push_back(ch);
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  const size_t first = out.find_first_not_of('_');
  return first == std::string::npos ? std::string() : out.substr(first);
}

bool IsSlug(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
  });
}

// Reads the data dir's watch-id key, creating it on first use. Creation writes a temporary
// file and links it into place, so concurrent first runs agree on one key and a crash never
// leaves a short key behind.
Result<std::array<unsigned char, kWatchIdKeyBytes>> LoadWatchIdKey(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return base::InvalidArgument("data dir " + data_dir + ": " + ec.message());
  const fs::path path = fs::path(data_dir) / kWatchIdKeyFile;
  std::array<unsigned char, kWatchIdKeyBytes> key{};
  if (!fs::exists(path, ec)) {
    if (sodium_init() < 0) return base::Internal("libsodium cannot initialise");
    randombytes_buf(key.data(), key.size());
    const fs::path tmp = path.string() + ".tmp." + std::to_string(getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return base::InvalidArgument(tmp.string() + ": " + std::strerror(errno));
    const bool written =
        ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
      ::unlink(tmp.c_str());
      return base::InvalidArgument(tmp.string() + ": cannot write");
    }
    const int linked = ::link(tmp.c_str(), path.c_str());
    const int link_errno = errno;
    ::unlink(tmp.c_str());
    if (linked != 0 && link_errno != EEXIST) {
      return base::InvalidArgument(path.string() + ": " + std::strerror(link_errno));
    }
    if (linked == 0) return key;
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return base::InvalidArgument(path.string() + ": cannot read");
  if (bytes.size() != key.size()) {
    return base::InvalidArgument(path.string() + ": must hold exactly " +
                                 std::to_string(key.size()) + " bytes");
  }
  std::memcpy(key.data(), bytes.data(), key.size());
  return key;
}

// A watch declared without an id gets one derived from its slug (or, when its name has no
// ASCII letters to make a slug of, its name), so a restart, or an edit of any other field,
// keeps the same ping URL. The hash is keyed with a random per-data-dir secret: ping URLs must
// stay unguessable (DESIGN.md, Security), and an unkeyed hash of "nightly-backup" would be
// the same on every installation. A new data dir (new database) gives new ids, which is what
// it also does to every other watch. Renaming the slug makes a new watch; pin `id` to avoid it.
base::Uuid DeriveWatchId(const std::array<unsigned char, kWatchIdKeyBytes>& key,
                         std::string_view what) {
  base::Uuid u;
  crypto_generichash(u.bytes.data(), u.bytes.size(),
                     reinterpret_cast<const unsigned char*>(what.data()), what.size(), key.data(),
                     key.size());
  // Shaped as a version-4 UUID so every tool that checks ping URLs accepts it.
  u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0F) | 0x40);
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3F) | 0x80);
  return u;
}

// Context for one file's errors: "config overdue.toml: ".
struct FileErrors {
  std::string prefix;
  base::Error Field(std::string_view field, std::string_view rule) const {
    return base::InvalidArgument(prefix + std::string(field) + ": " + std::string(rule));
  }
  base::Error Value(std::string_view field, std::string_view shown, std::string_view rule) const {
    return base::InvalidArgument(prefix + std::string(field) + ": " + std::string(shown) + ": " +
                                 std::string(rule));
  }
};

Result<std::string> TomlString(const toml::node& node, const FileErrors& e,
                               const std::string& field) {
  if (const auto* s = node.as_string()) return s->get();
  return e.Field(field, "must be a string");
}

Result<bool> TomlBool(const toml::node& node, const FileErrors& e, const std::string& field) {
  if (const auto* b = node.as_boolean()) return b->get();
  return e.Field(field, "must be true or false");
}

Result<Duration> TomlDuration(const toml::node& node, const FileErrors& e,
                              const std::string& field) {
  if (const auto* i = node.as_integer()) {
    if (i->get() < 0) return e.Value(field, std::to_string(i->get()), "must not be negative");
    return std::chrono::duration_cast<Duration>(std::chrono::seconds(i->get()));
  }
  if (const auto* s = node.as_string()) {
    auto d = base::ParseDuration(s->get());
    if (!d.ok()) return e.Value(field, Quote(s->get()), DurationRule(s->get(), d.error()));
    return d;
  }
  return e.Field(field, "must be a duration such as \"90s\" or a number of seconds");
}

Result<base::TimePoint> TomlInstant(const toml::node& node, const FileErrors& e,
                                    const std::string& field) {
  const std::string rule = "must be an RFC 3339 instant with an offset, e.g. 2025-06-01T18:00:00Z";
  if (const auto* dt = node.as_date_time()) {
    const toml::date_time& v = dt->get();
    if (!v.offset) return e.Field(field, rule);
    const std::chrono::year_month_day ymd{std::chrono::year{v.date.year},
                                          std::chrono::month{v.date.month},
                                          std::chrono::day{v.date.day}};
    const auto t =
        std::chrono::sys_days{ymd} + std::chrono::hours(v.time.hour) +
        std::chrono::minutes(v.time.minute - v.offset->minutes) +
        std::chrono::seconds(v.time.second) +
        std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(v.time.nanosecond));
    return base::TimePoint{std::chrono::duration_cast<Duration>(t.time_since_epoch())};
  }
  if (const auto* s = node.as_string()) {
    if (auto t = ParseRfc3339(s->get())) return *t;
    return e.Value(field, Quote(s->get()), rule);
  }
  return e.Field(field, rule);
}

Result<std::string> BoundedString(const toml::node& node, const FileErrors& e,
                                  const std::string& field, size_t max_chars) {
  auto s = TomlString(node, e, field);
  if (!s.ok()) return s;
  if (CodePoints(s.value()) > max_chars) {
    return e.Field(field, "must be at most " + std::to_string(max_chars) + " characters");
  }
  return s;
}

// Parses one [[watch]] table; schedule rules that depend on min_period are checked later.
Result<RawWatch> ParseWatchTable(const toml::table& table, const FileErrors& e,
                                 const std::string& at) {
  RawWatch w;
  model::WatchSpec& spec = w.spec;
  for (auto&& entry : table) {
    // Not a structured binding: clang 14 cannot capture those in the lambdas below.
    const toml::node& node = entry.second;
    const std::string name(entry.first.str());
    const std::string field = at + "." + name;
    auto string_into = [&](std::string& out, size_t max_chars) -> Status {
      auto s = BoundedString(node, e, field, max_chars);
      if (!s.ok()) return s.error();
      out = std::move(s.value());
      return {};
    };
    auto bool_into = [&](bool& out) -> Status {
      auto b = TomlBool(node, e, field);
      if (!b.ok()) return b.error();
      out = b.value();
      return {};
    };
    Status st;
    if (name == "id") {
      auto s = TomlString(node, e, field);
      if (!s.ok()) return s.error();
      auto id = base::Uuid::Parse(s.value());
      if (!id) return e.Value(field, Quote(s.value()), "must be a UUID");
      spec.id = *id;
      w.has_id = true;
    } else if (name == "name") {
      st = string_into(spec.name, kMaxNameChars);
    } else if (name == "slug") {
      st = string_into(spec.slug, kMaxSlugChars);
      if (st.ok() && !IsSlug(spec.slug)) {
        return e.Value(field, Quote(spec.slug), "must match ^[a-z0-9-_]*$");
      }
      w.has_slug = true;
    } else if (name == "kind") {
      auto s = TomlString(node, e, field);
      if (!s.ok()) return s.error();
      auto kind = model::ParseWatchKind(s.value());
      if (!kind) return e.Value(field, Quote(s.value()), "must be job, person or team");
      spec.kind = *kind;
    } else if (name == "tags") {
      st = string_into(spec.tags, kMaxTagsChars);
    } else if (name == "desc") {
      st = string_into(spec.desc, std::string::npos);
    } else if (name == "period") {
      auto d = TomlDuration(node, e, field);
      if (!d.ok()) return d.error();
      spec.schedule.period = d.value();
      w.has_period = true;
    } else if (name == "cron") {
      st = string_into(spec.schedule.cron, std::string::npos);
      w.has_cron = true;
    } else if (name == "tz") {
      st = string_into(spec.schedule.tz, std::string::npos);
      w.has_tz = true;
    } else if (name == "once") {
      auto t = TomlInstant(node, e, field);
      if (!t.ok()) return t.error();
      spec.schedule.once_at = t.value();
      w.has_once = true;
    } else if (name == "grace") {
      auto d = TomlDuration(node, e, field);
      if (!d.ok()) return d.error();
      spec.schedule.grace = d.value();
    } else if (name == "manual_resume") {
      st = bool_into(spec.manual_resume);
    } else if (name == "methods") {
      auto s = TomlString(node, e, field);
      if (!s.ok()) return s.error();
      if (s.value() != "" && s.value() != "POST") {
        return e.Value(field, Quote(s.value()), "must be \"\" or \"POST\"");
      }
      spec.post_only = s.value() == "POST";
    } else if (name == "filter_http_body") {
      st = bool_into(spec.filter_http_body);
    } else if (name == "filter_default_fail") {
      st = bool_into(spec.filter_default_fail);
    } else if (name == "start_kw") {
      st = string_into(spec.start_kw, kMaxKeywordChars);
    } else if (name == "success_kw") {
      st = string_into(spec.success_kw, kMaxKeywordChars);
    } else if (name == "failure_kw") {
      st = string_into(spec.failure_kw, kMaxKeywordChars);
    } else {
      return e.Field(field,
                     "unknown key (expected id, name, slug, kind, tags, desc, period, "
                     "cron, tz, once, grace, manual_resume, methods, filter_http_body, "
                     "filter_default_fail, start_kw, success_kw or failure_kw)");
    }
    if (!st.ok()) return st.error();
  }
  return w;
}

// ---- [[channel]] and [[policy]] tables -----------------------------------------------------

// A channel's [channel.config] as the JSON the API takes: tables become objects, arrays
// arrays; dates and times become their TOML text (no channel setting is a date).
nlohmann::json TomlToJson(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto&& [key, value] : *t) out[std::string(key.str())] = TomlToJson(value);
    return out;
  }
  if (const auto* a = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const toml::node& value : *a) out.push_back(TomlToJson(value));
    return out;
  }
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return i->get();
  if (const auto* f = node.as_floating_point()) return f->get();  // nan and inf become null
  if (const auto* b = node.as_boolean()) return b->get();
  std::ostringstream text;
  if (const auto* d = node.as_date()) text << *d;
  if (const auto* t = node.as_time()) text << *t;
  if (const auto* dt = node.as_date_time()) text << *dt;
  return text.str();
}

Result<base::Uuid> TomlUuid(const toml::node& node, const FileErrors& e, const std::string& field) {
  auto s = TomlString(node, e, field);
  if (!s.ok()) return s.error();
  auto id = base::Uuid::Parse(s.value());
  if (!id) return e.Value(field, Quote(s.value()), "must be a UUID");
  return *id;
}

// The table's id: required, since config as code updates the channel or policy with that id
// on every start (a derived id would change whenever its name did).
Result<base::Uuid> TomlTableId(const toml::node& node, const FileErrors& e,
                               const std::string& field) {
  auto id = TomlUuid(node, e, field);
  if (!id.ok()) return id;
  if (id.value().IsNil())
    return e.Value(field, Quote(id.value().ToString()), "must not be the nil UUID");
  return id;
}

Result<std::vector<base::Uuid>> TomlUuidList(const toml::node& node, const FileErrors& e,
                                             const std::string& field) {
  const toml::array* array = node.as_array();
  if (array == nullptr) return e.Field(field, "must be an array of UUID strings");
  if (array->size() > kMaxPolicyListItems) {
    return e.Field(field, "must have at most " + std::to_string(kMaxPolicyListItems) + " items");
  }
  std::vector<base::Uuid> out;
  for (size_t i = 0; i < array->size(); ++i) {
    auto id = TomlUuid(*array->get(i), e, field + "[" + std::to_string(i) + "]");
    if (!id.ok()) return id.error();
    out.push_back(id.value());
  }
  return out;
}

Result<int64_t> TomlInteger(const toml::node& node, const FileErrors& e, const std::string& field,
                            int64_t min, int64_t max) {
  const std::string rule =
      "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
  const auto* i = node.as_integer();
  if (i == nullptr) return e.Field(field, rule);
  if (i->get() < min || i->get() > max) return e.Value(field, std::to_string(i->get()), rule);
  return i->get();
}

// A duration (TomlDuration) within [min, max]; the error shows the value as written.
Result<Duration> TomlBoundedDuration(const toml::node& node, const FileErrors& e,
                                     const std::string& field, Duration min, Duration max) {
  auto d = TomlDuration(node, e, field);
  if (!d.ok()) return d;
  const std::string shown =
      node.is_integer() ? std::to_string(node.as_integer()->get()) : Quote(node.as_string()->get());
  if (d.value() < min)
    return e.Value(field, shown, "must be at least " + base::FormatDuration(min));
  if (d.value() > max) return e.Value(field, shown, "must be at most " + base::FormatDuration(max));
  return d;
}

// An array of [[x]] tables under `key` ("channel", "policy.step"); `at` names it in errors.
Result<const toml::array*> TableArray(const toml::node& node, const FileErrors& e,
                                      const std::string& at, const std::string& key) {
  const toml::array* array = node.as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    return e.Field(at, "must be an array of tables: write [[" + key + "]]");
  }
  return array;
}

// Parses one [[channel]] table. The kind-specific settings are the server's to check
// (notify::ValidateChannel), as for a channel created through the API.
Result<model::Channel> ParseChannelTable(const toml::table& table, const FileErrors& e,
                                         const std::string& at) {
  model::Channel c;
  bool has_id = false;
  bool has_kind = false;
  c.config = "{}";
  for (auto&& [key, node] : table) {
    const std::string name(key.str());
    const std::string field = at + "." + name;
    if (name == "id") {
      auto id = TomlTableId(node, e, field);
      if (!id.ok()) return id.error();
      c.id = id.value();
      has_id = true;
    } else if (name == "name") {
      auto s = BoundedString(node, e, field, kMaxChannelNameChars);
      if (!s.ok()) return s.error();
      c.name = std::move(s.value());
    } else if (name == "kind") {
      auto s = TomlString(node, e, field);
      if (!s.ok()) return s.error();
      if (s.value().empty()) return e.Field(field, "must not be empty");
      c.kind = std::move(s.value());
      has_kind = true;
    } else if (name == "config") {
      if (!node.is_table())
        return e.Field(field, "must be a table: write [channel.config] below [[channel]]");
      c.config = base::JsonText(TomlToJson(node));
    } else {
      return e.Field(field, "unknown key (expected id, name, kind or config)");
    }
  }
  if (!has_id)
    return e.Field(at, "needs an id (a UUID: the channel is updated by it on every start)");
  if (!has_kind) return e.Field(at, "needs a kind (email, webhook, slack, ...)");
  if (c.name.empty()) c.name = c.kind;  // as the API names an unnamed channel
  return c;
}

Result<model::EscalationStep> ParseStepTable(const toml::table& table, const FileErrors& e,
                                             const std::string& at) {
  model::EscalationStep step;
  bool has_channels = false;
  for (auto&& [key, node] : table) {
    const std::string name(key.str());
    const std::string field = at + "." + name;
    if (name == "channels") {
      auto ids = TomlUuidList(node, e, field);
      if (!ids.ok()) return ids.error();
      if (ids.value().empty()) return e.Field(field, "must name at least one channel");
      step.channels = std::move(ids.value());
      has_channels = true;
    } else if (name == "wait") {
      auto d = TomlBoundedDuration(node, e, field, kMinStepWait, kMaxPolicyDuration);
      if (!d.ok()) return d.error();
      step.wait = d.value();
    } else {
      return e.Field(field, "unknown key (expected channels or wait)");
    }
  }
  if (!has_channels) return e.Field(at, "needs channels (the ids of the channels to notify)");
  return step;
}

// Parses one [[policy]] table. Whether its channel ids exist is the server's to check: a
// policy may name channels created through the API as well as [[channel]] tables.
Result<model::Policy> ParsePolicyTable(const toml::table& table, const FileErrors& e,
                                       const std::string& at) {
  model::Policy p;
  bool has_id = false;
  for (auto&& [key, node] : table) {
    const std::string name(key.str());
    const std::string field = at + "." + name;
    Status st;
    if (name == "id") {
      auto id = TomlTableId(node, e, field);
      if (!id.ok()) return id.error();
      p.id = id.value();
      has_id = true;
    } else if (name == "name") {
      auto s = BoundedString(node, e, field, kMaxPolicyNameChars);
      if (!s.ok()) return s.error();
      p.name = std::move(s.value());
    } else if (name == "default") {
      auto b = TomlBool(node, e, field);
      if (!b.ok()) return b.error();
      p.is_default = b.value();
    } else if (name == "tags") {
      const toml::array* array = node.as_array();
      if (array == nullptr || array->size() > kMaxPolicyListItems) {
        return e.Field(
            field, "must be an array of at most " + std::to_string(kMaxPolicyListItems) + " tags");
      }
      for (size_t i = 0; i < array->size(); ++i) {
        const std::string item = field + "[" + std::to_string(i) + "]";
        auto tag = TomlString(*array->get(i), e, item);
        if (!tag.ok()) return tag.error();
        if (tag.value().empty() || tag.value().find_first_of(" \t") != std::string::npos) {
          return e.Value(item, Quote(tag.value()), "must be a tag: not empty, no spaces");
        }
        p.tags.push_back(std::move(tag.value()));
      }
    } else if (name == "watches") {
      auto ids = TomlUuidList(node, e, field);
      if (!ids.ok()) return ids.error();
      p.watches = std::move(ids.value());
    } else if (name == "late_channels") {
      auto ids = TomlUuidList(node, e, field);
      if (!ids.ok()) return ids.error();
      p.late_channels = std::move(ids.value());
    } else if (name == "repeat") {
      auto n = TomlInteger(node, e, field, 1, kMaxRepeat);
      if (!n.ok()) return n.error();
      p.chain.repeat = static_cast<int>(n.value());
    } else if (name == "alert_after_failures") {
      auto n = TomlInteger(node, e, field, 1, kMaxAlertAfterFailures);
      if (!n.ok()) return n.error();
      p.alert_after_failures = static_cast<int>(n.value());
    } else if (name == "remind_every") {
      auto d = TomlBoundedDuration(node, e, field, Duration{0}, kMaxPolicyDuration);
      if (!d.ok()) return d.error();
      p.chain.remind_every = d.value();
    } else if (name == "ack_timeout") {
      auto d = TomlBoundedDuration(node, e, field, Duration{0}, kMaxPolicyDuration);
      if (!d.ok()) return d.error();
      p.chain.ack_timeout = d.value();
    } else if (name == "step") {
      auto steps = TableArray(node, e, field, "policy.step");
      if (!steps.ok()) return steps.error();
      if (steps.value()->size() > kMaxPolicySteps) {
        return e.Field(field, "must have at most " + std::to_string(kMaxPolicySteps) + " steps");
      }
      for (size_t i = 0; i < steps.value()->size(); ++i) {
        auto step = ParseStepTable(*steps.value()->get(i)->as_table(), e,
                                   field + "[" + std::to_string(i) + "]");
        if (!step.ok()) return step.error();
        p.chain.steps.push_back(std::move(step.value()));
      }
    } else {
      return e.Field(field,
                     "unknown key (expected id, name, default, tags, watches, repeat, "
                     "remind_every, ack_timeout, alert_after_failures, late_channels or step)");
    }
  }
  if (!has_id)
    return e.Field(at, "needs an id (a UUID: the policy is updated by it on every start)");
  if (p.name.empty()) return e.Field(at, "needs a name");
  if (p.chain.steps.empty()) {
    return e.Field(at, "needs at least one step: add a [[policy.step]] with channels = [...]");
  }
  return p;
}

// ---- the TOML file -------------------------------------------------------------------------

struct FileContents {
  std::vector<std::pair<const OptionDef*, std::string>> options;  // in file order, as text
  std::vector<RawWatch> watches;
  std::vector<model::Channel> channels;
  std::vector<model::Policy> policies;
};

// [[channel]] and [[policy]] tables into `out`, checking what spans tables: unique ids, one
// default policy.
Status ReadNotificationTables(const std::string& name, const toml::node& node, const FileErrors& e,
                              FileContents& out) {
  auto array = TableArray(node, e, name, name);
  if (!array.ok()) return array.error();
  for (size_t i = 0; i < array.value()->size(); ++i) {
    const std::string at = name + "[" + std::to_string(i) + "]";
    const toml::table& table = *array.value()->get(i)->as_table();
    if (name == "channel") {
      auto c = ParseChannelTable(table, e, at);
      if (!c.ok()) return c.error();
      for (size_t k = 0; k < out.channels.size(); ++k) {
        if (out.channels[k].id == c.value().id) {
          return e.Value(at + ".id", Quote(c.value().id.ToString()),
                         "already used by channel[" + std::to_string(k) + "]");
        }
      }
      out.channels.push_back(std::move(c.value()));
    } else {
      auto p = ParsePolicyTable(table, e, at);
      if (!p.ok()) return p.error();
      for (size_t k = 0; k < out.policies.size(); ++k) {
        if (out.policies[k].id == p.value().id) {
          return e.Value(at + ".id", Quote(p.value().id.ToString()),
                         "already used by policy[" + std::to_string(k) + "]");
        }
        if (out.policies[k].is_default && p.value().is_default) {
          return e.Field(at + ".default",
                         "policy[" + std::to_string(k) + "] is already the default");
        }
      }
      out.policies.push_back(std::move(p.value()));
    }
  }
  return {};
}

Result<FileContents> ReadConfigFile(const std::string& path) {
  const FileErrors e{"config " + path + ": "};
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::InvalidArgument("config " + path + ": " + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return base::InvalidArgument("config " + path + ": cannot read");

  toml::table root;
  try {
    root = toml::parse(buffer.str(), path);
  } catch (const toml::parse_error& err) {
    return base::InvalidArgument("config " + path + ":" + std::to_string(err.source().begin.line) +
                                 ":" + std::to_string(err.source().begin.column) + ": " +
                                 std::string(err.description()));
  }

  FileContents out;
  for (auto&& [key, node] : root) {
    const std::string name(key.str());
    if (name == "watch") {
      const toml::array* array = node.as_array();
      if (array == nullptr || !array->is_array_of_tables()) {
        return e.Field("watch", "must be an array of tables: write [[watch]]");
      }
      for (size_t i = 0; i < array->size(); ++i) {
        auto w = ParseWatchTable(*array->get(i)->as_table(), e, "watch[" + std::to_string(i) + "]");
        if (!w.ok()) return w.error();
        out.watches.push_back(std::move(w.value()));
      }
      continue;
    }
    if (name == "channel" || name == "policy") {
      if (auto st = ReadNotificationTables(name, node, e, out); !st.ok()) return st.error();
      continue;
    }
    const OptionDef* def = FindOption(name);
    if (def == nullptr || name == "config") {
      return e.Field(name,
                     name == "config" ? "a config file cannot name another one" : "unknown key");
    }
    std::string text;
    switch (def->toml_kind) {
      case TomlKind::kString:
        if (!node.is_string()) return e.Field(name, "must be a string");
        text = node.as_string()->get();
        break;
      case TomlKind::kInteger:
        if (!node.is_integer()) return e.Field(name, "must be an integer");
        text = std::to_string(node.as_integer()->get());
        break;
      case TomlKind::kDuration:
        if (node.is_integer()) {
          text = std::to_string(node.as_integer()->get()) + "s";
        } else if (node.is_string()) {
          text = node.as_string()->get();
        } else {
          return e.Field(name, "must be a duration such as \"90s\" or a number of seconds");
        }
        break;
      case TomlKind::kBool:
        if (!node.is_boolean()) return e.Field(name, "must be true or false");
        text = node.as_boolean()->get() ? "true" : "false";
        break;
    }
    out.options.emplace_back(def, std::move(text));
  }
  return out;
}

// Completes and checks the file's watches against the final configuration.
Result<std::vector<model::WatchSpec>> FinishWatches(std::vector<RawWatch> raw,
                                                    const Config& config) {
  std::vector<model::WatchSpec> out;
  const FileErrors e{"config " + config.config_file + ": "};
  std::optional<std::array<unsigned char, kWatchIdKeyBytes>> key;
  std::map<base::Uuid, size_t> ids;
  std::map<std::string, size_t> slugs;
  for (size_t i = 0; i < raw.size(); ++i) {
    RawWatch& w = raw[i];
    model::WatchSpec& spec = w.spec;
    const std::string at = "watch[" + std::to_string(i) + "]";

    const int kinds = int{w.has_period} + int{w.has_cron} + int{w.has_once};
    if (kinds > 1) return e.Field(at, "give one of period, cron or once");
    if (w.has_tz && !w.has_cron) return e.Field(at + ".tz", "only valid with cron");
    if (w.has_cron) spec.schedule.kind = model::Schedule::Kind::kCron;
    if (w.has_once) spec.schedule.kind = model::Schedule::Kind::kOnce;
    if (auto st = schedule::Validate(spec.schedule, config.min_period); !st.ok()) {
      // Validate names model fields ("period: ...", "cron: ..."); the file calls once_at "once".
      std::string message = st.error().message;
      if (message.starts_with("once_at:")) message.replace(0, 7, "once");
      return base::InvalidArgument(e.prefix + at + "." + message);
    }

    if (!w.has_slug) spec.slug = Slugify(spec.name);
    if (!w.has_id) {
      if (spec.slug.empty() && spec.name.empty()) {
        return e.Field(at, "needs an id, a slug or a name (its ping URL is derived from one)");
      }
      if (!key) {
        auto k = LoadWatchIdKey(config.data_dir);
        if (!k.ok()) return e.Field(at + ".id", "cannot derive one: " + k.error().message);
        key = k.value();
      }
      spec.id = spec.slug.empty() ? DeriveWatchId(*key, "config-name:" + spec.name)
                                  : DeriveWatchId(*key, "config:" + spec.slug);
    } else if (spec.id.IsNil()) {
      return e.Value(at + ".id", Quote(spec.id.ToString()), "must not be the nil UUID");
    }
    if (auto [it, inserted] = ids.emplace(spec.id, i); !inserted) {
      return e.Value(at + ".id", Quote(spec.id.ToString()),
                     "already used by watch[" + std::to_string(it->second) + "]" +
                         (w.has_id ? "" : " (derived from the slug or name)"));
    }
    if (!spec.slug.empty()) {
      if (auto [it, inserted] = slugs.emplace(spec.slug, i); !inserted) {
        return e.Value(at + ".slug", Quote(spec.slug),
                       "already used by watch[" + std::to_string(it->second) + "]" +
                           (w.has_slug ? "" : " (derived from the name)"));
      }
    }
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace

std::span<const ConfigOption> ConfigOptions() {
  static const std::vector<ConfigOption> options = [] {
    std::vector<ConfigOption> v;
    for (const OptionDef& d : Options()) v.push_back(d.option);
    return v;
  }();
  return options;
}

base::Result<Config> LoadConfig(const std::map<std::string, std::string>& flags,
                                const std::function<const char*(const char*)>& getenv) {
  auto env = [&](const OptionDef& d) -> std::optional<std::string> {
    const char* v = getenv(EnvName(d.option.name).c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  for (const auto& [name, value] : flags) {
    if (FindOption(name) == nullptr) return base::Internal("unknown option " + name);
  }

  Config config;
  // The file first names itself: flag over environment.
  const OptionDef& config_def = *FindOption("config");
  if (auto it = flags.find("config"); it != flags.end()) {
    if (auto st = config_def.set(it->second, config); !st.ok()) {
      return base::InvalidArgument(FlagName("config") + ": " + st.error().message);
    }
  } else if (auto v = env(config_def)) {
    config.config_file = *v;
  }

  // Then each source in rising precedence overwrites what the one below set. Every source is
  // validated in full, so a bad value is reported even where a higher source overrides it.
  std::vector<RawWatch> raw_watches;
  if (!config.config_file.empty()) {
    auto file = ReadConfigFile(config.config_file);
    if (!file.ok()) return file.error();
    for (const auto& [def, text] : file.value().options) {
      if (auto st = def->set(text, config); !st.ok()) {
        return base::InvalidArgument("config " + config.config_file + ": " + def->option.name +
                                     ": " + Quote(text) + ": " + st.error().message);
      }
    }
    raw_watches = std::move(file.value().watches);
    config.channels = std::move(file.value().channels);
    config.policies = std::move(file.value().policies);
  }
  for (const OptionDef& d : Options()) {
    if (std::string_view(d.option.name) == "config") continue;
    if (auto v = env(d)) {
      if (auto st = d.set(*v, config); !st.ok()) {
        return base::InvalidArgument(EnvName(d.option.name) + ": " + Quote(*v) + ": " +
                                     st.error().message);
      }
    }
  }
  for (const auto& [name, value] : flags) {
    const OptionDef& d = *FindOption(name);
    if (name == "config") continue;
    if (auto st = d.set(value, config); !st.ok()) {
      return base::InvalidArgument(FlagName(name) + ": " + Quote(value) + ": " +
                                   st.error().message);
    }
  }

  auto watches = FinishWatches(std::move(raw_watches), config);
  if (!watches.ok()) return watches.error();
  config.watches = std::move(watches.value());
  return config;
}

}  // namespace overdue::server
