// DeadlineWheel: a hashed timing wheel holding at most one deadline per id.
//
// Design note. Ids are small dense integers (a shard's slot indices). Each id has a node
// {at, prev, next} in a vector indexed by id, linked into the bucket (at / tick) % kBuckets.
// Schedule and Cancel are O(1): unlink + link. Advance(now) walks the buckets of the ticks
// that passed; an entry whose deadline is still in the future (a later revolution) stays.
// With N entries spread over kBuckets buckets, a tick visits about N / kBuckets nodes, so
// cost does not grow with the deadlines' distance and each check-in costs O(1). When more
// than a full revolution passed (a ManualClock jump, a process stall), one sweep over every
// bucket replaces the per-tick walk, so a jump of days costs O(N), not O(days / tick).
//
// Not thread-safe: owned by one engine shard and used under its lock.
// Memory: 16 bytes per id ever scheduled + 4 bytes per bucket.
#pragma once

#include <cstdint>
#include <vector>

#include "base/time.h"

namespace overdue::engine {

class DeadlineWheel {
 public:
  // `tick`: resolution; a deadline is reported by the first Advance(now >= deadline).
  // `start`: the time from which Advance walks.
  DeadlineWheel(base::Duration tick, base::TimePoint start);

  // Sets (or moves) id's deadline. at == kNever cancels. A deadline before the last
  // Advance is kept as "due now" (DeadlineOf reports the clamped time).
  void Schedule(uint32_t id, base::TimePoint at);
  void Cancel(uint32_t id);
  bool Scheduled(uint32_t id) const;
  base::TimePoint DeadlineOf(uint32_t id) const;  // kNever if none
  size_t size() const { return size_; }

  // Removes every entry with deadline <= now and appends its id to `expired`, earliest
  // ticks first. Deadlines are not sorted within one tick.
  void Advance(base::TimePoint now, std::vector<uint32_t>* expired);

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  // 4096 buckets x 10 ms = a 41 s revolution: a bucket holds ~N/4096 entries.
  static constexpr uint32_t kBuckets = 4096;

  struct Node {
    int64_t at_us = INT64_MAX;  // INT64_MAX: not scheduled
    uint32_t prev = kNil;
    uint32_t next = kNil;
  };

  uint32_t BucketOf(int64_t at_us) const;
  void Link(uint32_t id);
  void Unlink(uint32_t id);
  void CollectBucket(uint32_t bucket, int64_t now_us, std::vector<uint32_t>* expired);

  int64_t tick_us_;
  int64_t last_tick_;  // the last tick number whose bucket was walked
  std::vector<Node> nodes_;
  std::vector<uint32_t> heads_;
  size_t size_ = 0;
};

}  // namespace overdue::engine
