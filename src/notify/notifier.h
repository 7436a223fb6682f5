// Notifier: delivers the outbox. Receives committed pending notifications (from the incident
// desk after each commit, and from the store at start-up), sends each through the Transport
// when due, records every attempt (an attempts row and the outbox row's new state, from which
// the incident's timeline derives its entry; through `record`, i.e. the journal), and retries
// failures with exponential backoff and jitter up to max_attempts. A notification that finally
// fails is marked failed, shown on the incident and counted in /metrics; none is ever dropped
// silently.
//
// At-least-once: a notification is marked delivered only after the receiver accepted it, so
// a crash between the attempt and that record sends it again after restart with the same
// Idempotency-Key (the receiver drops the duplicate). In one process the claim is the
// in-memory queue; cluster mode will claim outbox rows with a lease in the store.
//
// Thread-safety: every public method from any thread. Transport completions run on the
// transport thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "model/incident.h"
#include "notify/transport.h"
#include "store/store.h"

namespace overdue::notify {

struct NotifierOptions {
  int max_attempts = 8;
  base::Duration retry_delay = std::chrono::seconds(5);  // before the 2nd attempt; doubles
  base::Duration max_retry_delay = std::chrono::minutes(10);
  double jitter = 0.2;  // each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
};

// The delay before attempt `attempt + 1` after `attempt` failed (attempt >= 1), with `unit`
// a random number in [0, 1) for the jitter. A Retry-After longer than that wins.
base::Duration RetryDelay(int attempt, const NotifierOptions& options, double unit,
                          std::optional<base::Duration> retry_after = std::nullopt);

class Notifier {
 public:
  using ChannelLookup = std::function<std::optional<model::Channel>(const base::Uuid&)>;
  using Record = std::function<void(std::vector<store::Mutation>&&)>;

  Notifier(const base::Clock& clock, Transport& transport, NotifierOptions options,
           ChannelLookup channels, Record record, base::MetricsRegistry* metrics);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Pending notifications, committed; each is attempted at its next_attempt_at.
  void Enqueue(std::vector<model::Notification> notifications);
  // Starts every attempt due at Clock::Now(). Returns how many started.
  size_t Tick();
  // Stops recording outcomes (attempts cut short by shutdown stay pending in the store and
  // are resumed on restart). Call before stopping the transport.
  void Stop();

  size_t pending() const;  // queued or in flight
  // The oldest next_attempt_at among queued notifications (kNever if none): the auditor
  // checks the outbox drains.
  base::TimePoint OldestDue() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace overdue::notify
