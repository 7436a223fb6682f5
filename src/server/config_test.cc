#include "server/config.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace overdue::server {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "overdue-config-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    data_dir_ = (dir_ / "data").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` to a file in the test's directory and returns its path.
  std::string WriteFile(const std::string& text, const std::string& name = "overdue.toml") {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  base::Result<Config> Load(std::map<std::string, std::string> flags = {}) {
    // Derived watch ids need a data dir; keep it inside the test's directory unless the test
    // sets one itself.
    if (!flags.contains("data_dir") && !env_.contains("OVERDUE_DATA_DIR")) {
      flags["data_dir"] = data_dir_;
    }
    return LoadConfig(flags, [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    });
  }

  // Loads a config file holding `text` and returns the error message (empty on success).
  std::string FileError(const std::string& text) {
    auto c = Load({{"config", WriteFile(text)}});
    return c.ok() ? "" : c.error().message;
  }

  fs::path dir_;
  std::string data_dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ConfigTest, DefaultsWhenNothingIsGiven) {
  auto c = LoadConfig({}, [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 8000);
  EXPECT_EQ(c->data_dir, "./data");
  EXPECT_EQ(c->config_file, "");
  EXPECT_EQ(c->durability, Durability::kCommit);
  EXPECT_EQ(c->min_period, seconds(60));
  EXPECT_EQ(c->threads, 0);
  EXPECT_EQ(c->ping_body_limit, 10000u);
  EXPECT_EQ(c->history_limit, 100);
  EXPECT_EQ(c->max_connections, 10000u);
  EXPECT_EQ(c->max_body_bytes, 1024u * 1024u);
  EXPECT_EQ(c->read_timeout, seconds(10));
  EXPECT_EQ(c->idle_timeout, seconds(60));
  EXPECT_EQ(c->public_url, "");
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->log_format, "text");
  EXPECT_FALSE(c->allow_private_targets);
  EXPECT_FALSE(c->checkin_log);
  EXPECT_EQ(c->notify_timeout, seconds(10));
  EXPECT_EQ(c->notify_max_attempts, 8);
  EXPECT_EQ(c->notify_retry_delay, seconds(5));
  EXPECT_EQ(c->heartbeat_url, "");
  EXPECT_EQ(c->heartbeat_interval, seconds(60));
  EXPECT_EQ(c->ack_link_ttl, hours(24 * 7));
  EXPECT_TRUE(c->watches.empty());
  EXPECT_TRUE(c->channels.empty());
  EXPECT_TRUE(c->policies.empty());
}

TEST_F(ConfigTest, EveryOptionIsReadFromFlags) {
  auto c = Load({{"listen", "0.0.0.0:0"},
                 {"durability", "relaxed"},
                 {"min_period", "1s"},
                 {"threads", "4"},
                 {"ping_body_limit", "100"},
                 {"history_limit", "7"},
                 {"max_connections", "12"},
                 {"max_body_bytes", "2048"},
                 {"read_timeout", "2s"},
                 {"idle_timeout", "3m"},
                 {"public_url", "https://hc.example.com/"},
                 {"log_level", "debug"},
                 {"log_format", "json"},
                 {"allow_private_targets", "true"},
                 {"checkin_log", "true"},
                 {"notify_timeout", "2s"},
                 {"notify_max_attempts", "3"},
                 {"notify_retry_delay", "10ms"},
                 {"heartbeat_url", "https://hc-ping.com/abc?create=0"},
                 {"heartbeat_interval", "1s"},
                 {"ack_link_ttl", "1m"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen_host, "0.0.0.0");
  EXPECT_EQ(c->listen_port, 0);
  EXPECT_EQ(c->data_dir, data_dir_);
  EXPECT_EQ(c->durability, Durability::kRelaxed);
  EXPECT_EQ(c->min_period, seconds(1));
  EXPECT_EQ(c->threads, 4);
  EXPECT_EQ(c->ping_body_limit, 100u);
  EXPECT_EQ(c->history_limit, 7);
  EXPECT_EQ(c->max_connections, 12u);
  EXPECT_EQ(c->max_body_bytes, 2048u);
  EXPECT_EQ(c->read_timeout, seconds(2));
  EXPECT_EQ(c->idle_timeout, minutes(3));
  EXPECT_EQ(c->public_url, "https://hc.example.com/");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->log_format, "json");
  EXPECT_TRUE(c->allow_private_targets);
  EXPECT_TRUE(c->checkin_log);
  EXPECT_EQ(c->notify_timeout, seconds(2));
  EXPECT_EQ(c->notify_max_attempts, 3);
  EXPECT_EQ(c->notify_retry_delay, milliseconds(10));
  EXPECT_EQ(c->heartbeat_url, "https://hc-ping.com/abc?create=0");
  EXPECT_EQ(c->heartbeat_interval, seconds(1));
  EXPECT_EQ(c->ack_link_ttl, minutes(1));
}

TEST_F(ConfigTest, NotificationOptionsAreReadFromTheEnvironment) {
  env_["OVERDUE_ALLOW_PRIVATE_TARGETS"] = "true";
  env_["OVERDUE_NOTIFY_TIMEOUT"] = "30s";
  env_["OVERDUE_NOTIFY_MAX_ATTEMPTS"] = "100";
  env_["OVERDUE_NOTIFY_RETRY_DELAY"] = "10m";
  env_["OVERDUE_HEARTBEAT_URL"] = "http://127.0.0.1:9/ping/x";
  env_["OVERDUE_HEARTBEAT_INTERVAL"] = "5m";
  env_["OVERDUE_ACK_LINK_TTL"] = "2d";
  auto c = Load();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->allow_private_targets);
  EXPECT_EQ(c->notify_timeout, seconds(30));
  EXPECT_EQ(c->notify_max_attempts, 100);
  EXPECT_EQ(c->notify_retry_delay, minutes(10));
  EXPECT_EQ(c->heartbeat_url, "http://127.0.0.1:9/ping/x");
  EXPECT_EQ(c->heartbeat_interval, minutes(5));
  EXPECT_EQ(c->ack_link_ttl, hours(48));
}

