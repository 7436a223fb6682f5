// ChangeRecorder: the engine's EventSink. Turns each engine::Change into one journal unit
// (in the order the engine recorded them, since Record runs under the watch's shard lock),
// and decides which lane it takes and when its client hears "OK".
//
// Lanes: a deadline's flip (nobody waits for it) may open an incident, so it goes in the bulk
// lane and a storm of them commits in slices between check-ins; everything else of a watch is
// normal, and the journal keeps it behind the watch's own queued flip.
//
// The check-in log (optional): while flips are queued or committing (Journal::bulk_busy), a
// plain check-in — no state change, no spec, and not a fail signal, so that the incident desk
// has nothing to do for it that a replay would miss — is also appended to the CheckInLog, and
// its client hears "OK" as soon as either the log or the store has it (the first success;
// an error only when both failed). Outside storms nothing changes: the reply follows the
// store's commit, so an API read after the reply sees the check-in.
//
// Backpressure: at most `max_log_outstanding` logged check-ins may wait for the store; beyond
// that, check-ins wait for the store's commit again. Waiting for the commit is what slows a
// flood of check-ins down while flips commit: without the bound, a full-speed load answered
// from the log put ~50,000 check-ins in the journal during a storm, which go before the flips,
// and the first notification came 3 s after the deadline instead of 1.3 s (BENCHMARKS.md,
// "The check-in log"; with 256, 1.9 s). 32 covers a moderate rate (~900 check-ins/s from 16
// clients) during a storm.
//
// Thread-safety: Record from any thread (the engine calls it under a shard lock; it never
// blocks beyond the journal's and the log's queue locks).
#pragma once

#include <cstdint>
#include <functional>

#include "base/metrics.h"
#include "engine/engine.h"
#include "journal/checkin_log.h"
#include "journal/journal.h"

namespace overdue::server {

class ChangeRecorder final : public engine::EventSink {
 public:
  static constexpr int64_t kMaxLogOutstanding = 32;

  // `log` may be null (durability=relaxed: no log). Counters may be null.
  ChangeRecorder(journal::Journal& journal, journal::CheckInLog* log, int history_limit,
                 int64_t max_log_outstanding = kMaxLogOutstanding, base::Counter* logged = nullptr);

  // `prefetch` is told the watch of every deadline flip before it is queued (the incident
  // desk reads what it needs about the watch ahead of the commit). REQUIRES: before Start.
  void SetPrefetch(std::function<void(const base::Uuid&)> prefetch) {
    prefetch_ = std::move(prefetch);
  }

  void Record(engine::Change&& change, engine::Done done) override;

 private:
  journal::Journal& journal_;
  journal::CheckInLog* log_;
  std::function<void(const base::Uuid&)> prefetch_;
  int history_limit_;
  int prune_every_;
  int64_t max_log_outstanding_;
  base::Counter* logged_;
};

}  // namespace overdue::server
