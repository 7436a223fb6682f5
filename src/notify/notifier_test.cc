#include "notify/notifier.h"

#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace overdue::notify {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RetryDelayTest, DoublesFromTheFirstDelayUpToTheCap) {
  NotifierOptions o;
  o.retry_delay = seconds(5);
  o.max_retry_delay = seconds(60);
  o.jitter = 0;
  EXPECT_EQ(RetryDelay(1, o, 0.5), seconds(5));
  EXPECT_EQ(RetryDelay(2, o, 0.5), seconds(10));
  EXPECT_EQ(RetryDelay(3, o, 0.5), seconds(20));
  EXPECT_EQ(RetryDelay(5, o, 0.5), seconds(60));
  EXPECT_EQ(RetryDelay(50, o, 0.5), seconds(60));
}

TEST(RetryDelayTest, JitterStaysWithinItsBoundsAndRetryAfterWins) {
  NotifierOptions o;
  o.retry_delay = seconds(10);
  o.jitter = 0.2;
  EXPECT_EQ(RetryDelay(1, o, 0.0), seconds(8));
  EXPECT_EQ(RetryDelay(1, o, 1.0), seconds(12));
  EXPECT_EQ(RetryDelay(1, o, 0.5, seconds(30)), seconds(30));
  EXPECT_EQ(RetryDelay(1, o, 0.5, seconds(1)), seconds(10));  // shorter Retry-After: ours
  o.max_retry_delay = seconds(20);
  EXPECT_EQ(RetryDelay(1, o, 0.5, std::chrono::hours(5)), seconds(20));  // capped
}

// A port on 127.0.0.1 that refuses connections: bound, never listened on.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Collects what the notifier records (the journal's part) and lets a test await it.
class Recorder {
 public:
  void Record(std::vector<store::Mutation>&& m) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& x : m) mutations_.push_back(std::move(x));
    ++records_;
    cv_.notify_all();
  }
  void WaitForRecords(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, seconds(20), [&] { return records_ >= n; }));
  }
  std::vector<store::Mutation> mutations() {
    std::lock_guard<std::mutex> lock(mu_);
    return mutations_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<store::Mutation> mutations_;
  int records_ = 0;
};

TEST(NotifierTest, RetriesWithBackoffThenMarksFailedAndRecordsEveryAttempt) {
  RefusingPort port;
  base::ManualClock clock(base::FromMicros(1'800'000'000'000'000));
  TransportOptions to;
  to.allow_private = true;
  to.timeout = seconds(5);
  Transport transport(to);
  transport.Start();
  model::Channel channel;
  channel.id = base::Uuid::Random();
  channel.kind = "webhook";
  channel.name = "hook";
  channel.config = R"({"url":"http://127.0.0.1:)" + std::to_string(port.port()) +
                   R"(/hook","method":"POST","headers":{},"secret":"0123456789abcdef0123"})";
  Recorder recorder;
  base::MetricsRegistry metrics;
  NotifierOptions no;
  no.max_attempts = 3;
  no.retry_delay = seconds(10);
  no.jitter = 0;
  Notifier notifier(
      clock, transport, no,
      [&](const base::Uuid& id) -> std::optional<model::Channel> {
        if (id == channel.id) return channel;
        return std::nullopt;
      },
      [&](std::vector<store::Mutation>&& m) { recorder.Record(std::move(m)); }, &metrics);

  model::Notification n;
  n.id = 1;
  n.incident_id = 9;
  n.channel_id = channel.id;
  n.event = "down";
  n.idempotency_key = "overdue-9-1";
  n.context = R"({"event":"down","watch":{"name":"backup"}})";
  n.next_attempt_at = clock.Now();
  notifier.Enqueue({n});
  EXPECT_EQ(notifier.pending(), 1u);

  EXPECT_EQ(notifier.Tick(), 1u);
  recorder.WaitForRecords(1);
  EXPECT_EQ(notifier.Tick(), 0u);  // the retry is not due yet
  clock.Advance(seconds(10) - milliseconds(1));
  EXPECT_EQ(notifier.Tick(), 0u);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(notifier.Tick(), 1u);
  recorder.WaitForRecords(2);
  clock.Advance(seconds(20));  // doubled
  EXPECT_EQ(notifier.Tick(), 1u);
  recorder.WaitForRecords(3);
  clock.Advance(seconds(3600));
  EXPECT_EQ(notifier.Tick(), 0u);  // max_attempts reached: no fourth
  EXPECT_EQ(notifier.pending(), 0u);

  int attempts = 0;
  int failed_entries = 0;
  std::optional<model::Notification> last;
  for (const auto& m : recorder.mutations()) {
    if (const auto* a = std::get_if<store::InsertAttempt>(&m)) {
      ++attempts;
      EXPECT_FALSE(a->ok);
      EXPECT_EQ(a->reason, "refused");
      // When the retry comes (the timeline says so): 10 s, then 20 s, then none.
      const base::Duration wait = attempts == 1 ? seconds(10) : seconds(20);
      if (attempts < 3) {
        EXPECT_EQ(a->retry_at, a->at + wait);
      } else {
        EXPECT_EQ(a->retry_at, base::TimePoint{});
      }
    } else if (const auto* u = std::get_if<store::UpdateNotificationState>(&m)) {
      last = u->notification;
    } else if (const auto* t = std::get_if<store::AppendTimeline>(&m)) {
      EXPECT_EQ(t->entry.incident_id, 9);
      if (t->entry.kind == "delivery_failed") ++failed_entries;
    }
  }
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(failed_entries, 1);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->status, model::NotificationStatus::kFailed);
  EXPECT_EQ(last->attempts, 3);
  EXPECT_NE(metrics.Render().find("overdue_notifications_failed_total 1"), std::string::npos);
  notifier.Stop();
  transport.Stop();
}

