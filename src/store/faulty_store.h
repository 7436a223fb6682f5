// FaultyStore: a Store that forwards to another and fails or slows down on command, for
// testing the journal and the server against a failing disk through the production seam.
// Controls may be called from any thread while the store is in use. Only Apply fails or
// slows down; every read forwards unchanged.
#pragma once

#include <atomic>
#include <chrono>

#include "store/store.h"

namespace overdue::store {

class FaultyStore final : public Store {
 public:
  explicit FaultyStore(Store& inner) : inner_(inner) {}

  // After `n` more successful Apply calls, every Apply fails with kUnavailable (and writes
  // nothing) until Heal(). n = 0: the very next one fails.
  void FailApplyAfter(int n) { fail_after_.store(n); }
  void Heal() { fail_after_.store(-1); }
  // Every Apply waits this long first (a slow disk).
  void SetApplyDelay(std::chrono::milliseconds d) { delay_ms_.store(d.count()); }

  int64_t applies() const { return applies_.load(); }
  int64_t failed_applies() const { return failed_.load(); }

  Status Apply(const std::vector<Mutation>& batch) override;
  Result<std::vector<Project>> LoadProjects() override { return inner_.LoadProjects(); }
  Result<std::vector<ApiKey>> LoadApiKeys() override { return inner_.LoadApiKeys(); }
  Status LoadWatches(const std::function<void(model::Watch&&)>& visit) override {
    return inner_.LoadWatches(visit);
  }
  Result<std::optional<model::Watch>> GetWatch(const Uuid& id) override {
    return inner_.GetWatch(id);
  }
  Result<int64_t> CountWatches(int64_t project_id) override {
    return inner_.CountWatches(project_id);
  }
  Result<std::vector<model::Watch>> ListWatches(int64_t project_id) override {
    return inner_.ListWatches(project_id);
  }
  Result<std::vector<model::CheckIn>> ListCheckIns(const Uuid& watch_id, size_t limit,
                                                   bool with_bodies) override {
    return inner_.ListCheckIns(watch_id, limit, with_bodies);
  }
  Result<std::optional<model::CheckIn>> GetCheckIn(const Uuid& watch_id, int64_t n) override {
    return inner_.GetCheckIn(watch_id, n);
  }
  Result<std::vector<model::Flip>> ListFlips(const Uuid& watch_id, TimePoint since,
                                             size_t limit) override {
    return inner_.ListFlips(watch_id, since, limit);
  }
  Result<int64_t> PruneCheckIns(const Uuid& watch_id, int64_t keep_from_n) override {
    return inner_.PruneCheckIns(watch_id, keep_from_n);
  }
  int64_t WalPages() const override { return inner_.WalPages(); }
  Result<std::optional<std::string>> GetMeta(const std::string& key) override {
    return inner_.GetMeta(key);
  }
  Result<std::vector<model::Channel>> LoadChannels() override { return inner_.LoadChannels(); }
  Result<std::vector<model::Policy>> LoadPolicies() override { return inner_.LoadPolicies(); }
  Result<std::vector<model::Silence>> LoadSilences() override { return inner_.LoadSilences(); }
  Result<std::vector<model::Incident>> LoadActiveIncidents() override {
    return inner_.LoadActiveIncidents();
  }
  Result<std::vector<model::Notification>> LoadPendingNotifications() override {
    return inner_.LoadPendingNotifications();
  }
  Result<std::optional<model::Incident>> GetIncident(int64_t id) override {
    return inner_.GetIncident(id);
  }
  Result<std::vector<model::Incident>> ListIncidents(const IncidentFilter& filter) override {
    return inner_.ListIncidents(filter);
  }
  Result<std::vector<model::TimelineEntry>> ListTimeline(int64_t incident_id) override {
    return inner_.ListTimeline(incident_id);
  }
  Result<std::vector<model::Notification>> ListNotifications(
      const NotificationFilter& filter) override {
    return inner_.ListNotifications(filter);
  }
  Result<std::vector<Attempt>> ListAttempts(int64_t notification_id) override {
    return inner_.ListAttempts(notification_id);
  }
  Result<std::pair<int64_t, int64_t>> MaxIncidentAndNotificationIds() override {
    return inner_.MaxIncidentAndNotificationIds();
  }

 private:
  Store& inner_;
  std::atomic<int> fail_after_{-1};  // -1: healthy
  std::atomic<int64_t> delay_ms_{0};
  std::atomic<int64_t> applies_{0};
  std::atomic<int64_t> failed_{0};
};

}  // namespace overdue::store
