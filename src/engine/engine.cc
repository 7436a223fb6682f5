#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <unordered_map>

#include "base/check.h"
#include "base/mutex.h"
#include "engine/deadline_wheel.h"
#include "schedule/cron.h"
#include "schedule/schedule.h"

namespace overdue::engine {
namespace {

using model::Status;

constexpr uint32_t kNoSlot = UINT32_MAX;

// Keywords are rare (only watches with filter_http_body use them): kept out of line.
struct Keywords {
  std::string start_kw;
  std::string success_kw;
  std::string failure_kw;
};

// The compact in-memory form of a watch: what check-ins and deadlines need, nothing the
// API alone reads (name, tags, description stay in the store). About 200 bytes.
struct Slot {
  Uuid id;
  model::WatchRuntime rt;
  int64_t project_id = 0;
  base::Duration period{0};  // kPeriod
  base::Duration grace{0};
  TimePoint once_at{};                           // kOnce
  const schedule::CronSchedule* cron = nullptr;  // kCron: interned in Engine::CronCache
  std::unique_ptr<Keywords> keywords;
  std::string slug;
  model::Schedule::Kind schedule_kind = model::Schedule::Kind::kPeriod;
  model::WatchKind watch_kind = model::WatchKind::kJob;
  bool manual_resume = false;
  bool post_only = false;
  bool filter_http_body = false;
  bool filter_default_fail = false;
  bool in_use = false;
};

std::string SlugKey(int64_t project_id, std::string_view slug) {
  std::string key = std::to_string(project_id);
  key.push_back('/');
  key.append(slug);
  return key;
}

model::SignalRules RulesOf(const Slot& s) {
  model::SignalRules r;
  r.manual_resume = s.manual_resume;
  r.post_only = s.post_only;
  r.filter_http_body = s.filter_http_body;
  r.filter_default_fail = s.filter_default_fail;
  if (s.keywords) {
    r.start_kw = s.keywords->start_kw;
    r.success_kw = s.keywords->success_kw;
    r.failure_kw = s.keywords->failure_kw;
  }
  return r;
}

model::Schedule ScheduleOf(const Slot& s) {
  model::Schedule sc;
  sc.kind = s.schedule_kind;
  sc.period = s.period;
  sc.grace = s.grace;
  sc.once_at = s.once_at;
  return sc;  // cron expression and tz are carried by s.cron
}

TimePoint NextExpectedOf(const Slot& s) {
  if (s.schedule_kind == model::Schedule::Kind::kCron) {
    return schedule::NextCron(*s.cron, s.rt.last_ping);
  }
  return schedule::NextExpected(ScheduleOf(s), nullptr, s.rt.last_ping);
}

model::Deadlines DeadlinesOf(const Slot& s) {
  const bool up = s.rt.status == Status::kUp || s.rt.status == Status::kGrace;
  const bool once_new =
      s.schedule_kind == model::Schedule::Kind::kOnce && s.rt.status == Status::kNew;
  const TimePoint next = (up || once_new) ? NextExpectedOf(s) : base::kNever;
  return model::ComputeDeadlines(s.rt, s.grace, next, /*armed_when_new=*/once_new);
}

}  // namespace

struct Engine::CronCache {
  base::Mutex mu;
  std::map<std::string, std::shared_ptr<const schedule::CronSchedule>> by_key GUARDED_BY(mu);

  Result<const schedule::CronSchedule*> Get(const std::string& expr, const std::string& tz) {
    const std::string key = expr + '\n' + tz;
    base::MutexLock lock(&mu);
    auto it = by_key.find(key);
    if (it != by_key.end()) return it->second.get();
    auto compiled = schedule::CompileCron(expr, tz);
    if (!compiled.ok()) return compiled.error();
    const schedule::CronSchedule* raw = compiled.value().get();
    by_key.emplace(key, std::move(compiled.value()));
    return raw;
  }
};

struct Engine::Projects {
  mutable base::Mutex mu;
  std::unordered_map<std::string, int64_t> by_ping_key GUARDED_BY(mu);
};

struct Engine::Shard {
  Shard(base::Duration tick, TimePoint start) : wheel(tick, start) {}

