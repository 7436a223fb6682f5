#include "journal/journal.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include <spdlog/spdlog.h>

#include "base/thread_name.h"

namespace overdue::journal {

Journal::Journal(store::Store& store, JournalOptions options) : store_(store), options_(options) {}

Journal::~Journal() { Stop(); }

void Journal::Start() {
  base::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  writer_ = std::thread([this] {
    base::NameThisThread("od-journal");
    Run();
  });
}

void Journal::Stop() {
  {
    base::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.SignalAll();
  }
  if (writer_.joinable()) writer_.join();
  base::MutexLock lock(&mu_);
  stopped_ = true;
}

void Journal::SetCommitObserver(std::function<void(const CommitStats&)> observer) {
  observer_ = std::move(observer);
}

size_t Journal::queued() const {
  base::MutexLock lock(&mu_);
  return queue_.size() + bulk_.size() + background_.size();
}

void Journal::Submit(std::vector<store::Mutation>&& mutations, Done done, Lane lane,
                     const base::Uuid* watch, std::function<void()> durable) {
  bool fail_now = false;
  {
    base::MutexLock lock(&mu_);
    if (stopped_) {
      fail_now = true;
    } else {
      // While the store is failing, the change is still queued (to be made durable when it
      // recovers) but the client is told at once that it is not durable yet.
      const bool degraded = !healthy_.load();
      Unit unit{std::move(mutations), degraded ? Done{} : std::move(done), {}, std::move(durable)};
      if (lane == Lane::kNormal && watch && !bulk_watches_.empty() && bulk_watches_.count(*watch)) {
        lane = Lane::kBulk;  // behind the watch's earlier changes
      }
      if (lane == Lane::kBulk && watch) {
        unit.watch = *watch;
        ++bulk_watches_[*watch];
        bulk_.push_back(std::move(unit));
        bulk_busy_.store(true, std::memory_order_relaxed);
      } else if (lane == Lane::kBackground) {
        background_.push_back(std::move(unit));
      } else {
        queue_.push_back(std::move(unit));
        last_normal_ = std::chrono::steady_clock::now();
      }
      if (degraded) fail_now = true;
      cv_.Signal();
    }
  }
  if (fail_now && done) done(base::Unavailable("store unavailable: check-in not durable"));
}

void Journal::RequestPrune(const base::Uuid& watch_id, int64_t n) {
  const int64_t keep_from = n - options_.history_limit + 1;
  if (keep_from <= 1) return;
  base::MutexLock lock(&mu_);
  prunes_.push_back(Prune{watch_id, keep_from});
  cv_.Signal();
}

void Journal::PruneSome() {
  // A few watches per pass: each is its own small transaction, and a waiting batch of
  // check-ins goes next.
  constexpr int kPrunesPerPass = 16;
  for (int i = 0; i < kPrunesPerPass; ++i) {
    Prune p;
    {
      base::MutexLock lock(&mu_);
      if (prunes_.empty() || !Idle()) return;
      p = prunes_.front();
      prunes_.pop_front();
    }
    auto removed = store_.PruneCheckIns(p.watch_id, p.keep_from_n);
    if (!removed.ok()) {
      spdlog::warn("journal: pruning history of {} failed: {}", p.watch_id.ToString(),
                   removed.error().message);
      return;
    }
  }
}

void Journal::Run() {
  std::vector<Unit> units;
  std::vector<store::Mutation> batch;
  base::Duration backoff = options_.retry_delay;
  bool last_had_bulk = false;
  while (true) {
    units.clear();
    {
      base::MutexLock lock(&mu_);
      while (Idle() && retry_.empty() && prunes_.empty() && !stopping_) cv_.Wait(&mu_);
      if (stopping_ && Idle() && (retry_.empty() || healthy_.load())) break;
      // Normal units that queued while a bulk slice was committing go next, alone: a
      // check-in waits for at most the slice in progress and a small commit of its own, not
      // for a second slice.
      const bool normal_only = last_had_bulk && !queue_.empty();
      const size_t take = std::min(queue_.size(), options_.max_batch);
      for (size_t i = 0; i < take; ++i) {
        units.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      const bool quiet =
          units.empty() && std::chrono::steady_clock::now() - last_normal_ >= options_.normal_quiet;
      size_t bulk =
          normal_only
              ? 0
              : std::min(bulk_.size(), quiet ? std::max(options_.max_bulk, options_.max_bulk_idle)
                                             : options_.max_bulk);
      if (bulk > 0 && bulk_run_ == 0) {
        // A new run: the oldest units queued, in key order (stable: one watch's units keep
        // their order). Units after it form later runs, so none waits behind newer ones.
        bulk_run_ = std::min(bulk_.size(), std::max<size_t>(options_.max_bulk_run, 1));
        std::stable_sort(bulk_.begin(), bulk_.begin() + static_cast<std::ptrdiff_t>(bulk_run_),
                         [](const Unit& a, const Unit& b) { return a.watch < b.watch; });
      }
      bulk = std::min(bulk, bulk_run_);
      bulk_run_ -= bulk;
      last_had_bulk = bulk > 0;
      bulk_busy_.store(bulk > 0 || bulk_.size() > bulk, std::memory_order_relaxed);
      for (size_t i = 0; i < bulk; ++i) {
        Unit& u = bulk_.front();
        auto it = bulk_watches_.find(u.watch);
        if (it != bulk_watches_.end() && --it->second <= 0) bulk_watches_.erase(it);
        units.push_back(std::move(u));
        bulk_.pop_front();
      }
      const size_t room = options_.max_batch - std::min(options_.max_batch, units.size());
      // A commit with bulk units takes few background units, the lane's last slice too: the
      // incidents it opens are not held back by a pile of delivery records, which go next.
      const size_t background = std::min({normal_only ? 0 : background_.size(), room,
                                          bulk > 0 || !bulk_.empty() ? options_.max_background
                                          : quiet                    ? options_.max_batch
                                                  : options_.max_background_steady});
      for (size_t i = 0; i < background; ++i) {
        units.push_back(std::move(background_.front()));
        background_.pop_front();
      }
    }
    if (units.empty() && retry_.empty()) {
      PruneSome();
      continue;
    }

    batch.clear();
    // Failed mutations first: they happened before anything queued since.
    for (auto& m : retry_) batch.push_back(std::move(m));
    retry_.clear();
    const size_t first_new = batch.size();
    for (auto& u : units) {
      for (auto& m : u.mutations) batch.push_back(std::move(m));
    }
    if (hook_) hook_->BeforeCommit(batch, first_new);
    const base::SteadyPoint t0 = std::chrono::steady_clock::now();
    base::Status st = store_.Apply(batch);
    const auto latency =
        std::chrono::duration_cast<base::Duration>(std::chrono::steady_clock::now() - t0);
    if (observer_) observer_(CommitStats{units.size(), batch.size(), latency, st.ok()});
    if (hook_) hook_->AfterCommit(st.ok());

    if (st.ok()) {
      if (!healthy_.load()) spdlog::info("journal: store writable again");
      healthy_.store(true);
      backoff = options_.retry_delay;
      for (auto& d : retry_durable_) d();
      retry_durable_.clear();
      for (auto& u : units) {
        if (u.durable) u.durable();
      }
    } else {
      if (healthy_.load()) spdlog::error("journal: commit failed: {}", st.error().message);
      healthy_.store(false);
      retry_ = std::move(batch);
      batch = {};
      for (auto& u : units) {
        if (u.durable) retry_durable_.push_back(std::move(u.durable));
      }
    }
    for (auto& u : units) {
      if (u.done) u.done(st);
    }
    if (last_had_bulk) {
      base::MutexLock lock(&mu_);
      if (bulk_.empty()) bulk_busy_.store(false, std::memory_order_relaxed);
    }
    if (!st.ok()) {
      base::MutexLock lock(&mu_);
      // Back off before retrying, but wake for Stop (which then gives up on the store).
      if (!stopping_) cv_.WaitFor(&mu_, backoff);
      if (stopping_ && !healthy_.load()) {
        spdlog::error("journal: stopping with {} uncommitted mutations (store unavailable)",
                      retry_.size());
        break;
      }
      backoff = std::min(backoff * 2, options_.max_retry_delay);
      continue;
    }
    PruneSome();
  }
}

}  // namespace overdue::journal
