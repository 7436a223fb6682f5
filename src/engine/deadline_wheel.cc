#include "engine/deadline_wheel.h"

#include <algorithm>

#include "base/check.h"

namespace overdue::engine {

DeadlineWheel::DeadlineWheel(base::Duration tick, base::TimePoint start)
    : tick_us_(tick.count()), heads_(kBuckets, kNil) {
  OVERDUE_CHECK(tick_us_ > 0);
  last_tick_ = base::ToMicros(start) / tick_us_;
}

uint32_t DeadlineWheel::BucketOf(int64_t at_us) const {
  return static_cast<uint32_t>(static_cast<uint64_t>(at_us / tick_us_) % kBuckets);
}

bool DeadlineWheel::Scheduled(uint32_t id) const {
  return id < nodes_.size() && nodes_[id].at_us != INT64_MAX;
}

base::TimePoint DeadlineWheel::DeadlineOf(uint32_t id) const {
  return Scheduled(id) ? base::FromMicros(nodes_[id].at_us) : base::kNever;
}

void DeadlineWheel::Link(uint32_t id) {
  Node& n = nodes_[id];
  uint32_t& head = heads_[BucketOf(n.at_us)];
  n.prev = kNil;
  n.next = head;
  if (head != kNil) nodes_[head].prev = id;
  head = id;
  ++size_;
}

void DeadlineWheel::Unlink(uint32_t id) {
  Node& n = nodes_[id];
  if (n.prev != kNil) {
    nodes_[n.prev].next = n.next;
  } else {
    heads_[BucketOf(n.at_us)] = n.next;
  }
  if (n.next != kNil) nodes_[n.next].prev = n.prev;
  n.prev = n.next = kNil;
  n.at_us = INT64_MAX;
  --size_;
}

void DeadlineWheel::Schedule(uint32_t id, base::TimePoint at) {
  if (id >= nodes_.size()) nodes_.resize(static_cast<size_t>(id) + 1);
  if (Scheduled(id)) Unlink(id);
  if (at == base::kNever) return;
  // A deadline already in the past goes into the current tick's bucket (walked again by the
  // next Advance) rather than into a walked bucket that comes round only a revolution later.
  nodes_[id].at_us = std::max(base::ToMicros(at), last_tick_ * tick_us_);
  Link(id);
}

void DeadlineWheel::Cancel(uint32_t id) {
  if (Scheduled(id)) Unlink(id);
}

void DeadlineWheel::CollectBucket(uint32_t bucket, int64_t now_us, std::vector<uint32_t>* expired) {
  uint32_t id = heads_[bucket];
  while (id != kNil) {
    const uint32_t next = nodes_[id].next;
    if (nodes_[id].at_us <= now_us) {
      Unlink(id);
      expired->push_back(id);
    }
    id = next;
  }
}

void DeadlineWheel::Advance(base::TimePoint now, std::vector<uint32_t>* expired) {
  const int64_t now_us = base::ToMicros(now);
  const int64_t now_tick = now_us / tick_us_;
  if (now_tick < last_tick_) return;  // the wall clock stepped back: wait for it to catch up
  if (now_tick - last_tick_ >= static_cast<int64_t>(kBuckets)) {
    for (uint32_t b = 0; b < kBuckets; ++b) CollectBucket(b, now_us, expired);
  } else {
    // Re-walk the current tick's bucket too: deadlines scheduled into it after the last
    // walk (earlier in the same tick) must not wait a whole revolution.
    for (int64_t t = last_tick_; t <= now_tick; ++t) {
      CollectBucket(static_cast<uint32_t>(static_cast<uint64_t>(t) % kBuckets), now_us, expired);
    }
  }
  last_tick_ = now_tick;
}

}  // namespace overdue::engine