TEST_F(ConfigTest, NotificationOptionsAreReadFromTheFile) {
  auto c = Load({{"config", WriteFile(R"(
    allow_private_targets = true
    notify_timeout = "1500ms"
    notify_max_attempts = 1
    notify_retry_delay = 2
    heartbeat_url = "https://example.com/beat"
    heartbeat_interval = "90s"
    ack_link_ttl = "1h"
  )")}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->allow_private_targets);
  EXPECT_EQ(c->notify_timeout, milliseconds(1500));
  EXPECT_EQ(c->notify_max_attempts, 1);
  EXPECT_EQ(c->notify_retry_delay, seconds(2));
  EXPECT_EQ(c->heartbeat_url, "https://example.com/beat");
  EXPECT_EQ(c->heartbeat_interval, seconds(90));
  EXPECT_EQ(c->ack_link_ttl, hours(1));
}

TEST_F(ConfigTest, TlsCaFileMustBeAReadableFileOfPemCertificates) {
  auto none = Load();
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->tls_ca_file, "");
  const std::string ca = WriteFile(
      "# internal CA\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "ca.pem");
  auto flag = Load({{"tls_ca_file", ca}});
  ASSERT_TRUE(flag.ok()) << flag.error().message;
  EXPECT_EQ(flag->tls_ca_file, ca);
  env_["OVERDUE_TLS_CA_FILE"] = ca;
  auto env = Load();
  ASSERT_TRUE(env.ok()) << env.error().message;
  EXPECT_EQ(env->tls_ca_file, ca);
  env_.clear();
  auto file = Load({{"config", WriteFile("tls_ca_file = \"" + ca + "\"\n")}});
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file->tls_ca_file, ca);

  const std::string missing = ca + ".missing";
  auto gone = Load({{"tls_ca_file", missing}});
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().message, "--tls-ca-file: \"" + missing + "\": cannot be read");
  const std::string key = WriteFile("-----BEGIN PRIVATE KEY-----\nMIIE\n", "key.pem");
  auto not_ca = Load({{"tls_ca_file", key}});
  ASSERT_FALSE(not_ca.ok());
  EXPECT_EQ(not_ca.error().message, "--tls-ca-file: \"" + key + "\": holds no PEM certificate");
  const std::string empty = WriteFile("", "empty.pem");
  auto blank = Load({{"tls_ca_file", empty}});
  ASSERT_FALSE(blank.ok());
  EXPECT_EQ(blank.error().message, "--tls-ca-file: \"" + empty + "\": holds no PEM certificate");
  auto dir = Load({{"tls_ca_file", dir_.string()}});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().message, "--tls-ca-file: \"" + dir_.string() + "\": cannot be read");
}

TEST_F(ConfigTest, FlagTurnsOffWhatTheFileTurnedOn) {
  env_["OVERDUE_ALLOW_PRIVATE_TARGETS"] = "true";
  auto c =
      Load({{"config", WriteFile("allow_private_targets = true\nheartbeat_url = \"http://x\"\n")},
            {"allow_private_targets", "false"},
            {"heartbeat_url", ""}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->allow_private_targets);
  EXPECT_EQ(c->heartbeat_url, "");  // an empty flag switches the heartbeat off
}

TEST_F(ConfigTest, BadNotificationOptionsNameSourceValueAndRule) {
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"allow_private_targets", "yes"}},
       "--allow-private-targets: \"yes\": must be true or false"},
      {{{"checkin_log", "on"}}, "--checkin-log: \"on\": must be true or false"},
      {{{"notify_timeout", "5ms"}}, "--notify-timeout: \"5ms\": must be at least 10ms"},
      {{{"notify_timeout", "2h"}}, "--notify-timeout: \"2h\": must be at most 1h"},
      {{{"notify_timeout", "soon"}}, "--notify-timeout: \"soon\": "},
      {{{"notify_max_attempts", "0"}},
       "--notify-max-attempts: \"0\": must be an integer from 1 to 100"},
      {{{"notify_max_attempts", "101"}},
       "--notify-max-attempts: \"101\": must be an integer from 1 to 100"},
      {{{"notify_retry_delay", "1ms"}}, "--notify-retry-delay: \"1ms\": must be at least 10ms"},
      {{{"notify_retry_delay", "11m"}}, "--notify-retry-delay: \"11m\": must be at most 10m"},
      {{{"heartbeat_url", "ftp://x"}},
       "--heartbeat-url: \"ftp://x\": must start with http:// or https://"},
      {{{"heartbeat_url", "https://"}}, "--heartbeat-url: \"https://\": must name a host"},
      {{{"heartbeat_url", "https://x/a b"}},
       "--heartbeat-url: \"https://x/a b\": must have no fragment or white space"},
      {{{"heartbeat_interval", "500ms"}}, "--heartbeat-interval: \"500ms\": must be at least 1s"},
      {{{"heartbeat_interval", "2d"}}, "--heartbeat-interval: \"2d\": must be at most 1d"},
      {{{"ack_link_ttl", "59s"}}, "--ack-link-ttl: \"59s\": must be at least 1m"},
      {{{"ack_link_ttl", "366d"}}, "--ack-link-ttl: \"366d\": must be at most 365d"},
  };
  for (const auto& [flags, expected] : cases) {
    auto c = Load(flags);
    ASSERT_FALSE(c.ok()) << expected;
    EXPECT_THAT(c.error().message, StartsWith(expected));
  }
  env_["OVERDUE_NOTIFY_RETRY_DELAY"] = "0s";
  auto env = Load();
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().message, "OVERDUE_NOTIFY_RETRY_DELAY: \"0s\": must be at least 10ms");
  env_.clear();
  const std::string path = WriteFile("heartbeat_interval = 0\n");
  auto file = Load({{"config", path}});
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().message,
            "config " + path + ": heartbeat_interval: \"0s\": must be at least 1s");
  EXPECT_THAT(FileError("allow_private_targets = \"true\"\n"),
              HasSubstr(": allow_private_targets: must be true or false"));
  EXPECT_THAT(FileError("notify_max_attempts = \"3\"\n"),
              HasSubstr(": notify_max_attempts: must be an integer"));
}

