// overdue-seed: writes N period watches straight into a data dir's SQLite store, for the
// system benchmarks in bench/ (BENCHMARKS.md). It does not create projects or keys: run
// `overdue init --data-dir DIR` first, exactly as a user would, and the watches go to the
// project that init made (id 1). Must not run while a server has the data dir open.
//
//   overdue-seed --data-dir DIR --count N [--period 1h] [--grace 1h]
//                [--deadlines-from 0s --deadlines-over S] [--uuids FILE] [--slugs]
//                [--project-id 1] [--batch 5000]
//
// Without --deadlines-over the watches are "new" (never pinged: no deadline). With it they
// are "up", pinged once at last_ping = now - period + from + offset, offsets spread evenly
// over [0, S), so their deadlines (last_ping + period) fall uniformly over
// [now + from, now + from + S). The UUIDs go to FILE, one a line (the wrk script reads it).
// Prints one line: `seeded N watches; deadlines from <epoch s> to <epoch s>` (or "none").
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/time.h"
#include "base/uuid.h"
#include "model/watch.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace overdue::bench {
namespace {

using base::Duration;
using base::TimePoint;

// The file name `overdue serve` uses inside its data dir (src/server/server.cc).
constexpr const char* kDatabaseFile = "overdue.db";
// Watches per transaction: large enough that commit cost vanishes, small enough that one
// batch of full watch rows stays a few MB in memory.
constexpr int64_t kDefaultBatch = 5000;

struct Options {
  std::string data_dir;
  int64_t count = -1;
  Duration period = std::chrono::hours(1);
  Duration grace = std::chrono::hours(1);
  Duration deadlines_from{0};
  std::optional<Duration> deadlines_over;
  std::string uuids_file;
  bool slugs = false;
  int64_t project_id = 1;
  int64_t batch = kDefaultBatch;
};

// "90", "90s", "1500ms", "10m", "1h", "1d" → microseconds. nullopt when malformed.
std::optional<Duration> ParseDuration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  const int64_t n = std::strtoll(std::string(text.substr(0, digits)).c_str(), nullptr, 10);
  const std::string_view unit = text.substr(digits);
  int64_t us_per_unit = 0;
  if (unit.empty() || unit == "s") {
    us_per_unit = 1'000'000;
  } else if (unit == "ms") {
    us_per_unit = 1'000;
  } else if (unit == "m") {
    us_per_unit = 60'000'000;
  } else if (unit == "h") {
    us_per_unit = 3'600'000'000;
  } else if (unit == "d") {
    us_per_unit = 86'400'000'000;
  } else {
    return std::nullopt;
  }
  return Duration{n * us_per_unit};
}

std::optional<int64_t> ParseCount(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::strtoll(std::string(text).c_str(), nullptr, 10);
}

constexpr const char* kUsage =
    "usage: overdue-seed --data-dir DIR --count N [--period 1h] [--grace 1h]\n"
    "                    [--deadlines-from 0s --deadlines-over S] [--uuids FILE] [--slugs]\n"
    "                    [--project-id 1] [--batch 5000]\n";

base::Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--slugs") {
      o.slugs = true;
      continue;
    }
    if (flag == "--help" || flag == "-h") return base::InvalidArgument(kUsage);
    if (i + 1 >= argc) return base::InvalidArgument(std::string(flag) + ": needs a value");
    const std::string_view value = argv[++i];
    auto bad = [&](const char* rule) {
      return base::InvalidArgument(std::string(flag) + ": \"" + std::string(value) + "\": " + rule);
    };
    if (flag == "--data-dir") {
      o.data_dir = value;
    } else if (flag == "--uuids") {
      o.uuids_file = value;
    } else if (flag == "--count" || flag == "--project-id" || flag == "--batch") {
      auto n = ParseCount(value);
      if (!n) return bad("must be a whole number");
      if (flag == "--count") o.count = *n;
      if (flag == "--project-id") o.project_id = *n;
      if (flag == "--batch") {
        if (*n < 1) return bad("must be at least 1");
        o.batch = *n;
      }
    } else if (flag == "--period" || flag == "--grace" || flag == "--deadlines-from" ||
               flag == "--deadlines-over") {
      auto d = ParseDuration(value);
      if (!d) return bad("must be a duration such as 90s, 1500ms, 10m, 1h, 1d");
      if (flag == "--period") {
        if (d->count() <= 0) return bad("must be positive");
        o.period = *d;
      }
      if (flag == "--grace") o.grace = *d;
      if (flag == "--deadlines-from") o.deadlines_from = *d;
      if (flag == "--deadlines-over") o.deadlines_over = *d;
    } else {
      return base::InvalidArgument("unknown flag " + std::string(flag) + "\n" + kUsage);
    }
  }
  if (o.data_dir.empty()) return base::InvalidArgument("--data-dir: required");
  if (o.count < 0) return base::InvalidArgument("--count: required");
  if (o.deadlines_over && o.deadlines_from + *o.deadlines_over > o.period) {
    // Otherwise last_ping would lie in the future.
    return base::InvalidArgument("--deadlines-from + --deadlines-over: must not exceed --period");
  }
  return o;
}

