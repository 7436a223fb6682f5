#include "cli/ping_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/test_receiver.h"

namespace overdue::cli {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr const char* kUuid = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10";
constexpr const char* kRid = "0b8f7c47-6f6e-4a51-9d2c-5a0e3c2b1a09";

class PingCommandTest : public ::testing::Test {
 protected:
  PingOptions Options(const std::string& target) {
    PingOptions o;
    o.target = target;
    o.server = receiver_.url();
    o.retry.first_delay = milliseconds(10);
    return o;
  }
  int Run(const PingOptions& o) { return PingCommand(o, out_, err_); }

  TestReceiver receiver_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(PingCommandTest, BareUuidGoesToTheServerAndPrintsTheReply) {
  EXPECT_EQ(Run(Options(kUuid)), 0);
  EXPECT_EQ(out_.str(), "OK\n");
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, std::string("/ping/") + kUuid);
  EXPECT_EQ(reqs[0].body, "");
}

TEST_F(PingCommandTest, EachSignalHasItsPath) {
  const std::vector<std::pair<PingSignal, std::string>> cases = {
      {{PingSignal::Kind::kStart}, "/start"},   {{PingSignal::Kind::kFail}, "/fail"},
      {{PingSignal::Kind::kLog}, "/log"},       {{PingSignal::Kind::kExit, 0}, "/0"},
      {{PingSignal::Kind::kExit, 255}, "/255"},
  };
  for (const auto& [signal, suffix] : cases) {
    PingOptions o = Options(receiver_.url() + "/ping/" + kUuid);
    o.signal = signal;
    o.rid = base::Uuid::Parse(kRid);
    EXPECT_EQ(Run(o), 0) << suffix;
    EXPECT_EQ(receiver_.requests().back().target,
              std::string("/ping/") + kUuid + suffix + "?rid=" + kRid);
  }
}

TEST_F(PingCommandTest, SendsTheBodyFile) {
  char path[] = "/tmp/overdue-ping-body-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "disk 91% full\n", 14), 14);
  ::close(fd);
  PingOptions o = Options("key_0123456789abcdefgh/disk-check");
  o.signal = {PingSignal::Kind::kLog};
  o.body_file = path;
  EXPECT_EQ(Run(o), 0);
  std::remove(path);
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/ping/key_0123456789abcdefgh/disk-check/log");
  EXPECT_EQ(reqs[0].body, "disk 91% full\n");
}

TEST_F(PingCommandTest, ReadsTheBodyFromStdinForDash) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "from stdin", 10), 10);
  ::close(p[1]);
  PingOptions o = Options(kUuid);
  o.body_file = "-";
  o.stdin_fd = p[0];
  EXPECT_EQ(Run(o), 0);
  ::close(p[0]);
  ASSERT_EQ(receiver_.requests().size(), 1u);
  EXPECT_EQ(receiver_.requests()[0].body, "from stdin");
}

TEST_F(PingCommandTest, MissingBodyFileFailsWithoutSending) {
  PingOptions o = Options(kUuid);
  o.body_file = "/nonexistent/body.txt";
  EXPECT_EQ(Run(o), 1);
  EXPECT_THAT(err_.str(), HasSubstr("/nonexistent/body.txt: No such file"));
  EXPECT_TRUE(receiver_.requests().empty());
}

TEST_F(PingCommandTest, NonSuccessStatusExitsOneWithTheStatusOnStderr) {
  receiver_.QueueStatuses({404});
  EXPECT_EQ(Run(Options(kUuid)), 1);
  EXPECT_EQ(out_.str(), "error\n");
  EXPECT_THAT(err_.str(), HasSubstr("HTTP 404"));
}

TEST_F(PingCommandTest, RetriesServerErrors) {
  receiver_.QueueStatuses({503, 503});
  EXPECT_EQ(Run(Options(kUuid)), 0);
  EXPECT_EQ(receiver_.requests().size(), 3u);
  EXPECT_THAT(err_.str(), HasSubstr("HTTP 503; retrying"));
}

TEST_F(PingCommandTest, UnreachableServerExitsOne) {
  PingOptions o = Options(kUuid);
  o.server = "http://127.0.0.1:" + std::to_string(UnusedPort());
  o.retry.max_attempts = 2;
  EXPECT_EQ(Run(o), 1);
  EXPECT_THAT(err_.str(), HasSubstr("after 2 attempts"));
}

TEST_F(PingCommandTest, BadTargetIsAUsageError) {
  EXPECT_EQ(Run(Options("not a uuid")), 2);
  EXPECT_THAT(err_.str(), HasSubstr("must be a ping URL"));
  EXPECT_TRUE(receiver_.requests().empty());
}

}  // namespace
}  // namespace overdue::cli
