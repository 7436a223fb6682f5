#include "cli/ping_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/test_receiver.h"
#include "cli/version.h"

namespace overdue::cli {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kUuid = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10";
constexpr const char* kRid = "0b8f7c47-6f6e-4a51-9d2c-5a0e3c2b1a09";

RetryPolicy FastRetry() {
  RetryPolicy p;
  p.first_delay = milliseconds(10);
  p.max_total = std::chrono::seconds(5);
  return p;
}

TEST(PingUrlTest, AppendsSignalAndRid) {
  const std::string base = std::string("http://h/ping/") + kUuid;
  EXPECT_EQ(PingUrl(base, {}, std::nullopt), base);
  EXPECT_EQ(PingUrl(base + "/", {PingSignal::Kind::kStart}, std::nullopt), base + "/start");
  EXPECT_EQ(PingUrl(base, {PingSignal::Kind::kFail}, std::nullopt), base + "/fail");
  EXPECT_EQ(PingUrl(base, {PingSignal::Kind::kLog}, std::nullopt), base + "/log");
  EXPECT_EQ(PingUrl(base, {PingSignal::Kind::kExit, 3}, base::Uuid::Parse(kRid)),
            base + "/3?rid=" + kRid);
}

TEST(PingUrlTest, KeepsAnExistingQueryAfterThePath) {
  EXPECT_EQ(PingUrl("https://h/ping/key/my-job?create=1", {PingSignal::Kind::kStart},
                    base::Uuid::Parse(kRid)),
            std::string("https://h/ping/key/my-job/start?create=1&rid=") + kRid);
  EXPECT_EQ(PingUrl("https://h/ping/key/my-job#frag", {PingSignal::Kind::kExit, 0}, std::nullopt),
            "https://h/ping/key/my-job/0");
}

TEST(ResolvePingTargetTest, UrlsAreUsedAsTheyAre) {
  auto r = ResolvePingTarget("https://hc-ping.com/abc", "http://ignored");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "https://hc-ping.com/abc");
}

TEST(ResolvePingTargetTest, UuidAndKeySlugGoToTheServer) {
  auto r = ResolvePingTarget(kUuid, "http://127.0.0.1:9/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), std::string("http://127.0.0.1:9/ping/") + kUuid);
  r = ResolvePingTarget("AbC-_0123456789abcdefgh/nightly-backup", "http://s");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "http://s/ping/AbC-_0123456789abcdefgh/nightly-backup");
}

TEST(ResolvePingTargetTest, RejectsWhatIsNoPingTarget) {
  for (const char* bad : {"", "hello", "key/Slug", "/slug", "key/", "ftp://x", "a b/c"}) {
    auto r = ResolvePingTarget(bad, "http://s");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("must be a ping URL")) << bad;
  }
  auto r = ResolvePingTarget(kUuid, "127.0.0.1:8000");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, StartsWith("server: "));
}

TEST(SendPingTest, PostsTheBodyWithUserAgent) {
  TestReceiver receiver;
  auto r = SendPing(receiver.url() + "/ping/x/log", "hello\nworld", FastRetry());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "OK");
  EXPECT_EQ(r->attempts, 1);
  auto reqs = receiver.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/ping/x/log");
  EXPECT_EQ(reqs[0].body, "hello\nworld");
  EXPECT_EQ(reqs[0].headers["user-agent"], std::string("overdue/") + Version());
  EXPECT_THAT(reqs[0].headers["content-type"], StartsWith("text/plain"));
}

TEST(SendPingTest, RetriesServerErrorsUntilSuccess) {
  TestReceiver receiver;
  receiver.QueueStatuses({503, 503});
  std::vector<std::string> reasons;
  auto r = SendPing(receiver.url() + "/ping/x", "", FastRetry(),
                    [&](const std::string& why, base::Duration) { reasons.push_back(why); });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->attempts, 3);
  EXPECT_EQ(receiver.requests().size(), 3u);
  EXPECT_EQ(reasons, (std::vector<std::string>{"HTTP 503", "HTTP 503"}));
}

TEST(SendPingTest, ClientErrorsAreNotRetried) {
  TestReceiver receiver;
  receiver.QueueStatuses({404});
  auto r = SendPing(receiver.url() + "/ping/x", "", FastRetry());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST(SendPingTest, GivesUpAfterMaxAttemptsWithTheLastStatus) {
  TestReceiver receiver;
  receiver.QueueStatuses({500, 500, 500, 500, 500, 500});
  RetryPolicy p = FastRetry();
  p.max_attempts = 3;
  auto r = SendPing(receiver.url() + "/ping/x", "", p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(receiver.requests().size(), 3u);
}

TEST(SendPingTest, UnreachableServerIsUnavailableAfterRetries) {
  std::vector<std::string> reasons;
  auto r = SendPing("http://127.0.0.1:" + std::to_string(UnusedPort()) + "/ping/x", "", FastRetry(),
                    [&](const std::string& why, base::Duration) { reasons.push_back(why); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, HasSubstr("after 5 attempts"));
  EXPECT_EQ(reasons.size(), 4u);
}

TEST(SendPingTest, StopsRetryingWithinTheTotalBudget) {
  RetryPolicy p;
  p.first_delay = milliseconds(300);
  p.max_total = milliseconds(500);
  const auto start = std::chrono::steady_clock::now();
  auto r = SendPing("http://127.0.0.1:" + std::to_string(UnusedPort()) + "/", "", p);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
  EXPECT_THAT(r.error().message, HasSubstr("attempt"));
}

TEST(SendPingTest, ReadsThePingBodyLimitHeader) {
  TestReceiver receiver;
  receiver.SetPingBodyLimit(1234);
  auto r = SendPing(receiver.url() + "/ping/x", "", FastRetry());
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->ping_body_limit.has_value());
  EXPECT_EQ(*r->ping_body_limit, 1234u);
}

}  // namespace
}  // namespace overdue::cli
