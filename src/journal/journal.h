// Journal: the single writer between the engine and the store (leader-style group commit,
// as leveldb's write path).
//
// Design note. Any thread Submit()s a unit of mutations with a completion. The writer
// thread takes everything queued so far (up to max_batch units), applies it to the Store in
// ONE transaction, then runs each unit's completion with the outcome. While a transaction
// is being committed, new units queue up and form the next batch: under load, batches grow
// and one fsync covers many check-ins; when idle, a lone check-in commits at once.
// Throughput comes from batching, not from skipping the fsync.
//
// Failure (leveldb's sticky background error): when Apply fails, the units of that batch
// are completed with kUnavailable (clients hear 503 and retry), `healthy()` turns false,
// and the mutations are kept and retried, with backoff, before anything newer — memory
// stays the index, and the store catches up when it can. Once a retry succeeds the journal
// is healthy again.
//
// Lanes. A storm of deadlines (thousands of watches going down at once) must neither hold
// check-ins back nor wait behind the bookkeeping of its own deliveries. So units come in three
// lanes, and each batch takes, in this order: every normal unit queued (check-ins, API
// changes; up to max_batch), then at most max_bulk units of the bulk lane (deadline flips:
// each may open an incident, which costs more than a check-in), then background units
// (delivery records) — at most max_background in a batch with bulk units or while they
// wait. While no normal unit has come for a while (normal_quiet), the bulk slice may grow to
// max_bulk_idle and background units fill a batch without bulk units; while normal units keep
// coming, background units are sliced too (max_background_steady), so that no commit holds a
// check-in back for long. Normal units
// that queue while a bulk slice commits go in the next commit alone (no bulk, no background):
// a check-in during a storm waits for at most the slice in progress and a small commit.
// Order per watch is kept: a normal unit for a watch that still has a bulk unit queued joins
// the bulk lane behind it (Submit's `watch`), so the store and the commit hook always see one
// watch's changes in the order they happened. Units of different watches may commit in a
// different order than submitted; nothing depends on that.
//
// Key order. The bulk lane is sliced in runs: when a run is used up, the units queued then
// (up to max_bulk_run, the oldest) become the next run, sorted by watch (stably, so one
// watch's units keep their order; later units of a watch stay behind the run). A
// slice of a storm then touches neighbouring keys of the watch-keyed tables and indexes
// (runtime, flips and incidents by watch) instead of a random page each: a 256-flip slice
// wrote ~190 WAL pages instead of ~350 (BENCHMARKS.md, "Slices in key order"). Units queued
// during a run wait for it, never for units queued after them.
//
// History pruning happens on the writer thread between batches, one watch per small
// transaction, so it never holds a check-in's commit behind a long delete.
//
// Thread-safety: Submit, healthy and stats from any thread; completions run on the
// writer thread and must not block.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/result.h"
#include "store/store.h"

namespace overdue::journal {

using Done = std::function<void(base::Status)>;

enum class Lane : uint8_t {
  kNormal,      // check-ins, API changes: the next commit
  kBulk,        // deadline flips: at most max_bulk per commit, after the normal units
  kBackground,  // delivery records: when nothing more urgent waits (and a few per commit)
};

struct JournalOptions {
  // Units per transaction at most: bounds the time one commit holds replies back.
  size_t max_batch = 4096;
  // Bulk units per transaction at most: a storm of flips commits in slices, so a check-in
  // queued behind it waits for one slice, not the whole storm.
  size_t max_bulk = 128;
  // ... and when no normal unit was submitted for normal_quiet: bigger slices write each
  // touched page once for more flips (fewer, larger commits) while nobody is held back. Not
  // much bigger: a check-in that comes all the same waits for the slice in progress (1,024
  // flips took ~0.2 s at the start of a storm; BENCHMARKS.md, "One write per commit").
  size_t max_bulk_idle = 256;
  // Bulk units sorted into one run at most (see "Key order"): bounds the sort's time under
  // the lock and its buffer when a restart's catch-up queues a flip for every watch.
  size_t max_bulk_run = 16384;
  base::Duration normal_quiet = std::chrono::milliseconds(250);
  // Background units per transaction with bulk units in it or waiting; while normal units keep
  // coming (see normal_quiet), max_background_steady; otherwise all that fit.
  size_t max_background = 32;
  size_t max_background_steady = 64;
  // Check-ins kept per watch; older ones are pruned in the background.
  int history_limit = 100;
  // First retry delay after a failed commit; doubles up to max_retry_delay.
  base::Duration retry_delay = std::chrono::milliseconds(100);
  base::Duration max_retry_delay = std::chrono::seconds(5);
};

// Runs on the writer thread around each commit. The incident desk uses it to turn the flips
// and check-ins of a batch into incident and outbox mutations of the same transaction
// (DESIGN.md, Engine: outbox), and to add its own queued changes in the order it made them.
class CommitHook {
 public:
  virtual ~CommitHook() = default;
  // `batch[first_new..]` are the mutations of units not seen before (those before are a failed
  // batch being retried, seen already). May append to `batch`.
  virtual void BeforeCommit(std::vector<store::Mutation>& batch, size_t first_new) = 0;
  // The transaction committed (ok) or failed (its mutations will be retried).
  virtual void AfterCommit(bool ok) = 0;
};

struct CommitStats {
  size_t units = 0;           // units in the batch
  size_t mutations = 0;       // mutations in the batch
  base::Duration latency{0};  // Apply() wall time
  bool ok = true;
};

class Journal {
 public:
  Journal(store::Store& store, JournalOptions options);
  ~Journal();  // Stop()
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  void Start();
  // Commits everything submitted before the call, then joins the writer.
  void Stop();