TEST_F(ConfigTest, FlagBeatsEnvBeatsFileBeatsDefault) {
  const std::string file = WriteFile(R"(
    min_period = "5s"
    threads = 3
    history_limit = 30
    log_level = "warn"
  )");
  env_["OVERDUE_CONFIG"] = file;
  env_["OVERDUE_MIN_PERIOD"] = "7s";
  env_["OVERDUE_THREADS"] = "2";
  auto c = Load({{"min_period", "9s"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->config_file, file);
  EXPECT_EQ(c->min_period, seconds(9));  // flag over env and file
  EXPECT_EQ(c->threads, 2);              // env over file
  EXPECT_EQ(c->history_limit, 30);       // file over default
  EXPECT_EQ(c->log_level, "warn");
  EXPECT_EQ(c->max_connections, 10000u);  // default
}

TEST_F(ConfigTest, ConfigFlagBeatsConfigEnv) {
  env_["OVERDUE_CONFIG"] = WriteFile("threads = 1\n", "env.toml");
  auto c = Load({{"config", WriteFile("threads = 5\n", "flag.toml")}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->threads, 5);
}

TEST_F(ConfigTest, EmptyEnvironmentVariableCountsAsUnset) {
  env_["OVERDUE_MIN_PERIOD"] = "";
  env_["OVERDUE_CONFIG"] = "";
  auto c = Load();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->min_period, seconds(60));
}

TEST_F(ConfigTest, BadEnvValueNamesVariableAndValue) {
  env_["OVERDUE_MIN_PERIOD"] = "abc";
  auto c = Load();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, base::ErrorCode::kInvalidArgument);
  EXPECT_THAT(c.error().message, StartsWith("OVERDUE_MIN_PERIOD: \"abc\": "));
  // The value is quoted once, though base::ParseDuration's own message quotes it too.
  EXPECT_THAT(c.error().message, Not(HasSubstr("\"abc\": \"abc\"")));
}

TEST_F(ConfigTest, ErrorsEscapeControlCharactersInValues) {
  env_["OVERDUE_LOG_LEVEL"] = "info\n\x1b[31m";
  auto c = Load();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, StartsWith("OVERDUE_LOG_LEVEL: \"info\\x0a\\x1b[31m\": "));
}