TEST(NotifierTest, UnknownChannelFailsAtOnceInsteadOfDisappearing) {
  base::ManualClock clock(base::FromMicros(1'800'000'000'000'000));
  Transport transport(TransportOptions{});
  transport.Start();
  Recorder recorder;
  Notifier notifier(
      clock, transport, NotifierOptions{},
      [](const base::Uuid&) -> std::optional<model::Channel> { return std::nullopt; },
      [&](std::vector<store::Mutation>&& m) { recorder.Record(std::move(m)); }, nullptr);
  model::Notification n;
  n.id = 2;
  n.channel_id = base::Uuid::Random();
  n.event = "down";
  n.context = "{}";
  n.next_attempt_at = clock.Now();
  notifier.Enqueue({n});
  EXPECT_EQ(notifier.Tick(), 1u);
  recorder.WaitForRecords(1);
  bool failed = false;
  for (const auto& m : recorder.mutations()) {
    if (const auto* u = std::get_if<store::UpdateNotificationState>(&m)) {
      failed = u->notification.status == model::NotificationStatus::kFailed;
      EXPECT_NE(u->notification.last_error.find("no longer exists"), std::string::npos);
    }
  }
  EXPECT_TRUE(failed);
  notifier.Stop();
  transport.Stop();
}

// The notifier checks a channel's config once and reuses it, but a changed config is used
// from the next message on: here a command channel whose command is edited from `true` to
// `exit 3`, then made invalid.
TEST(NotifierTest, AnEditedChannelIsUsedFromTheNextMessageOn) {
  base::ManualClock clock(base::FromMicros(1'800'000'000'000'000));
  Transport transport(TransportOptions{});
  transport.Start();
  Recorder recorder;
  std::mutex mu;
  model::Channel channel;
  channel.id = base::Uuid::Random();
  channel.project_id = 1;
  channel.name = "script";
  channel.kind = "command";
  channel.config = R"({"command":"true"})";
  Notifier notifier(
      clock, transport, NotifierOptions{},
      [&](const base::Uuid&) -> std::optional<model::Channel> {
        std::lock_guard<std::mutex> lock(mu);
        return channel;
      },
      [&](std::vector<store::Mutation>&& m) { recorder.Record(std::move(m)); }, nullptr);
  auto send = [&](int64_t id, int records) {
    model::Notification n;
    n.id = id;
    n.channel_id = channel.id;
    n.event = "down";
    n.context = R"({"event":"down","watch":{"name":"backup"}})";
    n.next_attempt_at = clock.Now();
    notifier.Enqueue({n});
    EXPECT_EQ(notifier.Tick(), 1u);
    recorder.WaitForRecords(records);
  };
  send(1, 1);
  send(2, 2);  // the same config again
  {
    std::lock_guard<std::mutex> lock(mu);
    channel.config = R"({"command":"exit 3"})";
  }
  send(3, 3);
  {
    std::lock_guard<std::mutex> lock(mu);
    channel.config = R"({"command":""})";
  }
  send(4, 4);
  std::map<int64_t, std::string> outcome;
  for (const auto& m : recorder.mutations()) {
    if (const auto* a = std::get_if<store::InsertAttempt>(&m)) {
      outcome[a->notification_id] = a->ok ? "ok" : a->reason + " " + a->detail;
    }
  }
  ASSERT_EQ(outcome.size(), 4u);
  EXPECT_EQ(outcome[1], "ok");
  EXPECT_EQ(outcome[2], "ok");
  EXPECT_EQ(outcome[3].rfind("command_failed", 0), 0u) << outcome[3];
  EXPECT_NE(outcome[4].find("cannot build the message: stored channel config"), std::string::npos)
      << outcome[4];
  notifier.Stop();
  transport.Stop();
}

}  // namespace
}  // namespace overdue::notify