  mutable base::Mutex mu;
  std::vector<Slot> slots GUARDED_BY(mu);
  std::vector<uint32_t> free_slots GUARDED_BY(mu);
  // UUID → slot index: open addressing with linear probing over slot indices (8 bytes per
  // watch at the 50% load it keeps, against ~56 for a node-based map): entries are slot + 1,
  // kEmpty and kTombstone mark free cells.
  std::vector<uint32_t> id_table GUARDED_BY(mu);
  size_t id_count GUARDED_BY(mu) = 0;
  size_t id_used GUARDED_BY(mu) = 0;  // live entries + tombstones
  std::unordered_multimap<std::string, uint32_t> by_slug GUARDED_BY(mu);
  DeadlineWheel wheel GUARDED_BY(mu);
  std::vector<uint32_t> expired GUARDED_BY(mu);  // scratch for Tick, kept to avoid churn
  StatusCounts counts GUARDED_BY(mu);            // kept current so /metrics never scans every slot

  // Every change of a slot's runtime is bracketed by Account(s, -1) and Account(s, +1).
  void Account(const Slot& s, int64_t delta) REQUIRES(mu) {
    if (!s.in_use) return;
    counts.by_status[static_cast<int>(s.rt.status)] += delta;
    if (s.rt.last_start != base::kNoTime) counts.started += delta;
  }

  static constexpr uint32_t kEmpty = 0;
  static constexpr uint32_t kTombstone = UINT32_MAX;

  uint32_t Find(const Uuid& id) const REQUIRES(mu) {
    if (id_table.empty()) return kNoSlot;
    const size_t mask = id_table.size() - 1;
    for (size_t i = base::UuidHash{}(id)&mask;; i = (i + 1) & mask) {
      const uint32_t e = id_table[i];
      if (e == kEmpty) return kNoSlot;
      if (e != kTombstone && slots[e - 1].id == id) return e - 1;
    }
  }

  // REQUIRES: id not indexed yet; slots[idx].id == id.
  void IndexId(const Uuid& id, uint32_t idx) REQUIRES(mu) {
    if ((id_used + 1) * 2 > id_table.size()) RebuildIdTable(std::max<size_t>(16, id_count * 4));
    const size_t mask = id_table.size() - 1;
    size_t i = base::UuidHash{}(id)&mask;
    while (id_table[i] != kEmpty && id_table[i] != kTombstone) i = (i + 1) & mask;
    if (id_table[i] == kEmpty) ++id_used;
    id_table[i] = idx + 1;
    ++id_count;
  }

  void UnindexId(const Uuid& id) REQUIRES(mu) {
    const size_t mask = id_table.size() - 1;
    for (size_t i = base::UuidHash{}(id)&mask;; i = (i + 1) & mask) {
      const uint32_t e = id_table[i];
      if (e == kEmpty) return;
      if (e != kTombstone && slots[e - 1].id == id) {
        id_table[i] = kTombstone;
        --id_count;
        return;
      }
    }
  }

  void RebuildIdTable(size_t min_cells) REQUIRES(mu) {
    size_t cells = 16;
    while (cells < min_cells) cells *= 2;
    std::vector<uint32_t> old = std::move(id_table);
    id_table.assign(cells, kEmpty);
    id_used = 0;
    id_count = 0;
    const size_t mask = cells - 1;
    for (const uint32_t e : old) {
      if (e == kEmpty || e == kTombstone) continue;
      size_t i = base::UuidHash{}(slots[e - 1].id) & mask;
      while (id_table[i] != kEmpty) i = (i + 1) & mask;
      id_table[i] = e;
      ++id_used;
      ++id_count;
    }
  }

  // Recomputes the watch's deadlines and its wheel entry after any change.
  void Reschedule(uint32_t idx) REQUIRES(mu) {
    Slot& s = slots[idx];
    const TimePoint next = DeadlinesOf(s).Next(s.rt.status);
    s.rt.alert_after = next == base::kNever ? base::kNoTime : next;
    wheel.Schedule(idx, next);
  }

  // Forgets the watch in slot `idx`: indexes, counts, deadline; the slot is reused.
  void Free(uint32_t idx) REQUIRES(mu) {
    Unindex(idx);
    Account(slots[idx], -1);
    wheel.Cancel(idx);
    UnindexId(slots[idx].id);
    slots[idx] = Slot{};
    free_slots.push_back(idx);
  }

