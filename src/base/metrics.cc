#include "base/metrics.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "base/check.h"

namespace overdue::base {
namespace {

enum Type { kCounterType, kGaugeType, kHistogramType };

const char* TypeName(int type) {
  switch (type) {
    case kCounterType:
      return "counter";
    case kGaugeType:
      return "gauge";
    default:
      return "histogram";
  }
}

// Each thread gets a stripe once, round-robin, so the first few threads never share one.
size_t StripeIndex(size_t stripes) {
  static std::atomic<size_t> next{0};
  thread_local const size_t index = next.fetch_add(1, std::memory_order_relaxed);
  return index % stripes;
}

bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Label names may not contain ':' and names starting "__" are reserved by Prometheus.
bool IsLabelName(std::string_view s) {
  if (s.empty() || s.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// `{a="x",b="y"}` with an optional extra trailing pair (the histogram's `le`); empty when
// there are no labels at all.
void AppendLabels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += EscapeLabelValue(v);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

// ---- Counter ----------------------------------------------------------------------------

void Counter::Inc(uint64_t n) {
  stripes_[StripeIndex(kStripes)].v.fetch_add(n, std::memory_order_relaxed);
}

uint64_t Counter::Value() const {
  uint64_t total = 0;
  for (const Stripe& s : stripes_) total += s.v.load(std::memory_order_relaxed);
  return total;
}

// ---- Histogram --------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::erase_if(bounds_, [](double b) { return !std::isfinite(b); });
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // First bound >= v: that bucket is the smallest with v <= le. NaN compares false with
  // everything, so it lands past the end, in +Inf.
  size_t i = bounds_.size();
  if (!std::isnan(v)) {
    i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  }
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  // _count is the +Inf bucket, so the two always agree in one render.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- MetricsRegistry --------------------------------------------------------------------

struct MetricsRegistry::Series {
  Labels labels;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> read;  // gauge functions
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  int type = kCounterType;
  std::vector<std::unique_ptr<Series>> series;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Series& MetricsRegistry::FindOrAdd(std::string name, std::string help, int type,
                                                    Labels labels, bool* added) {
  OVERDUE_CHECK(IsMetricName(name));
  for (const auto& [k, v] : labels) {
    OVERDUE_CHECK(IsLabelName(k));
    OVERDUE_CHECK(!(type == kHistogramType && k == "le"));
  }
  Family* family = nullptr;
  for (const auto& f : families_) {
    if (f->name == name) family = f.get();
  }
  if (family == nullptr) {
    families_.push_back(std::make_unique<Family>());
    family = families_.back().get();
    family->name = std::move(name);
    family->help = std::move(help);
    family->type = type;
  }
  // One name, one type: the exposition format cannot say otherwise.
  OVERDUE_CHECK(family->type == type);
  for (const auto& s : family->series) {
    if (s->labels == labels) {
      *added = false;
      return *s;
    }
  }
  family->series.push_back(std::make_unique<Series>());
  family->series.back()->labels = std::move(labels);
  *added = true;
  return *family->series.back();
}

Counter& MetricsRegistry::AddCounter(std::string name, std::string help, Labels labels) {
  MutexLock lock(&mu_);
  bool added = false;
  Series& s = FindOrAdd(std::move(name), std::move(help), kCounterType, std::move(labels), &added);
  if (added) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::AddGauge(std::string name, std::string help, Labels labels) {
  MutexLock lock(&mu_);
  bool added = false;
  Series& s = FindOrAdd(std::move(name), std::move(help), kGaugeType, std::move(labels), &added);
  if (added) s.gauge = std::make_unique<Gauge>();
  // The same name and labels already registered as a gauge function is a programming error.
  OVERDUE_CHECK(s.gauge != nullptr);
  return *s.gauge;
}

Histogram& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                         std::vector<double> buckets, Labels labels) {
  MutexLock lock(&mu_);
  bool added = false;
  Series& s =
      FindOrAdd(std::move(name), std::move(help), kHistogramType, std::move(labels), &added);
  if (added) s.histogram = std::make_unique<Histogram>(std::move(buckets));
  return *s.histogram;
}

void MetricsRegistry::AddGaugeFunction(std::string name, std::string help, Labels labels,
                                       std::function<double()> read) {
  OVERDUE_CHECK(read != nullptr);
  MutexLock lock(&mu_);
  bool added = false;
  Series& s = FindOrAdd(std::move(name), std::move(help), kGaugeType, std::move(labels), &added);
  OVERDUE_CHECK(added);
  s.read = std::move(read);
}

std::string MetricsRegistry::Render() const {
  MutexLock lock(&mu_);
  std::string out;
  out.reserve(4096);
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f->name;
    out += ' ';
    out += EscapeHelp(f->help);
    out += "\n# TYPE ";
    out += f->name;
    out += ' ';
    out += TypeName(f->type);
    out += '\n';
    for (const auto& s : f->series) {
      if (f->type == kHistogramType) {
        const Histogram::Snapshot h = s->histogram->Read();
        for (size_t i = 0; i <= h.bounds.size(); ++i) {
          out += f->name;
          out += "_bucket";
          AppendLabels(out, s->labels, "le",
                       i < h.bounds.size() ? FormatMetricValue(h.bounds[i]) : "+Inf");
          out += ' ';
          out += std::to_string(h.cumulative[i]);
          out += '\n';
        }
        out += f->name;
        out += "_sum";
        AppendLabels(out, s->labels);
        out += ' ';
        out += FormatMetricValue(h.sum);
        out += '\n';
        out += f->name;
        out += "_count";
        AppendLabels(out, s->labels);
        out += ' ';
        out += std::to_string(h.count);
        out += '\n';
        continue;
      }
      out += f->name;
      AppendLabels(out, s->labels);
      out += ' ';
      if (s->counter) {
        out += std::to_string(s->counter->Value());
      } else if (s->gauge) {
        out += std::to_string(s->gauge->Value());
      } else {
        out += FormatMetricValue(s->read());
      }
      out += '\n';
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

}  // namespace overdue::base
