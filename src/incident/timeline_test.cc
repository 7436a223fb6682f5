#include "incident/timeline.h"

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace overdue::incident {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const base::TimePoint kT0 = base::FromMicros(1'800'000'000'000'000);

model::Notification Sent(int64_t id, base::TimePoint at, std::string event = "down") {
  model::Notification n;
  n.id = id;
  n.incident_id = 7;
  n.project_id = 1;
  n.channel_id = base::Uuid::Parse("5f0c0b3e-0000-4000-8000-000000000001").value();
  n.channel_name = "ops mail";
  n.channel_kind = "email";
  n.event = std::move(event);
  n.created = at;
  n.next_attempt_at = at;
  return n;
}

model::TimelineEntry Stored(base::TimePoint at, std::string kind) {
  return model::TimelineEntry{7, at, std::move(kind), "system", "", "{}"};
}

store::Attempt Tried(int64_t notification, base::TimePoint at, bool ok, std::string reason = "",
                     int code = 0, base::TimePoint retry_at = {}) {
  store::Attempt a;
  a.notification_id = notification;
  a.at = at;
  a.ok = ok;
  a.reason = std::move(reason);
  a.code = code;
  a.duration = milliseconds(12);
  a.retry_at = retry_at;
  return a;
}

std::vector<std::string> Kinds(const std::vector<model::TimelineEntry>& t) {
  std::vector<std::string> out;
  for (const auto& e : t) out.push_back(e.kind);
  return out;
}

// Stored and derived entries interleave by time; at the same instant the stored entry (the
// "opened" that caused the notification) comes first, then the notification.
TEST(MergeTimelineTest, DerivedEntriesInterleaveWithStoredOnesByTime) {
  std::vector<model::TimelineEntry> stored{Stored(kT0, "opened"),
                                           Stored(kT0 + seconds(60), "escalation"),
                                           Stored(kT0 + seconds(90), "acknowledged")};
  std::vector<model::Notification> sent{Sent(2, kT0 + seconds(60), "escalation"), Sent(1, kT0)};
  std::map<int64_t, std::vector<store::Attempt>> attempts;
  attempts[1] = {Tried(1, kT0 + milliseconds(30), true, "", 204)};
  attempts[2] = {Tried(2, kT0 + seconds(61), true, "", 200)};
  const auto t = MergeTimeline(stored, sent, attempts);
  EXPECT_EQ(Kinds(t), (std::vector<std::string>{"opened", "notification", "attempt", "escalation",
                                                "notification", "attempt", "acknowledged"}));
  EXPECT_EQ(t[1].message, "down notification to ops mail (email)");
  EXPECT_EQ(t[1].actor, "system");
  EXPECT_EQ(t[2].message, "down delivered to ops mail (204, 12 ms)");
  EXPECT_EQ(t[2].actor, "notifier");
  EXPECT_EQ(t[2].at, kT0 + milliseconds(30));
  const auto data = nlohmann::json::parse(t[4].data);
  EXPECT_EQ(data["notification"], 2);
  EXPECT_EQ(data["channel_name"], "ops mail");
  EXPECT_EQ(data["kind"], "email");
  EXPECT_EQ(data["event"], "escalation");
  EXPECT_EQ(data["channel"], "5f0c0b3e-0000-4000-8000-000000000001");
}

// Failed attempts are numbered and say why and when the next one comes; the last one says
// no retry.
TEST(MergeTimelineTest, FailedAttemptsSayWhyAndWhenTheRetryIs) {
  std::map<int64_t, std::vector<store::Attempt>> attempts;
  store::Attempt refused = Tried(1, kT0 + seconds(1), false, "5xx", 503, kT0 + seconds(3));
  refused.detail = "Service Unavailable";
  attempts[1] = {refused, Tried(1, kT0 + seconds(3), false, "timeout")};
  const auto t = MergeTimeline({}, {Sent(1, kT0)}, attempts);
  ASSERT_EQ(Kinds(t), (std::vector<std::string>{"notification", "attempt", "attempt"}));
  EXPECT_EQ(t[1].message,
            "down to ops mail: attempt 1 failed: 5xx (503): Service Unavailable (retry in 2s)");
  EXPECT_EQ(t[2].message, "down to ops mail: attempt 2 failed: timeout");
  const auto second = nlohmann::json::parse(t[2].data);
  EXPECT_EQ(second["attempt"], 2);
  EXPECT_EQ(second["ok"], false);
  EXPECT_EQ(second["reason"], "timeout");
  EXPECT_DOUBLE_EQ(second["duration_ms"].get<double>(), 12.0);
}

// A held notification has a stored "held" entry and gets no derived one; a notification
// written before schema 5 whose entry was lost names its channel by id.
TEST(MergeTimelineTest, HeldNotificationsAreNotShownTwiceAndUnnamedChannelsShowTheirId) {
  model::Notification held = Sent(1, kT0);
  held.status = model::NotificationStatus::kHeld;
  model::Notification old = Sent(2, kT0 + seconds(5));
  old.channel_name.clear();
  old.channel_kind.clear();
  const auto t = MergeTimeline({Stored(kT0, "opened"), Stored(kT0, "held")}, {held, old}, {});
  ASSERT_EQ(Kinds(t), (std::vector<std::string>{"opened", "held", "notification"}));
  EXPECT_EQ(t[2].message, "down notification to 5f0c0b3e-0000-4000-8000-000000000001 ()");
}

// Within one instant (the test clock, or one commit of the desk) a notification follows the
// entry that sent it, even when more entries share that instant.
TEST(MergeTimelineTest, AtOneInstantANotificationFollowsWhatSentIt) {
  const auto t = MergeTimeline({Stored(kT0, "opened"), Stored(kT0, "check_in"),
                                Stored(kT0, "state"), Stored(kT0, "resolved"), Stored(kT0, "note")},
                               {Sent(1, kT0), Sent(2, kT0, "recovery"), Sent(3, kT0, "test")}, {});
  EXPECT_EQ(Kinds(t),
            (std::vector<std::string>{"opened", "notification", "check_in", "state", "resolved",
                                      "notification", "note", "notification"}));
  EXPECT_EQ(t[5].message, "recovery notification to ops mail (email)");
}

}  // namespace
}  // namespace overdue::incident
