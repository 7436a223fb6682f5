// End-to-end tests of the built `overdue` executable: flags, exit codes and the pings it sends.
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "cli/test_receiver.h"
#include "cli/version.h"

extern char** environ;

namespace overdue::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kUuid = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10";

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class BinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "overdue-main-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the overdue binary with `args`; `env` is added to (or replaces in) our environment.
  Outcome Run(const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      const std::string name = entry.substr(0, entry.find('='));
      // Keep the child's configuration under the test's control.
      if (name.starts_with("OVERDUE_") || env.contains(name)) continue;
      env_strings.push_back(entry);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = {OVERDUE_BINARY};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    const std::string out_path = (dir_ / "stdout").string();
    const std::string err_path = (dir_ / "stderr").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    Outcome o;
    if (rc != 0) {
      ADD_FAILURE() << "cannot spawn " << OVERDUE_BINARY << ": " << std::strerror(rc);
      return o;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    o.out = Slurp(out_path);
    o.err = Slurp(err_path);
    return o;
  }

  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  TestReceiver receiver_;
  fs::path dir_;
};

TEST_F(BinaryTest, VersionPrintsTheVersion) {
  Outcome o = Run({"version"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, std::string("overdue ") + Version() + "\n");
  Outcome flag = Run({"--version"});
  EXPECT_EQ(flag.exit_code, 0);
  EXPECT_EQ(flag.out, o.out);
}

TEST_F(BinaryTest, NoSubcommandIsAUsageError) {
  Outcome o = Run({});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.err, HasSubstr("subcommand"));
}

TEST_F(BinaryTest, RunReportsStartAndExitStatusAndReturnsIt) {
  Outcome o = Run(
      {"run", "--url", receiver_.url() + "/ping/" + kUuid, "--", "sh", "-c", "echo hello; exit 3"});
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.out, "hello\n");
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[0].target, StartsWith(std::string("/ping/") + kUuid + "/start?rid="));
  EXPECT_THAT(reqs[1].target, StartsWith(std::string("/ping/") + kUuid + "/3?rid="));
  EXPECT_EQ(reqs[0].target.substr(reqs[0].target.find("rid=")),
            reqs[1].target.substr(reqs[1].target.find("rid=")));
  EXPECT_EQ(reqs[1].body, "hello\n");
}

TEST_F(BinaryTest, RunTakesTheUrlFromTheEnvironmentAndArgsWithoutDashDash) {
  Outcome o = Run({"run", "sh", "-c", "exit 0"},
                  {{"OVERDUE_PING_URL", receiver_.url() + "/ping/" + kUuid}});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[1].target, StartsWith(std::string("/ping/") + kUuid + "/0?rid="));
}

TEST_F(BinaryTest, RunWithUuidUsesTheServer) {
  Outcome o = Run({"run", "--uuid", kUuid, "--", "true"}, {{"OVERDUE_SERVER", receiver_.url()}});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  ASSERT_EQ(receiver_.requests().size(), 2u);
}

TEST_F(BinaryTest, RunWithoutPingUrlIsAUsageError) {
  Outcome o = Run({"run", "--", "true"});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.err, HasSubstr("no ping URL"));
}

TEST_F(BinaryTest, PingSendsTheSignalAndPrintsTheReply) {
  Outcome o = Run({"ping", kUuid, "--fail", "--server", receiver_.url()});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "OK\n");
  ASSERT_EQ(receiver_.requests().size(), 1u);
  EXPECT_EQ(receiver_.requests()[0].target, std::string("/ping/") + kUuid + "/fail");
}

TEST_F(BinaryTest, PingExitStatusAndRid) {
  Outcome o = Run({"ping", receiver_.url() + "/ping/" + kUuid, "--exit", "7", "--rid",
                   "0b8f7c47-6f6e-4a51-9d2c-5a0e3c2b1a09"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  ASSERT_EQ(receiver_.requests().size(), 1u);
  EXPECT_EQ(receiver_.requests()[0].target,
            std::string("/ping/") + kUuid + "/7?rid=0b8f7c47-6f6e-4a51-9d2c-5a0e3c2b1a09");
}

TEST_F(BinaryTest, PingNotFoundExitsOne) {
  receiver_.QueueStatuses({404});
  Outcome o = Run({"ping", kUuid}, {{"OVERDUE_SERVER", receiver_.url()}});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_THAT(o.err, HasSubstr("HTTP 404"));
}

TEST_F(BinaryTest, PingRejectsConflictingSignalsAndBadValues) {
  EXPECT_EQ(Run({"ping", kUuid, "--start", "--fail"}).exit_code, 2);
  EXPECT_EQ(Run({"ping", kUuid, "--exit", "256"}).exit_code, 2);
  EXPECT_EQ(Run({"ping", kUuid, "--rid", "nope"}).exit_code, 2);
  EXPECT_TRUE(receiver_.requests().empty());
}

TEST_F(BinaryTest, ServeWithABadFlagExitsTwoNamingIt) {
  Outcome o = Run({"serve", "--data-dir", (dir_ / "data").string(), "--min-period", "abc"});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.err, StartsWith("overdue: --min-period: \"abc\": "));
}

TEST_F(BinaryTest, ServeWithABadEnvironmentValueExitsTwoNamingIt) {
  Outcome o = Run({"serve", "--data-dir", (dir_ / "data").string()}, {{"OVERDUE_THREADS", "many"}});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.err, StartsWith("overdue: OVERDUE_THREADS: \"many\": "));
}

TEST_F(BinaryTest, InitWithABadConfigFileExitsTwoNamingTheWatchField) {
  const std::string config = (dir_ / "overdue.toml").string();
  std::ofstream(config) << "[[watch]]\nslug = \"x\"\nperiod = \"1h\"\nmethods = \"GET\"\n";
  Outcome o = Run({"init", "--json", "--data-dir", (dir_ / "data").string(), "--config", config});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.err, StartsWith("overdue: config " + config + ": watch[0].methods: "));
}

TEST_F(BinaryTest, HelpListsEveryConfigFlag) {
  Outcome o = Run({"serve", "--help"});
  EXPECT_EQ(o.exit_code, 0);
  for (const char* flag :
       {"--listen", "--data-dir", "--config", "--durability", "--min-period", "--threads",
        "--ping-body-limit", "--history-limit", "--max-connections", "--max-body-bytes",
        "--read-timeout", "--idle-timeout", "--public-url", "--log-level", "--log-format"}) {
    EXPECT_THAT(o.out, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace overdue::cli