  void Unindex(uint32_t idx) REQUIRES(mu) {
    Slot& s = slots[idx];
    if (!s.slug.empty()) {
      auto range = by_slug.equal_range(SlugKey(s.project_id, s.slug));
      for (auto it = range.first; it != range.second; ++it) {
        if (it->second == idx) {
          by_slug.erase(it);
          break;
        }
      }
    }
  }
};

Engine::Engine(const base::Clock& clock, EventSink& sink, EngineOptions options)
    : clock_(clock),
      sink_(sink),
      options_(options),
      projects_(std::make_unique<Projects>()),
      crons_(std::make_unique<CronCache>()) {
  OVERDUE_CHECK(options_.shards > 0);
  for (int i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(options_.tick, clock_.Now()));
  }
}

Engine::~Engine() = default;

Engine::Shard& Engine::ShardFor(const Uuid& id) const {
  return *shards_[base::UuidHash{}(id) % shards_.size()];
}

void Engine::SetLagObserver(std::function<void(base::Duration)> observe) {
  lag_observer_ = std::move(observe);
}

void Engine::SetLateBefore(TimePoint t) { late_before_us_.store(base::ToMicros(t)); }

void Engine::AddProject(int64_t project_id, const std::string& ping_key) {
  base::MutexLock lock(&projects_->mu);
  projects_->by_ping_key[ping_key] = project_id;
}

void Engine::ReplacePingKeys(const std::vector<std::pair<int64_t, std::string>>& projects) {
  std::unordered_map<std::string, int64_t> by_ping_key;
  for (const auto& [id, ping_key] : projects) by_ping_key[ping_key] = id;
  base::MutexLock lock(&projects_->mu);
  projects_->by_ping_key.swap(by_ping_key);
}

std::optional<int64_t> Engine::ProjectByPingKey(std::string_view ping_key) const {
  base::MutexLock lock(&projects_->mu);
  auto it = projects_->by_ping_key.find(std::string(ping_key));
  if (it == projects_->by_ping_key.end()) return std::nullopt;
  return it->second;
}

namespace {

// Fills the definition part of a slot. The cron schedule is resolved by the caller.
void FillSpec(Slot& s, const model::WatchSpec& spec, const schedule::CronSchedule* cron) {
  s.id = spec.id;
  s.project_id = spec.project_id;
  s.period = spec.schedule.period;
  s.grace = spec.schedule.grace;
  s.once_at = spec.schedule.once_at;
  s.cron = cron;
  s.schedule_kind = spec.schedule.kind;
  s.watch_kind = spec.kind;
  s.slug = spec.slug;
  s.manual_resume = spec.manual_resume;
  s.post_only = spec.post_only;
  s.filter_http_body = spec.filter_http_body;
  s.filter_default_fail = spec.filter_default_fail;
  if (!spec.start_kw.empty() || !spec.success_kw.empty() || !spec.failure_kw.empty()) {
    s.keywords =
        std::make_unique<Keywords>(Keywords{spec.start_kw, spec.success_kw, spec.failure_kw});
  } else {
    s.keywords.reset();
  }
  s.in_use = true;
}

}  // namespace

base::Status Engine::Load(const model::WatchSpec& spec, const model::WatchRuntime& runtime) {
  auto r = LoadImpl(spec, runtime, /*record=*/false, /*keep_runtime=*/false, Done{});
  if (!r.ok()) return r.error();
  return {};
}

Result<bool> Engine::Put(const model::WatchSpec& spec, Done done) {
  return LoadImpl(spec, model::WatchRuntime{}, /*record=*/true, /*keep_runtime=*/true,
                  std::move(done));
}

Result<bool> Engine::Restore(const model::WatchSpec& spec, const model::WatchRuntime& runtime,
                             Done done) {
  return LoadImpl(spec, runtime, /*record=*/true, /*keep_runtime=*/false, std::move(done));
}

base::Status Engine::Delete(const Uuid& id, Done done) {
  Shard& sh = ShardFor(id);
  base::MutexLock lock(&sh.mu);
  const uint32_t idx = sh.Find(id);
  if (idx == kNoSlot) return base::NotFound("not found");
  Change c;
  c.watch_id = id;
  c.runtime = sh.slots[idx].rt;
  c.removed = true;
  sh.Free(idx);
  sink_.Record(std::move(c), std::move(done));
  return {};
}

