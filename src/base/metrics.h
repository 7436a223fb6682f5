// MetricsRegistry: the server's Prometheus metrics (counters, gauges, histograms and gauges
// read at render time) and their text exposition (format 0.0.4), served on /metrics.
//
// Ownership: the registry owns every metric; the references it hands out stay valid for the
// registry's lifetime (metrics are never removed). Threading: creating metrics and Render()
// are thread-safe (one mutex); updating a metric (Inc/Set/Add/Observe) takes no lock and is
// safe from any number of threads. Values are read with relaxed atomics, so a render taken
// while updates run sees each value at some recent point, not one consistent snapshot.
//
// Cost: Counter::Inc is one relaxed atomic add on a cache line chosen per thread (a few ns
// uncontended, and threads on different stripes never bounce a line); Histogram::Observe is
// a binary search over its bounds plus two atomic adds.
//
// Names and label names are chosen by our code, not by users: an invalid one, or one name
// registered with two types, is a programming error (OVERDUE_CHECK). Label values may be
// anything; they are escaped on output.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace overdue::base {

// Label name/value pairs, printed in the given order.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count. Striped: each thread adds to one of kStripes cache lines
// and Value() sums them, so check-in threads do not contend on one line.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Inc(uint64_t n = 1);
  uint64_t Value() const;

 private:
  // Enough stripes that the I/O threads of a small server rarely share one; each costs a
  // cache line, and a server has a few dozen counters.
  static constexpr size_t kStripes = 8;
  struct alignas(64) Stripe {
    std::atomic<uint64_t> v{0};
  };
  std::array<Stripe, kStripes> stripes_;
};

// A value that goes up and down.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Counts observations into fixed buckets. A bucket with upper bound `le` counts observations
// v <= le (Prometheus semantics); the +Inf bucket is implicit. NaN counts only in +Inf.
class Histogram {
 public:
  // `bounds` are the finite upper bounds; they are sorted and de-duplicated here, and
  // infinite or NaN ones dropped (+Inf is always present).
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;        // finite upper bounds, ascending
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries; the last is +Inf == count
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  // Per-bucket (not cumulative) counts, bounds_.size() + 1 of them (the last is +Inf).
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // `name` e.g. "overdue_checkins_total"; `labels` e.g. {{"signal", "success"}}. The same
  // name with different labels is one family (HELP and TYPE printed once, with the first
  // help given). Adding the same name and labels again returns the existing metric (a
  // histogram keeps its first buckets).
  Counter& AddCounter(std::string name, std::string help, Labels labels = {});
  Gauge& AddGauge(std::string name, std::string help, Labels labels = {});
  Histogram& AddHistogram(std::string name, std::string help, std::vector<double> buckets,
                          Labels labels = {});
  // A gauge whose value is read when rendering (watches by state, queue depth). `read` is
  // called from the rendering thread while the registry's lock is held: it must be
  // thread-safe and must not call into this registry. REQUIRES: name+labels not yet added.
  void AddGaugeFunction(std::string name, std::string help, Labels labels,
                        std::function<double()> read);

  // Prometheus text exposition format 0.0.4: families in the order first added, series in
  // the order added. Content-Type: text/plain; version=0.0.4; charset=utf-8.
  std::string Render() const;

 private:
  struct Family;
  struct Series;
  Series& FindOrAdd(std::string name, std::string help, int type, Labels labels, bool* added)
      REQUIRES(mu_);

  mutable Mutex mu_;
  std::vector<std::unique_ptr<Family>> families_ GUARDED_BY(mu_);
};

// Helpers of the exposition format, exposed for tests and for other text outputs.
// Label value: backslash, double quote and newline escaped. HELP text: backslash, newline.
std::string EscapeLabelValue(std::string_view v);
std::string EscapeHelp(std::string_view v);
// Shortest round-trip decimal, "+Inf", "-Inf" or "NaN".
std::string FormatMetricValue(double v);

}  // namespace overdue::base