  // Queues `mutations` as one unit; `done` (may be empty) runs after the batch holding it
  // committed or failed. After Stop(), completes at once with kUnavailable. `watch`: the one
  // watch the unit changes, if any (required for kBulk; a kNormal unit of a watch with bulk
  // units queued goes behind them). `durable` (may be empty) runs once, on the writer thread,
  // when the unit's mutations are in the store: after its commit, or after the retry that
  // finally commits them (`done` has then already heard the failure).
  void Submit(std::vector<store::Mutation>&& mutations, Done done, Lane lane = Lane::kNormal,
              const base::Uuid* watch = nullptr, std::function<void()> durable = {});

  // Asks the writer to prune check-ins of `watch_id` older than the newest history_limit,
  // given its latest check-in number `n`.
  void RequestPrune(const base::Uuid& watch_id, int64_t n);

  bool healthy() const { return healthy_.load(); }
  // Whether deadline flips are queued or committing: a normal unit submitted now may wait for
  // the rest of a flip slice (the server then also writes a check-in to the CheckInLog).
  bool bulk_busy() const { return bulk_busy_.load(std::memory_order_relaxed); }
  size_t queued() const;
  // Called on the writer thread after every commit attempt (metrics).
  void SetCommitObserver(std::function<void(const CommitStats&)> observer);
  // REQUIRES: called before Start(); `hook` outlives the journal's writer.
  void SetCommitHook(CommitHook* hook) { hook_ = hook; }

 private:
  struct Unit {
    std::vector<store::Mutation> mutations;
    Done done;
    base::Uuid watch;  // bulk units: the watch, counted in bulk_watches_
    std::function<void()> durable;
  };
  struct Prune {
    base::Uuid watch_id;
    int64_t keep_from_n;
  };

  void Run();
  void PruneSome();
  bool Idle() const REQUIRES(mu_) { return queue_.empty() && bulk_.empty() && background_.empty(); }

  store::Store& store_;
  JournalOptions options_;
  std::function<void(const CommitStats&)> observer_;
  CommitHook* hook_ = nullptr;

  mutable base::Mutex mu_;
  base::CondVar cv_;
  std::deque<Unit> queue_ GUARDED_BY(mu_);  // normal lane
  std::deque<Unit> bulk_ GUARDED_BY(mu_);
  // The first bulk_run_ units of bulk_ are the run being sliced, sorted by watch.
  size_t bulk_run_ GUARDED_BY(mu_) = 0;
  std::deque<Unit> background_ GUARDED_BY(mu_);
  base::SteadyPoint last_normal_ GUARDED_BY(mu_){};  // when the last normal unit came
  // Bulk units queued per watch.
  std::unordered_map<base::Uuid, int, base::UuidHash> bulk_watches_ GUARDED_BY(mu_);
  std::deque<Prune> prunes_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool started_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;  // the writer has exited: nothing more commits

  // Writer-thread only: mutations of failed batches, retried before anything newer.
  std::vector<store::Mutation> retry_;
  std::vector<std::function<void()>> retry_durable_;  // their units' `durable`
  std::atomic<bool> bulk_busy_{false};
  std::atomic<bool> healthy_{true};
  std::thread writer_;
};

}  // namespace overdue::journal
