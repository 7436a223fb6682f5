#include "cli/run_command.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/test_receiver.h"

namespace overdue::cli {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr const char* kUuid = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10";

// Splits "/ping/<uuid>/<suffix>?rid=<rid>" into suffix and rid.
struct PingTarget {
  std::string suffix;
  std::string rid;
};
PingTarget ParseTarget(const std::string& target) {
  const std::string prefix = std::string("/ping/") + kUuid + "/";
  EXPECT_THAT(target, StartsWith(prefix));
  const size_t q = target.find("?rid=");
  EXPECT_NE(q, std::string::npos) << target;
  if (q == std::string::npos || target.size() < prefix.size()) return {};
  return {target.substr(prefix.size(), q - prefix.size()), target.substr(q + 5)};
}

class RunCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "overdue-run-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    out_fd_ = ::open((dir_ / "out").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    err_fd_ = ::open((dir_ / "err").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(out_fd_, 0);
    ASSERT_GE(err_fd_, 0);
  }
  void TearDown() override {
    ::close(out_fd_);
    ::close(err_fd_);
    fs::remove_all(dir_);
  }

  RunOptions Options(std::vector<std::string> command) {
    RunOptions o;
    o.ping_url = receiver_.url() + "/ping/" + kUuid;
    o.command = std::move(command);
    o.retry.first_delay = milliseconds(10);
    o.out_fd = out_fd_;
    o.err_fd = err_fd_;
    return o;
  }
  std::string ReadFile(const std::string& name) {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  TestReceiver receiver_;
  fs::path dir_;
  int out_fd_ = -1;
  int err_fd_ = -1;
};

TEST_F(RunCommandTest, SendsStartThenExitStatusWithTheSameRidAndTheOutput) {
  const int code = RunCommand(Options({"sh", "-c", "echo to-out; echo to-err >&2"}));
  EXPECT_EQ(code, 0);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  const PingTarget start = ParseTarget(reqs[0].target);
  const PingTarget finish = ParseTarget(reqs[1].target);
  EXPECT_EQ(start.suffix, "start");
  EXPECT_EQ(finish.suffix, "0");
  EXPECT_EQ(start.rid, finish.rid);
  EXPECT_TRUE(base::Uuid::Parse(start.rid).has_value()) << start.rid;
  EXPECT_EQ(reqs[0].body, "");
  EXPECT_THAT(reqs[1].body, HasSubstr("to-out\n"));
  EXPECT_THAT(reqs[1].body, HasSubstr("to-err\n"));
  // Passed through, each to its own stream.
  EXPECT_EQ(ReadFile("out"), "to-out\n");
  EXPECT_EQ(ReadFile("err"), "to-err\n");
}

TEST_F(RunCommandTest, EachRunGetsAFreshRidUnlessOneIsGiven) {
  ASSERT_EQ(RunCommand(Options({"true"})), 0);
  ASSERT_EQ(RunCommand(Options({"true"})), 0);
  RunOptions o = Options({"true"});
  o.rid = base::Uuid::Parse("0b8f7c47-6f6e-4a51-9d2c-5a0e3c2b1a09");
  ASSERT_EQ(RunCommand(o), 0);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_NE(ParseTarget(reqs[0].target).rid, ParseTarget(reqs[2].target).rid);
  EXPECT_EQ(ParseTarget(reqs[4].target).rid, "0b8f7c47-6f6e-4a51-9d2c-5a0e3c2b1a09");
  EXPECT_EQ(ParseTarget(reqs[5].target).rid, "0b8f7c47-6f6e-4a51-9d2c-5a0e3c2b1a09");
}