Result<bool> Engine::LoadImpl(const model::WatchSpec& spec, const model::WatchRuntime& runtime,
                              bool record, bool keep_runtime, Done done) {
  const schedule::CronSchedule* cron = nullptr;
  if (spec.schedule.kind == model::Schedule::Kind::kCron) {
    auto c = crons_->Get(spec.schedule.cron, spec.schedule.tz);
    if (!c.ok()) return c.error();
    cron = c.value();
  }
  Shard& sh = ShardFor(spec.id);
  base::MutexLock lock(&sh.mu);
  uint32_t idx = sh.Find(spec.id);
  const bool created = idx == kNoSlot;
  if (idx == kNoSlot) {
    if (!sh.free_slots.empty()) {
      idx = sh.free_slots.back();
      sh.free_slots.pop_back();
    } else {
      idx = static_cast<uint32_t>(sh.slots.size());
      sh.slots.emplace_back();
    }
    sh.slots[idx].id = spec.id;
    sh.IndexId(spec.id, idx);
  } else {
    sh.Unindex(idx);
  }
  Slot& s = sh.slots[idx];
  sh.Account(s, -1);
  FillSpec(s, spec, cron);
  if (created || !keep_runtime) s.rt = runtime;
  sh.Account(s, +1);
  if (!s.slug.empty()) sh.by_slug.emplace(SlugKey(s.project_id, s.slug), idx);
  sh.Reschedule(idx);
  if (record) {
    // Under the shard lock: no check-in of the watch can reach the journal before it.
    Change c;
    c.watch_id = spec.id;
    c.runtime = s.rt;
    c.spec = spec;
    sink_.Record(std::move(c), std::move(done));
  }
  return created;
}

base::Status Engine::UpdateSpec(const model::WatchSpec& spec) {
  {
    Shard& sh = ShardFor(spec.id);
    base::MutexLock lock(&sh.mu);
    if (sh.Find(spec.id) == kNoSlot) return base::NotFound("watch not found");
  }
  auto view = View(spec.id);
  if (!view) return base::NotFound("watch not found");
  return Load(spec, view->runtime);
}

bool Engine::Remove(const Uuid& id) {
  Shard& sh = ShardFor(id);
  base::MutexLock lock(&sh.mu);
  const uint32_t idx = sh.Find(id);
  if (idx == kNoSlot) return false;
  sh.Free(idx);
  return true;
}

namespace {

model::CheckIn MakeCheckIn(const Slot& s, model::Signal signal, CheckInRequest&& req,
                           TimePoint now) {
  model::CheckIn ci;
  ci.watch_id = s.id;
  ci.n = s.rt.n_pings;
  ci.at = now;
  ci.signal = signal;
  ci.exit_status = req.exit_status;
  ci.rid = req.rid;
  ci.remote_addr = std::move(req.remote_addr);
  ci.scheme = std::move(req.scheme);
  ci.method = std::move(req.method);
  ci.user_agent = std::move(req.user_agent);
  if (ci.user_agent.size() > model::kMaxUserAgent) ci.user_agent.resize(model::kMaxUserAgent);
  ci.body = std::move(req.body);
  ci.body_size = ci.body.size();
  if (s.rt.last_duration && (signal == model::Signal::kSuccess || signal == model::Signal::kFail)) {
    ci.duration = s.rt.last_duration;
  }
  return ci;
}

}  // namespace

Result<model::Signal> Engine::CheckIn(const Uuid& id, CheckInRequest&& request, Done done) {
  Shard& sh = ShardFor(id);
  base::MutexLock lock(&sh.mu);
  const uint32_t idx = sh.Find(id);
  if (idx == kNoSlot) return base::NotFound("not found");
  Slot& s = sh.slots[idx];
  const TimePoint now = clock_.Now();
  const model::Signal signal =
      model::ResolveSignal(RulesOf(s), s.rt.status, request.url_signal, request.exit_status,
                           request.method, request.body);
  Change change;
  change.watch_id = id;
  sh.Account(s, -1);
  change.flip = model::ApplyCheckIn(id, s.rt, signal, request.rid, now);
  sh.Account(s, +1);
  sh.Reschedule(idx);
  change.check_in = MakeCheckIn(s, signal, std::move(request), now);
  change.runtime = s.rt;
  sink_.Record(std::move(change), std::move(done));
  return signal;
}

Result<Uuid> Engine::FindBySlug(int64_t project_id, std::string_view slug) const {
  const std::string key = SlugKey(project_id, slug);
  std::optional<Uuid> found;
  for (const auto& shard : shards_) {
    base::MutexLock lock(&shard->mu);
    auto range = shard->by_slug.equal_range(key);
    for (auto it = range.first; it != range.second; ++it) {
      if (found) return base::Error{base::ErrorCode::kConflict, "ambiguous slug"};
      found = shard->slots[it->second].id;
    }
  }
  if (!found) return base::NotFound("not found");
  return *found;
}

