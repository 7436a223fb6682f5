#include "store/faulty_store.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "store/sqlite/sqlite_store.h"

namespace overdue::store {
namespace {

TEST(FaultyStoreTest, FailsAfterNThenHeals) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("faulty_store_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    auto inner = OpenSqlite(SqliteOptions{(dir / "f.db").string(), false});
    ASSERT_TRUE(inner.ok());
    FaultyStore f(*inner.value());
    f.FailApplyAfter(1);
    EXPECT_TRUE(f.Apply({SetMeta{"a", "1"}}).ok());
    EXPECT_FALSE(f.Apply({SetMeta{"b", "2"}}).ok());
    EXPECT_FALSE(f.Apply({SetMeta{"c", "3"}}).ok());
    EXPECT_EQ(f.failed_applies(), 2);
    EXPECT_FALSE(f.GetMeta("b").value());  // a failed Apply wrote nothing
    f.Heal();
    EXPECT_TRUE(f.Apply({SetMeta{"d", "4"}}).ok());
    EXPECT_EQ(f.GetMeta("d").value(), std::optional<std::string>("4"));
    EXPECT_EQ(f.applies(), 4);
  }
  std::filesystem::remove_all(dir);
}

// Every read of incidents, escalation and the outbox reaches the inner store; a failed Apply
// of those mutations writes none of them.
TEST(FaultyStoreTest, ForwardsIncidentReadsAndFailsIncidentBatchesWhole) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("faulty_store_incidents_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    auto inner = OpenSqlite(SqliteOptions{(dir / "f.db").string(), false});
    ASSERT_TRUE(inner.ok());
    FaultyStore f(*inner.value());

    model::Channel c;
    c.id = base::Uuid::Random();
    c.project_id = 1;
    c.name = "pager";
    model::Policy p;
    p.id = base::Uuid::Random();
    p.project_id = 1;
    model::Silence x;
    x.id = base::Uuid::Random();
    x.project_id = 1;
    model::Incident inc;
    inc.id = 3;
    inc.project_id = 1;
    model::Notification n;
    n.id = 4;
    n.incident_id = 3;
    n.project_id = 1;
    const std::vector<Mutation> batch{UpsertChannel{c},
                                      UpsertPolicy{p},
                                      UpsertSilence{x},
                                      UpsertIncident{inc},
                                      AppendTimeline{{3, {}, "opened", "system", "", "{}"}},
                                      UpsertNotification{n},
                                      InsertAttempt{4, {}, true, "", 200, "", {}}};

    f.FailApplyAfter(0);
    EXPECT_FALSE(f.Apply(batch).ok());
    EXPECT_TRUE(f.LoadChannels().value().empty());
    EXPECT_FALSE(f.GetIncident(3).value());
    EXPECT_EQ(f.MaxIncidentAndNotificationIds().value(), std::make_pair(int64_t{0}, int64_t{0}));

    f.Heal();
    ASSERT_TRUE(f.Apply(batch).ok());
    EXPECT_EQ(f.LoadChannels().value().size(), 1u);
    EXPECT_EQ(f.LoadPolicies().value().size(), 1u);
    EXPECT_EQ(f.LoadSilences().value().size(), 1u);
    EXPECT_EQ(f.LoadActiveIncidents().value().size(), 1u);
    EXPECT_EQ(f.LoadPendingNotifications().value().size(), 1u);
    EXPECT_TRUE(f.GetIncident(3).value());
    IncidentFilter incidents;
    incidents.project_id = 1;
    EXPECT_EQ(f.ListIncidents(incidents).value().size(), 1u);
    EXPECT_EQ(f.ListTimeline(3).value().size(), 1u);
    NotificationFilter notifications;
    notifications.project_id = 1;
    notifications.incident_id = 3;
    EXPECT_EQ(f.ListNotifications(notifications).value().size(), 1u);
    EXPECT_EQ(f.ListAttempts(4).value().size(), 1u);
    EXPECT_EQ(f.MaxIncidentAndNotificationIds().value(), std::make_pair(int64_t{3}, int64_t{4}));
    EXPECT_EQ(f.failed_applies(), 1);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace overdue::store
