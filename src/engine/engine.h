// Engine: the in-memory index of every watch and the deadlines that make silence an alarm.
//
// Design note. Watches are split over kShards shards by UUID hash. A shard owns its watches'
// compact slots, a UUID index, a slug index and a DeadlineWheel, all under one Mutex held
// only for O(1) work (a check-in or one expired deadline): with 16+ shards and 2–N I/O
// threads, contention is rare, and the I/O thread that parsed a request applies it without a
// hop to another thread (see docs/architecture.md for why a lock rather than a strand).
// Every change (check-in, flip, created watch) is handed to the EventSink *while the shard
// lock is held*, so the journal receives a watch's changes in the order they happened.
// The sink's completion decides when a client hears "OK" (after commit).
//
// Time comes only from the Clock. Tick() advances every shard's wheel to Clock::Now(): the
// server calls it every tick (10 ms); tests call it after moving a ManualClock.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "model/check_in.h"
#include "model/flip.h"
#include "model/state_machine.h"
#include "model/watch.h"

namespace overdue::engine {

using base::Result;
using base::TimePoint;
using base::Uuid;

// One change of one watch, in the order it happened. `runtime` is the watch's runtime after
// the change. `spec` is set when the change wrote the watch's definition (created by a ping
// with ?create=1, or created/updated through the API); `removed` when it deleted the watch.
struct Change {
  Uuid watch_id;
  model::WatchRuntime runtime;
  std::optional<model::CheckIn> check_in;
  std::optional<model::Flip> flip;
  std::optional<model::WatchSpec> spec;
  bool removed = false;
};

// Completion of a recorded change: ok once durable, an error if it could not be made so.
using Done = std::function<void(base::Status)>;

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Called with a shard lock held: must not block and must not call back into the Engine.
  // `done` may be empty (deadline changes have nobody waiting).
  virtual void Record(Change&& change, Done done) = 0;
};

struct EngineOptions {
  int shards = 16;
  base::Duration tick = std::chrono::milliseconds(10);
};

// What a check-in request carries, before the watch's rules decide what it counts as.
struct CheckInRequest {
  model::Signal url_signal = model::Signal::kSuccess;
  std::optional<int> exit_status;
  std::optional<Uuid> rid;
  std::string method;
  std::string scheme;
  std::string remote_addr;
  std::string user_agent;
  std::string body;
};

// A consistent copy of one watch's state, for the API.
struct WatchView {
  model::WatchRuntime runtime;
  model::Deadlines deadlines;
  TimePoint next_expected = base::kNever;  // schedule's next expected check-in
};

struct StatusCounts {
  int64_t by_status[5] = {0, 0, 0, 0, 0};  // indexed by model::Status
  int64_t started = 0;                     // watches with a run in progress
};

class Engine {
 public:
  Engine(const base::Clock& clock, EventSink& sink, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Adds or replaces a watch (start-up load, config, API). Validates and compiles its
  // schedule; the error names the field. Deadlines are computed from `runtime`; a deadline
  // already past fires on the next Tick(), marked detected late when before `late_before`.
  base::Status Load(const model::WatchSpec& spec, const model::WatchRuntime& runtime);
  // Changes a watch's definition, keeping its runtime. kNotFound if absent. Not recorded.
  base::Status UpdateSpec(const model::WatchSpec& spec);
  // Removes a watch without recording it (tests, start-up). Returns false if absent.
  bool Remove(const Uuid& id);

  // The API's writes, recorded through the sink under the shard lock, so that no later
  // check-in of the watch reaches the journal before its definition:
  // Put creates the watch (runtime new) or replaces its definition keeping its runtime
  // (deadlines recomputed from the new schedule). Returns whether it created. The error
  // names the invalid field (schedule, tz).
  Result<bool> Put(const model::WatchSpec& spec, Done done);
  // Put with a given runtime (restoring a backup): creates or replaces definition and runtime.
  Result<bool> Restore(const model::WatchSpec& spec, const model::WatchRuntime& runtime, Done done);
  // Deletes the watch and (in the store) its history. kNotFound if absent.
  base::Status Delete(const Uuid& id, Done done);

  // Registers a project's ping key for /ping/<ping-key>/<slug> URLs.
  void AddProject(int64_t project_id, const std::string& ping_key);
  // Makes `projects` ((project id, ping key) pairs) the whole set of ping keys, atomically:
  // a rotated or removed ping key stops resolving at once (the server's refresh from the
  // store, for keys changed by `overdue keys` in another process).
  void ReplacePingKeys(const std::vector<std::pair<int64_t, std::string>>& projects);
  std::optional<int64_t> ProjectByPingKey(std::string_view ping_key) const;

  // Applies a check-in. `done` is called after the change is durable (or failed).
  // Returns the resolved signal; kNotFound if the watch does not exist.
  Result<model::Signal> CheckIn(const Uuid& id, CheckInRequest&& request, Done done);
  // /ping/<ping-key>/<slug>: the watch's id; kNotFound, or kConflict when several watches
  // of the project share the slug (healthchecks' "ambiguous slug").
  Result<Uuid> FindBySlug(int64_t project_id, std::string_view slug) const;
  // ?create=1: creates a watch with healthchecks' defaults (name = slug, 1 day period,
  // 1 hour grace) and records it. Two racing creates of one slug may both succeed, as in
  // healthchecks; the next ping then answers 409 "ambiguous slug".
  Result<Uuid> CreateForSlug(int64_t project_id, std::string_view slug);

  // Pause / resume (healthchecks' API semantics). kNotFound, or kConflict for resume of a
  // watch that is not paused.
  base::Status Pause(const Uuid& id, Done done);
  base::Status Resume(const Uuid& id, Done done);

  // Fires every deadline <= Clock::Now(). Returns the number of flips made.
  size_t Tick();
  // Deadlines that passed before this instant were missed while the server was down: their
  // flips are marked detected_late. Set once at start-up, before the first Tick().
  void SetLateBefore(TimePoint t);

  std::optional<WatchView> View(const Uuid& id) const;
  size_t size() const;
  StatusCounts CountByStatus() const;
  // Detection lag of each deadline fired by Tick (now - deadline), for metrics.
  void SetLagObserver(std::function<void(base::Duration)> observe);

 private:
  struct Shard;
  Shard& ShardFor(const Uuid& id) const;
  // Loads or replaces a watch. With `record`, the definition is recorded (with `done`);
  // `keep_runtime` keeps an existing watch's runtime instead of `runtime`. Returns whether
  // the watch was created.
  Result<bool> LoadImpl(const model::WatchSpec& spec, const model::WatchRuntime& runtime,
                        bool record, bool keep_runtime, Done done);

  const base::Clock& clock_;
  EventSink& sink_;
  EngineOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  struct Projects;
  std::unique_ptr<Projects> projects_;
  struct CronCache;
  std::unique_ptr<CronCache> crons_;
  std::function<void(base::Duration)> lag_observer_;
  std::atomic<int64_t> late_before_us_{0};
};

}  // namespace overdue::engine