Result<Uuid> Engine::CreateForSlug(int64_t project_id, std::string_view slug) {
  model::WatchSpec spec;
  spec.id = Uuid::Random();
  spec.project_id = project_id;
  spec.name = std::string(slug);
  spec.slug = std::string(slug);
  spec.created = clock_.Now();
  spec.badge_key = Uuid::Random();
  auto r = LoadImpl(spec, model::WatchRuntime{}, /*record=*/true, /*keep_runtime=*/false, Done{});
  if (!r.ok()) return r.error();
  return spec.id;
}

base::Status Engine::Pause(const Uuid& id, Done done) {
  Shard& sh = ShardFor(id);
  base::MutexLock lock(&sh.mu);
  const uint32_t idx = sh.Find(id);
  if (idx == kNoSlot) return base::NotFound("not found");
  Slot& s = sh.slots[idx];
  Change change;
  change.watch_id = id;
  sh.Account(s, -1);
  change.flip = model::ApplyPause(id, s.rt, clock_.Now());
  sh.Account(s, +1);
  sh.Reschedule(idx);
  change.runtime = s.rt;
  sink_.Record(std::move(change), std::move(done));
  return {};
}

base::Status Engine::Resume(const Uuid& id, Done done) {
  Shard& sh = ShardFor(id);
  base::MutexLock lock(&sh.mu);
  const uint32_t idx = sh.Find(id);
  if (idx == kNoSlot) return base::NotFound("not found");
  Slot& s = sh.slots[idx];
  if (s.rt.status != Status::kPaused) {
    return base::Error{base::ErrorCode::kConflict, "check is not paused"};
  }
  Change change;
  change.watch_id = id;
  sh.Account(s, -1);
  change.flip = model::ApplyResume(id, s.rt, clock_.Now());
  sh.Account(s, +1);
  sh.Reschedule(idx);
  change.runtime = s.rt;
  sink_.Record(std::move(change), std::move(done));
  return {};
}

size_t Engine::Tick() {
  const TimePoint now = clock_.Now();
  const int64_t late_before = late_before_us_.load();
  size_t flips = 0;
  for (const auto& shard : shards_) {
    Shard& sh = *shard;
    base::MutexLock lock(&sh.mu);
    sh.expired.clear();
    sh.wheel.Advance(now, &sh.expired);
    for (const uint32_t idx : sh.expired) {
      Slot& s = sh.slots[idx];
      if (!s.in_use) continue;
      // One expired timer may cover two deadlines (late, then down) when ticks were missed;
      // ApplyDeadline goes straight to down then, and Reschedule re-arms whatever is left.
      const model::Deadlines d = DeadlinesOf(s);
      sh.Account(s, -1);
      std::optional<model::Flip> flip = model::ApplyDeadline(s.id, s.rt, d, now);
      sh.Account(s, +1);
      sh.Reschedule(idx);
      if (!flip) continue;
      if (lag_observer_) lag_observer_(now - flip->at);
      if (base::ToMicros(flip->at) < late_before) {
        flip->detected_late = true;
      }
      flip->detected_at = now;
      ++flips;
      Change change;
      change.watch_id = s.id;
      change.runtime = s.rt;
      change.flip = std::move(flip);
      sink_.Record(std::move(change), Done{});
    }
  }
  return flips;
}

std::optional<WatchView> Engine::View(const Uuid& id) const {
  Shard& sh = ShardFor(id);
  base::MutexLock lock(&sh.mu);
  const uint32_t idx = sh.Find(id);
  if (idx == kNoSlot) return std::nullopt;
  const Slot& s = sh.slots[idx];
  WatchView v;
  v.runtime = s.rt;
  v.deadlines = DeadlinesOf(s);
  v.next_expected = NextExpectedOf(s);
  return v;
}

size_t Engine::size() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    base::MutexLock lock(&shard->mu);
    n += shard->id_count;
  }
  return n;
}

StatusCounts Engine::CountByStatus() const {
  StatusCounts c;
  for (const auto& shard : shards_) {
    base::MutexLock lock(&shard->mu);
    for (int i = 0; i < 5; ++i) c.by_status[i] += shard->counts.by_status[i];
    c.started += shard->counts.started;
  }
  return c;
}

}  // namespace overdue::engine