TEST_F(RunCommandTest, SendsOnlyTheLast10KbOfLargeOutput) {
  // `seq 1 11000` prints 54,894 bytes.
  EXPECT_EQ(RunCommand(Options({"seq", "1", "11000"})), 0);
  const std::string all = ReadFile("out");
  ASSERT_GT(all.size(), 50'000u);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].body.size(), kOutputTailBytes);
  EXPECT_EQ(reqs[1].body, all.substr(all.size() - kOutputTailBytes));
  EXPECT_THAT(reqs[1].body, testing::EndsWith("10999\n11000\n"));
}

TEST_F(RunCommandTest, ExitStatusIsReportedAndReturned) {
  EXPECT_EQ(RunCommand(Options({"sh", "-c", "exit 3"})), 3);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(ParseTarget(reqs[1].target).suffix, "3");
}

TEST_F(RunCommandTest, CommandKilledBySignalIsAFailure) {
  EXPECT_EQ(RunCommand(Options({"sh", "-c", "kill -KILL $$"})), 128 + SIGKILL);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(ParseTarget(reqs[1].target).suffix, "fail");
}

TEST_F(RunCommandTest, CommandThatCannotStartReports127) {
  EXPECT_EQ(RunCommand(Options({"/nonexistent/overdue-test-command"})), 127);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(ParseTarget(reqs[1].target).suffix, "127");
  EXPECT_THAT(reqs[1].body, HasSubstr("cannot run \"/nonexistent/overdue-test-command\""));
  EXPECT_THAT(ReadFile("err"), HasSubstr("No such file"));
}

TEST_F(RunCommandTest, RetriesServerErrorsWithTheSameRid) {
  receiver_.QueueStatuses({503, 503});
  EXPECT_EQ(RunCommand(Options({"sh", "-c", "exit 5"})), 5);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ParseTarget(reqs[i].target).suffix, "start");
  EXPECT_EQ(ParseTarget(reqs[3].target).suffix, "5");
  for (const auto& r : reqs) EXPECT_EQ(ParseTarget(r.target).rid, ParseTarget(reqs[0].target).rid);
  // Retries that end in success leave no trace on the job's stderr.
  EXPECT_EQ(ReadFile("err"), "");
}

TEST_F(RunCommandTest, UnreachableServerStillRunsTheCommandAndKeepsItsStatus) {
  RunOptions o = Options({"sh", "-c", "touch ran; exit 4"});
  o.ping_url = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/ping/" + kUuid;
  o.retry.max_attempts = 2;
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  const int code = RunCommand(o);
  fs::current_path(cwd);
  EXPECT_EQ(code, 4);
  EXPECT_TRUE(fs::exists(dir_ / "ran"));
  const std::string err = ReadFile("err");
  EXPECT_THAT(err, HasSubstr("/start ping failed"));
  EXPECT_THAT(err, HasSubstr("/4 ping failed"));
}

TEST_F(RunCommandTest, RejectedPingsOnlyWarn) {
  receiver_.QueueStatuses({404, 404});
  EXPECT_EQ(RunCommand(Options({"true"})), 0);
  EXPECT_EQ(receiver_.requests().size(), 2u);
  EXPECT_THAT(ReadFile("err"), HasSubstr("/start ping: HTTP 404"));
}

TEST_F(RunCommandTest, ServerPingBodyLimitShortensTheTail) {
  receiver_.SetPingBodyLimit(5);
  EXPECT_EQ(RunCommand(Options({"printf", "0123456789"})), 0);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].body, "56789");
}

TEST_F(RunCommandTest, ForwardsSigtermSentToUs) {
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  RunOptions o =
      Options({"sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"});
  o.out_fd = ready[1];
  std::thread killer([&] {
    char buf[6];
    // The command printed "ready": its trap is set and our forwarding handler is installed.
    if (::read(ready[0], buf, sizeof buf) > 0) ::kill(::getpid(), SIGTERM);
  });
  const int code = RunCommand(o);
  killer.join();
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_EQ(code, 42);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(ParseTarget(reqs[1].target).suffix, "42");
  // The handler is gone again: SIGTERM is back at its default.
  struct sigaction now {};
  sigaction(SIGTERM, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

}  // namespace
}  // namespace overdue::cli