int Run(const Options& o) {
  const std::filesystem::path db = std::filesystem::path(o.data_dir) / kDatabaseFile;
  if (!std::filesystem::exists(db)) {
    std::fprintf(stderr,
                 "overdue-seed: %s does not exist; run `overdue init --data-dir %s` first\n",
                 db.c_str(), o.data_dir.c_str());
    return 1;
  }
  store::SqliteOptions so;
  so.path = db.string();
  // Seeding is not a durability test: one sync at the end (on close) is enough.
  so.sync_full = false;
  auto opened = store::OpenSqlite(so);
  if (!opened.ok()) {
    std::fprintf(stderr, "overdue-seed: %s\n", opened.error().message.c_str());
    return 1;
  }
  store::Store& st = *opened.value();
  auto projects = st.LoadProjects();
  if (!projects.ok()) {
    std::fprintf(stderr, "overdue-seed: %s\n", projects.error().message.c_str());
    return 1;
  }
  bool found = false;
  for (const store::Project& p : projects.value()) found = found || p.id == o.project_id;
  if (!found) {
    std::fprintf(stderr, "overdue-seed: project %" PRId64 " not in %s; run `overdue init` first\n",
                 o.project_id, db.c_str());
    return 1;
  }

  std::FILE* uuids = nullptr;
  if (!o.uuids_file.empty()) {
    uuids = std::fopen(o.uuids_file.c_str(), "w");
    if (uuids == nullptr) {
      std::fprintf(stderr, "overdue-seed: --uuids: cannot write %s\n", o.uuids_file.c_str());
      return 1;
    }
  }

  const TimePoint now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  std::vector<store::Mutation> batch;
  batch.reserve(static_cast<size_t>(o.batch));
  TimePoint first_deadline = base::kNever;
  TimePoint last_deadline = base::kNoTime;
  for (int64_t i = 0; i < o.count; ++i) {
    model::Watch w;
    w.spec.id = base::Uuid::Random();
    w.spec.project_id = o.project_id;
    w.spec.kind = model::WatchKind::kJob;
    w.spec.name = "bench-" + std::to_string(i);
    if (o.slugs) w.spec.slug = w.spec.name;
    w.spec.schedule.kind = model::Schedule::Kind::kPeriod;
    w.spec.schedule.period = o.period;
    w.spec.schedule.grace = o.grace;
    w.spec.created = now;
    if (o.deadlines_over) {
      // Evenly spaced offsets (the middle of each of N equal slices), so the deadline rate is
      // constant over the window; UUIDs are random, so shards see them in random order.
      const Duration offset{static_cast<int64_t>((static_cast<double>(i) + 0.5) *
                                                 static_cast<double>(o.deadlines_over->count()) /
                                                 static_cast<double>(o.count))};
      w.runtime.status = model::Status::kUp;
      w.runtime.last_ping = now - o.period + o.deadlines_from + offset;
      w.runtime.n_pings = 1;
      w.runtime.alert_after = w.runtime.last_ping + o.period;
      first_deadline = std::min(first_deadline, w.runtime.alert_after);
      last_deadline = std::max(last_deadline, w.runtime.alert_after);
    }
    if (uuids != nullptr) std::fprintf(uuids, "%s\n", w.spec.id.ToString().c_str());
    batch.emplace_back(store::UpsertWatch{std::move(w)});
    if (static_cast<int64_t>(batch.size()) == o.batch || i + 1 == o.count) {
      if (auto s = st.Apply(batch); !s.ok()) {
        const int64_t committed = i + 1 - static_cast<int64_t>(batch.size());
        std::fprintf(stderr, "overdue-seed: %" PRId64 " watches committed, then: %s\n", committed,
                     s.error().message.c_str());
        if (uuids != nullptr) std::fclose(uuids);
        return 1;
      }
      batch.clear();
    }
  }
  if (uuids != nullptr && std::fclose(uuids) != 0) {
    std::fprintf(stderr, "overdue-seed: --uuids: cannot write %s\n", o.uuids_file.c_str());
    return 1;
  }
  if (o.deadlines_over && o.count > 0) {
    std::printf("seeded %" PRId64 " watches; deadlines from %.3f to %.3f\n", o.count,
                static_cast<double>(base::ToMicros(first_deadline)) / 1e6,
                static_cast<double>(base::ToMicros(last_deadline)) / 1e6);
  } else {
    std::printf("seeded %" PRId64 " watches; deadlines none\n", o.count);
  }
  return 0;
}

}  // namespace
}  // namespace overdue::bench

int main(int argc, char** argv) {
  auto options = overdue::bench::ParseArgs(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "overdue-seed: %s\n", options.error().message.c_str());
    return 2;
  }
  return overdue::bench::Run(options.value());
}