TEST_F(ConfigTest, BadFlagValueNamesFlagAndRule) {
  auto c = Load({{"threads", "lots"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "--threads: \"lots\": must be an integer from 0 to 1024");
}

TEST_F(ConfigTest, BadFileValueNamesFileAndKey) {
  const std::string path = WriteFile("listen = \"localhost\"\n");
  auto c = Load({{"config", path}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "config " + path +
                                   ": listen: \"localhost\": must be HOST:PORT, e.g. "
                                   "127.0.0.1:8000 or [::1]:8000");
}

TEST_F(ConfigTest, BadValueIsAnErrorEvenWhenAHigherSourceOverridesIt) {
  env_["OVERDUE_THREADS"] = "-1";
  auto c = Load({{"threads", "2"}});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, StartsWith("OVERDUE_THREADS: \"-1\": "));
}

TEST_F(ConfigTest, UnknownFlagNameIsAProgrammingError) {
  auto c = Load({{"min-period", "1s"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, base::ErrorCode::kInternal);
}

TEST_F(ConfigTest, ListenAcceptsNamesIpv4AndBracketedIpv6) {
  auto c = Load({{"listen", "[::1]:9000"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen_host, "::1");
  EXPECT_EQ(c->listen_port, 9000);
  c = Load({{"listen", "localhost:65535"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen_host, "localhost");
  EXPECT_EQ(c->listen_port, 65535);
}

TEST_F(ConfigTest, ListenRejectsMalformedAddresses) {
  for (const char* bad : {"8000", ":8000", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "::1:8000", "[::1:8000", "[]:80", "exa mple:80", "[zz]:80"}) {
    auto c = Load({{"listen", bad}});
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_THAT(c.error().message, StartsWith(std::string("--listen: \"") + bad + "\": "));
  }
}

TEST_F(ConfigTest, RejectsOutOfRangeOrMalformedValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"durability", "fast"},
      {"min_period", "500ms"},
      {"min_period", "abc"},
      {"min_period", "366d"},
      {"threads", "1025"},
      {"threads", "4x"},
      {"ping_body_limit", "-5"},
      {"history_limit", "0"},
      {"max_connections", "0"},
      {"max_body_bytes", "100"},
      {"max_body_bytes", "99999999999999999999999"},
      {"read_timeout", "0s"},
      {"idle_timeout", "2d"},
      {"public_url", "ftp://x"},
      {"public_url", "https://"},
      {"public_url", "http://x/?a=b"},
      {"allow_private_targets", "1"},
      {"notify_timeout", "0s"},
      {"notify_max_attempts", "x"},
      {"notify_retry_delay", "abc"},
      {"heartbeat_url", "localhost:80"},
      {"heartbeat_interval", "0s"},
      {"ack_link_ttl", "1s"},
      {"log_level", "verbose"},
      {"log_format", "xml"},
      {"data_dir", ""},
      {"config", ""},
  };
  for (const auto& [name, value] : cases) {
    auto c = Load({{name, value}});
    ASSERT_FALSE(c.ok()) << name << "=" << value;
    std::string flag = "--" + name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    EXPECT_THAT(c.error().message, StartsWith(flag + ": ")) << name << "=" << value;
  }
}

TEST_F(ConfigTest, MissingConfigFileIsAnError) {
  auto c = Load({{"config", (dir_ / "nope.toml").string()}});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, StartsWith("config " + (dir_ / "nope.toml").string() + ": "));
  EXPECT_THAT(c.error().message, HasSubstr("No such file"));
}

TEST_F(ConfigTest, TomlSyntaxErrorNamesLine) {
  const std::string path = WriteFile("threads = 1\nmin_period = \n");
  auto c = Load({{"config", path}});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, StartsWith("config " + path + ":2:"));
}

TEST_F(ConfigTest, UnknownTopLevelKeyIsAnError) {
  EXPECT_THAT(FileError("min_perod = \"1s\"\n"), HasSubstr(": min_perod: unknown key"));
  EXPECT_THAT(FileError("config = \"other.toml\"\n"), HasSubstr(": config: "));
  EXPECT_THAT(FileError("[server]\nthreads = 1\n"), HasSubstr(": server: unknown key"));
}

TEST_F(ConfigTest, WrongTomlTypesAreErrors) {
  EXPECT_THAT(FileError("threads = \"4\"\n"), HasSubstr(": threads: must be an integer"));
  EXPECT_THAT(FileError("listen = 8000\n"), HasSubstr(": listen: must be a string"));
  EXPECT_THAT(FileError("min_period = true\n"), HasSubstr(": min_period: must be a duration"));
  EXPECT_THAT(FileError("[watch]\nname = \"x\"\n"), HasSubstr(": watch: must be an array"));
}

TEST_F(ConfigTest, FileDurationsAcceptStringsAndSeconds) {
  auto c = Load({{"config", WriteFile("min_period = 30\nread_timeout = \"2m\"\n")}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->min_period, seconds(30));
  EXPECT_EQ(c->read_timeout, minutes(2));
}

TEST_F(ConfigTest, WatchTablesBecomeWatchSpecs) {
  auto c = Load({{"config", WriteFile(R"(
    min_period = "1s"

    [[watch]]
    id = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10"
    name = "nightly backup"
    slug = "nightly-backup"
    tags = "prod db"
    desc = "pg_dump to s3"
    period = "1d"
    grace = "1h"
    manual_resume = true
    methods = "POST"
    filter_http_body = true
    filter_default_fail = true
    start_kw = "begin"
    success_kw = "done,ok"
    failure_kw = "error"

    [[watch]]
    name = "hourly"
    cron = "0 * * * *"
    tz = "Europe/Berlin"
    grace = 120

    [[watch]]
    name = "trip"
    kind = "person"
    once = "2025-06-01T18:00:00+02:00"

    [[watch]]
    name = "trip2"
    once = 2025-06-01T16:00:00.5Z
  )")}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->watches.size(), 4u);

  const model::WatchSpec& a = c->watches[0];
  EXPECT_EQ(a.id.ToString(), "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10");
  EXPECT_EQ(a.name, "nightly backup");
  EXPECT_EQ(a.slug, "nightly-backup");
  EXPECT_EQ(a.tags, "prod db");
  EXPECT_EQ(a.desc, "pg_dump to s3");
  EXPECT_EQ(a.kind, model::WatchKind::kJob);
  EXPECT_EQ(a.schedule.kind, model::Schedule::Kind::kPeriod);
  EXPECT_EQ(a.schedule.period, hours(24));
  EXPECT_EQ(a.schedule.grace, hours(1));
  EXPECT_TRUE(a.manual_resume);
  EXPECT_TRUE(a.post_only);
  EXPECT_TRUE(a.filter_http_body);
  EXPECT_TRUE(a.filter_default_fail);
  EXPECT_EQ(a.start_kw, "begin");
  EXPECT_EQ(a.success_kw, "done,ok");
  EXPECT_EQ(a.failure_kw, "error");

  const model::WatchSpec& b = c->watches[1];
  EXPECT_EQ(b.schedule.kind, model::Schedule::Kind::kCron);
  EXPECT_EQ(b.schedule.cron, "0 * * * *");
  EXPECT_EQ(b.schedule.tz, "Europe/Berlin");
  EXPECT_EQ(b.schedule.grace, minutes(2));
  EXPECT_EQ(b.slug, "hourly");  // healthchecks fills a missing slug with slugify(name)
  EXPECT_FALSE(b.id.IsNil());
  EXPECT_FALSE(b.post_only);

  const model::WatchSpec& t = c->watches[2];
  EXPECT_EQ(t.kind, model::WatchKind::kPerson);
  EXPECT_EQ(t.schedule.kind, model::Schedule::Kind::kOnce);
  // 2025-06-01T16:00:00Z
  EXPECT_EQ(base::ToMicros(t.schedule.once_at), int64_t{1748793600} * 1'000'000);
  EXPECT_EQ(base::ToMicros(c->watches[3].schedule.once_at),
            int64_t{1748793600} * 1'000'000 + 500'000);
}

TEST_F(ConfigTest, WatchWithoutScheduleGetsHealthchecksDefaults) {
  auto c = Load({{"config", WriteFile("[[watch]]\nslug = \"x\"\n")}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->watches.size(), 1u);
  EXPECT_EQ(c->watches[0].schedule.kind, model::Schedule::Kind::kPeriod);
  EXPECT_EQ(c->watches[0].schedule.period, hours(24));
  EXPECT_EQ(c->watches[0].schedule.grace, hours(1));
}

TEST_F(ConfigTest, DerivedIdIsStableAcrossLoadsAndShapedAsUuidV4) {
  const std::string text = "[[watch]]\nname = \"Nightly Backup!\"\n[[watch]]\nslug = \"other\"\n";
  auto first = Load({{"config", WriteFile(text)}});
  ASSERT_TRUE(first.ok()) << first.error().message;
  // Editing anything but the slug keeps the id (and so the ping URL).
  auto second = Load({{"config", WriteFile("[[watch]]\nname = \"Nightly Backup!\"\nperiod = "
                                           "\"2h\"\n[[watch]]\nslug = \"other\"\n")}});
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(first->watches[0].slug, "nightly-backup");
  EXPECT_EQ(first->watches[0].id, second->watches[0].id);
  EXPECT_EQ(first->watches[1].id, second->watches[1].id);
  EXPECT_NE(first->watches[0].id, first->watches[1].id);
  const std::string id = first->watches[0].id.ToString();
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
  EXPECT_TRUE(fs::exists(fs::path(data_dir_) / "config-watch-ids.key"));
}

TEST_F(ConfigTest, DerivedIdDependsOnTheDataDirsSecret) {
  // Unguessable ping URLs: the same slug on another installation gets another id.
  const std::string path = WriteFile("[[watch]]\nslug = \"backup\"\n");
  auto a = Load({{"config", path}, {"data_dir", (dir_ / "a").string()}});
  auto b = Load({{"config", path}, {"data_dir", (dir_ / "b").string()}});
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_NE(a->watches[0].id, b->watches[0].id);
}

TEST_F(ConfigTest, NoDataDirWrittenWhenEveryWatchHasAnId) {
  auto c =
      Load({{"config", WriteFile("[[watch]]\nid = \"5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10\"\n")}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(fs::exists(data_dir_));
}

TEST_F(ConfigTest, CorruptWatchIdKeyIsAnError) {
  fs::create_directories(data_dir_);
  std::ofstream(fs::path(data_dir_) / "config-watch-ids.key") << "short";
  EXPECT_THAT(FileError("[[watch]]\nslug = \"x\"\n"),
              HasSubstr("watch[0].id: cannot derive one: "));
}

TEST_F(ConfigTest, WatchErrorsNameTheFieldAndRule) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[[watch]]\nslug = \"x\"\nperod = \"1h\"\n", "watch[0].perod: unknown key"},
      {"[[watch]]\nid = \"not-a-uuid\"\n", "watch[0].id: \"not-a-uuid\": must be a UUID"},
      {"[[watch]]\nid = \"00000000-0000-0000-0000-000000000000\"\n",
       "watch[0].id: \"00000000-0000-0000-0000-000000000000\": must not be the nil UUID"},
      {"[[watch]]\nname = \"" + std::string(101, 'n') + "\"\n",
       "watch[0].name: must be at most 100 characters"},
      {"[[watch]]\nslug = \"Nightly\"\n", "watch[0].slug: \"Nightly\": must match ^[a-z0-9-_]*$"},
      {"[[watch]]\nslug = 5\n", "watch[0].slug: must be a string"},
      {"[[watch]]\nslug = \"x\"\nmanual_resume = \"yes\"\n",
       "watch[0].manual_resume: must be true or false"},
      {"[[watch]]\nslug = \"x\"\nmethods = \"GET\"\n",
       "watch[0].methods: \"GET\": must be \"\" or \"POST\""},
      {"[[watch]]\nslug = \"x\"\nkind = \"robot\"\n",
       "watch[0].kind: \"robot\": must be job, person or team"},
      {"[[watch]]\nslug = \"x\"\nstart_kw = \"" + std::string(201, 'k') + "\"\n",
       "watch[0].start_kw: must be at most 200 characters"},
      {"[[watch]]\nslug = \"x\"\nperiod = \"1h\"\ncron = \"0 * * * *\"\n",
       "watch[0]: give one of period, cron or once"},
      {"[[watch]]\nslug = \"x\"\nperiod = \"1h\"\ntz = \"UTC\"\n",
       "watch[0].tz: only valid with cron"},
      {"[[watch]]\nslug = \"x\"\nperiod = \"soon\"\n", "watch[0].period: \"soon\": "},
      {"[[watch]]\nslug = \"x\"\ngrace = -5\n", "watch[0].grace: -5: must not be negative"},
      {"[[watch]]\nslug = \"x\"\nonce = \"tomorrow\"\n",
       "watch[0].once: \"tomorrow\": must be an RFC 3339 instant"},
      {"[[watch]]\nslug = \"x\"\nonce = 2025-06-01T18:00:00\n",
       "watch[0].once: must be an RFC 3339 instant"},
      {"[[watch]]\nslug = \"x\"\nonce = \"2025-02-30T18:00:00Z\"\n",
       "watch[0].once: \"2025-02-30T18:00:00Z\": must be an RFC 3339"},
      {"[[watch]]\ntags = \"a\"\n", "watch[0]: needs an id, a slug or a name"},
      {"[[watch]]\nslug = \"a\"\n[[watch]]\nslug = \"a\"\n",
       "watch[1].id: \"" /* derived from the same slug */},
      {"[[watch]]\nslug = \"a\"\nid = \"5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10\"\n"
       "[[watch]]\nslug = \"b\"\nid = \"5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10\"\n",
       "watch[1].id: \"5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10\": already used by watch[0]"},
      {"[[watch]]\nslug = \"a\"\nid = \"5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10\"\n"
       "[[watch]]\nslug = \"a\"\nid = \"6f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10\"\n",
       "watch[1].slug: \"a\": already used by watch[0]"},
      {"[[watch]]\nname = \"A b\"\n[[watch]]\nname = \"a-b\"\nid = "
       "\"6f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10\"\n",
       "watch[1].slug: \"a-b\": already used by watch[0] (derived from the name)"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string path = WriteFile(text);
    auto c = Load({{"config", path}, {"min_period", "1s"}});
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_THAT(c.error().message, StartsWith("config " + path + ": " + expected)) << text;
  }
}

TEST_F(ConfigTest, ScheduleValidationUsesFinalMinPeriodAndNamesTheWatch) {
  const std::string path = WriteFile(R"(
    min_period = "1s"
    [[watch]]
    slug = "fast"
    period = "10s"
    grace = "10s"
  )");
  auto ok = Load({{"config", path}});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  // A flag raising the minimum makes the file's watch invalid.
  auto c = Load({{"config", path}, {"min_period", "1m"}});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, StartsWith("config " + path + ": watch[0]."));
}

TEST_F(ConfigTest, BadCronNamesWatchFieldAndValue) {
  const std::string path =
      WriteFile("[[watch]]\nslug = \"x\"\ncron = \"61 * * * *\"\ntz = \"UTC\"\n");
  auto c = Load({{"config", path}});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message,
              StartsWith("config " + path + ": watch[0].cron: \"61 * * * *\": "));
  EXPECT_THAT(c.error().message, HasSubstr("minute"));
}

TEST_F(ConfigTest, UnknownTimeZoneIsAnError) {
  const std::string path =
      WriteFile("[[watch]]\nslug = \"x\"\ncron = \"0 * * * *\"\ntz = \"Mars/Olympus\"\n");
  auto c = Load({{"config", path}});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, StartsWith("config " + path + ": watch[0].tz: "));
  EXPECT_THAT(c.error().message, HasSubstr("Mars/Olympus"));
}

TEST_F(ConfigTest, ConfigOptionsListsEveryOptionOnce) {
  std::set<std::string> names;
  for (const ConfigOption& o : ConfigOptions()) {
    EXPECT_TRUE(names.insert(o.name).second) << o.name;
    EXPECT_NE(std::string(o.help), "") << o.name;
  }
  for (const char* name : {"listen",
                           "data_dir",
                           "config",
                           "durability",
                           "min_period",
                           "threads",
                           "ping_body_limit",
                           "history_limit",
                           "max_connections",
                           "max_body_bytes",
                           "read_timeout",
                           "idle_timeout",
                           "public_url",
                           "log_level",
                           "log_format",
                           "allow_private_targets",
                           "checkin_log",
                           "tls_ca_file",
                           "notify_timeout",
                           "notify_max_attempts",
                           "notify_retry_delay",
                           "heartbeat_url",
                           "heartbeat_interval",
                           "ack_link_ttl"}) {
    EXPECT_TRUE(names.contains(name)) << name;
  }
  // Each is accepted by LoadConfig as a flag (with a valid value the defaults give).
  EXPECT_EQ(names.size(), 26u);
}

constexpr const char* kChannelA = "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01";
constexpr const char* kChannelB = "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b02";
constexpr const char* kPolicy = "7d0f9c4a-3b2e-4f1d-8c6b-5a4e3d2c1b01";
constexpr const char* kWatch = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10";

TEST_F(ConfigTest, ChannelAndPolicyTablesBecomeModelValues) {
  auto c = Load({{"config", WriteFile(std::string(R"(
    [[channel]]
    id = "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01"
    name = "ops mail"
    kind = "email"
    [channel.config]
    to = "ops@example.com"
    from = "overdue@example.com"
    smtp_url = "smtp://mail:25"
    port = 25
    ratio = 0.5
    tls = false
    cc = ["a@example.com", "b@example.com"]
    when = 2025-06-01T18:00:00Z
    [channel.config.template]
    subject = "{{watch.name}} is {{event}}"

    [[channel]]
    id = "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b02"
    kind = "webhook"
    config = { url = "https://example.com/hook" }

    [[channel]]
    id = "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b03"
    kind = "slack"

    [[policy]]
    id = "7d0f9c4a-3b2e-4f1d-8c6b-5a4e3d2c1b01"
    name = "default"
    default = true
    tags = ["prod", "db"]
    watches = ["5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10"]
    repeat = 2
    remind_every = "30m"
    ack_timeout = 3600
    alert_after_failures = 3
    late_channels = ["0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b02"]
    [[policy.step]]
    channels = ["0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01"]
    wait = "10m"
    [[policy.step]]
    channels = ["0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01", "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b02"]
    wait = 90

    [[policy]]
    id = "7d0f9c4a-3b2e-4f1d-8c6b-5a4e3d2c1b02"
    name = "minimal"
    [[policy.step]]
    channels = ["6f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10"]
  )"))}});
  ASSERT_TRUE(c.ok()) << c.error().message;

  ASSERT_EQ(c->channels.size(), 3u);
  const model::Channel& mail = c->channels[0];
  EXPECT_EQ(mail.id.ToString(), kChannelA);
  EXPECT_EQ(mail.project_id, 0);  // the server puts it in the default project
  EXPECT_EQ(mail.name, "ops mail");
  EXPECT_EQ(mail.kind, "email");
  EXPECT_EQ(nlohmann::json::parse(mail.config),
            nlohmann::json({{"to", "ops@example.com"},
                            {"from", "overdue@example.com"},
                            {"smtp_url", "smtp://mail:25"},
                            {"port", 25},
                            {"ratio", 0.5},
                            {"tls", false},
                            {"cc", {"a@example.com", "b@example.com"}},
                            {"when", "2025-06-01T18:00:00Z"},
                            {"template", {{"subject", "{{watch.name}} is {{event}}"}}}}));
  EXPECT_EQ(c->channels[1].id.ToString(), kChannelB);
  EXPECT_EQ(c->channels[1].name, "webhook");  // unnamed: named after its kind, as the API does
  EXPECT_EQ(nlohmann::json::parse(c->channels[1].config),
            nlohmann::json({{"url", "https://example.com/hook"}}));
  EXPECT_EQ(c->channels[2].config, "{}");

  ASSERT_EQ(c->policies.size(), 2u);
  const model::Policy& p = c->policies[0];
  EXPECT_EQ(p.id.ToString(), kPolicy);
  EXPECT_EQ(p.project_id, 0);
  EXPECT_EQ(p.name, "default");
  EXPECT_TRUE(p.is_default);
  EXPECT_EQ(p.tags, (std::vector<std::string>{"prod", "db"}));
  ASSERT_EQ(p.watches.size(), 1u);
  EXPECT_EQ(p.watches[0].ToString(), kWatch);
  EXPECT_EQ(p.chain.repeat, 2);
  EXPECT_EQ(p.chain.remind_every, minutes(30));
  EXPECT_EQ(p.chain.ack_timeout, hours(1));
  EXPECT_EQ(p.alert_after_failures, 3);
  ASSERT_EQ(p.late_channels.size(), 1u);
  EXPECT_EQ(p.late_channels[0].ToString(), kChannelB);
  ASSERT_EQ(p.chain.steps.size(), 2u);
  ASSERT_EQ(p.chain.steps[0].channels.size(), 1u);
  EXPECT_EQ(p.chain.steps[0].channels[0].ToString(), kChannelA);
  EXPECT_EQ(p.chain.steps[0].wait, minutes(10));
  ASSERT_EQ(p.chain.steps[1].channels.size(), 2u);
  EXPECT_EQ(p.chain.steps[1].channels[1].ToString(), kChannelB);
  EXPECT_EQ(p.chain.steps[1].wait, seconds(90));

  // The model's defaults fill what the table leaves out; a step may name a channel the file
  // does not declare (one created through the API): the server checks that it exists.
  const model::Policy& q = c->policies[1];
  EXPECT_FALSE(q.is_default);
  EXPECT_TRUE(q.tags.empty());
  EXPECT_TRUE(q.watches.empty());
  EXPECT_EQ(q.chain.repeat, 1);
  EXPECT_EQ(q.chain.remind_every, seconds(0));
  EXPECT_EQ(q.chain.ack_timeout, seconds(0));
  EXPECT_EQ(q.alert_after_failures, 1);
  ASSERT_EQ(q.chain.steps.size(), 1u);
  EXPECT_EQ(q.chain.steps[0].wait, minutes(10));
}

TEST_F(ConfigTest, ChannelAndPolicyErrorsNameTheFieldAndRule) {
  const std::string channel = "[[channel]]\nid = \"" + std::string(kChannelA) + "\"\n";
  const std::string policy = "[[policy]]\nid = \"" + std::string(kPolicy) + "\"\nname = \"p\"\n";
  const std::string step = "[[policy.step]]\nchannels = [\"" + std::string(kChannelA) + "\"]\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[channel]\nkind = \"email\"\n", "channel: must be an array of tables: write [[channel]]"},
      {"channel = 5\n", "channel: must be an array of tables"},
      {"[[channel]]\nkind = \"email\"\n", "channel[0]: needs an id"},
      {"[[channel]]\nid = \"nope\"\nkind = \"email\"\n", "channel[0].id: \"nope\": must be a UUID"},
      {"[[channel]]\nid = 7\nkind = \"email\"\n", "channel[0].id: must be a string"},
      {"[[channel]]\nid = \"00000000-0000-0000-0000-000000000000\"\nkind = \"email\"\n",
       "channel[0].id: \"00000000-0000-0000-0000-000000000000\": must not be the nil UUID"},
      {channel, "channel[0]: needs a kind"},
      {channel + "kind = \"\"\n", "channel[0].kind: must not be empty"},
      {channel + "kind = 3\n", "channel[0].kind: must be a string"},
      {channel + "kind = \"email\"\nname = \"" + std::string(201, 'n') + "\"\n",
       "channel[0].name: must be at most 200 characters"},
      {channel + "kind = \"email\"\nconfig = \"{}\"\n", "channel[0].config: must be a table"},
      {channel + "kind = \"email\"\nto = \"x\"\n",
       "channel[0].to: unknown key (expected id, name, kind or config)"},
      {channel + "kind = \"email\"\n" + channel + "kind = \"slack\"\n",
       "channel[1].id: \"" + std::string(kChannelA) + "\": already used by channel[0]"},
      {"[policy]\nname = \"p\"\n", "policy: must be an array of tables: write [[policy]]"},
      {"[[policy]]\nname = \"p\"\n" + step, "policy[0]: needs an id"},
      {"[[policy]]\nid = \"" + std::string(kPolicy) + "\"\n" + step, "policy[0]: needs a name"},
      {policy, "policy[0]: needs at least one step"},
      {policy + "steps = []\n", "policy[0].steps: unknown key (expected id, name, default"},
      {policy + "step = 1\n", "policy[0].step: must be an array of tables: write [[policy.step]]"},
      {policy + "[[policy.step]]\nwait = \"1m\"\n", "policy[0].step[0]: needs channels"},
      {policy + "[[policy.step]]\nchannels = []\n",
       "policy[0].step[0].channels: must name at least one channel"},
      {policy + "[[policy.step]]\nchannels = \"" + kChannelA + "\"\n",
       "policy[0].step[0].channels: must be an array of UUID strings"},
      {policy + step + "[[policy.step]]\nchannels = [\"x\"]\n",
       "policy[0].step[1].channels[0]: \"x\": must be a UUID"},
      {policy + step + step + "wait = \"x\"\n", "policy[0].step[1].wait: \"x\": "},
      {policy + step + "wait = \"500ms\"\n",
       "policy[0].step[0].wait: \"500ms\": must be at least 1s"},
      {policy + step + "wait = 0\n", "policy[0].step[0].wait: 0: must be at least 1s"},
      {policy + step + "wait = \"367d\"\n",
       "policy[0].step[0].wait: \"367d\": must be at most 366d"},
      {policy + step + "wait = -1\n", "policy[0].step[0].wait: -1: must not be negative"},
      {policy + step + "wait = true\n", "policy[0].step[0].wait: must be a duration"},
      {policy + step + "delay = \"1m\"\n",
       "policy[0].step[0].delay: unknown key (expected channels or wait)"},
      {policy + "repeat = 0\n" + step, "policy[0].repeat: 0: must be an integer from 1 to 100"},
      {policy + "repeat = \"2\"\n" + step, "policy[0].repeat: must be an integer from 1 to 100"},
      {policy + "alert_after_failures = 1001\n" + step,
       "policy[0].alert_after_failures: 1001: must be an integer from 1 to 1000"},
      {policy + "remind_every = \"soon\"\n" + step, "policy[0].remind_every: \"soon\": "},
      {policy + "ack_timeout = \"400d\"\n" + step,
       "policy[0].ack_timeout: \"400d\": must be at most 366d"},
      {policy + "default = \"yes\"\n" + step, "policy[0].default: must be true or false"},
      {policy + "tags = \"prod\"\n" + step, "policy[0].tags: must be an array"},
      {policy + "tags = [\"a b\"]\n" + step,
       "policy[0].tags[0]: \"a b\": must be a tag: not empty, no spaces"},
      {policy + "tags = [\"\"]\n" + step, "policy[0].tags[0]: \"\": must be a tag"},
      {policy + "tags = [1]\n" + step, "policy[0].tags[0]: must be a string"},
      {policy + "watches = [\"nope\"]\n" + step, "policy[0].watches[0]: \"nope\": must be a UUID"},
      {policy + "late_channels = [\"nope\"]\n" + step,
       "policy[0].late_channels[0]: \"nope\": must be a UUID"},
      {policy + "escalate = true\n" + step, "policy[0].escalate: unknown key"},
      {policy + step + policy + step,
       "policy[1].id: \"" + std::string(kPolicy) + "\": already used by policy[0]"},
      {policy + "default = true\n" + step +
           "[[policy]]\nid = \"7d0f9c4a-3b2e-4f1d-8c6b-5a4e3d2c1b02\"\nname = \"q\"\n"
           "default = true\n" +
           step,
       "policy[1].default: policy[0] is already the default"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string path = WriteFile(text);
    auto c = Load({{"config", path}});
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_THAT(c.error().message, StartsWith("config " + path + ": " + expected)) << text;
  }
}

}  // namespace
}  // namespace overdue::server
