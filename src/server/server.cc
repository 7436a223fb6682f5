#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/key_ring.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "engine/engine.h"
#include "http/server.h"
#include "journal/journal.h"
#include "server/admin.h"
#include "store/sqlite/sqlite_store.h"

namespace overdue::server {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDatabaseFile = "overdue.db";
// The default project every fresh data dir gets; `overdue init` creates it.
constexpr int64_t kDefaultProjectId = 1;

// engine::EventSink → journal: each Change becomes one unit of mutations (in the order the
// engine recorded them, since Record runs under the watch's shard lock).
class ChangeRecorder final : public engine::EventSink {
 public:
  ChangeRecorder(journal::Journal& journal, int history_limit)
      : journal_(journal),
        history_limit_(history_limit),
        prune_every_(std::max(1, history_limit / 10)) {}

  void Record(engine::Change&& change, engine::Done done) override {
    std::vector<store::Mutation> m;
    m.reserve(3);
    if (change.removed) {
      m.emplace_back(store::DeleteWatch{change.watch_id});
    } else if (change.spec) {
      m.emplace_back(store::UpsertWatch{model::Watch{std::move(*change.spec), change.runtime}});
    } else {
      m.emplace_back(store::UpdateRuntime{change.watch_id, change.runtime});
    }
    int64_t n = 0;
    if (change.check_in) {
      n = change.check_in->n;
      m.emplace_back(store::InsertCheckIn{std::move(*change.check_in)});
    }
    if (change.flip) m.emplace_back(store::InsertFlip{std::move(*change.flip)});
    journal_.Submit(std::move(m), std::move(done));
    // Prune a watch's history every tenth of the limit, so the table stays within
    // limit + limit/10 rows per watch without a delete per check-in.
    if (n > history_limit_ && n % prune_every_ == 0) journal_.RequestPrune(change.watch_id, n);
  }

 private:
  journal::Journal& journal_;
  int history_limit_;
  int prune_every_;
};

// The first project of an empty data dir gets id 1 (kDefaultProjectId): CreateProject takes
// the next free id.
base::Result<NewProject> CreateDefaultProject(store::Store& store, const base::Clock& clock) {
  return CreateProject(store, clock, "default");
}

std::string InitJson(const NewProject& r) {
  return nlohmann::json{{"project", r.project.uuid.ToString()},
                        {"api_key", r.api_key},
                        {"api_key_readonly", r.api_key_readonly},
                        {"ping_key", r.project.ping_key}}
      .dump();
}

base::Result<std::unique_ptr<store::Store>> OpenStore(const Config& config) {
  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) {
    return base::Unavailable("data dir " + config.data_dir + ": " + ec.message());
  }
  store::SqliteOptions o;
  o.path = (fs::path(config.data_dir) / kDatabaseFile).string();
  o.sync_full = config.durability == Durability::kCommit;
  return store::OpenSqlite(o);
}

void SetUpLogging(const Config& config) {
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (config.log_format == "json") {
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%v"})",
                        spdlog::pattern_time_type::utc);
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
}

std::string PublicUrl(const Config& config, uint16_t port) {
  if (!config.public_url.empty()) {
    std::string u = config.public_url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    return u;
  }
  return "http://" + config.listen_host + ":" + std::to_string(port);
}

// Syncs [[watch]] tables of the config into the store and the engine: new ones are created,
// existing ones get the file's definition and keep their runtime (config as code).
base::Status SyncConfigWatches(const Config& config, store::Store& store, engine::Engine& engine) {
  std::vector<store::Mutation> m;
  for (model::WatchSpec spec : config.watches) {
    if (spec.project_id == 0) spec.project_id = kDefaultProjectId;
    model::WatchRuntime rt;
    if (auto view = engine.View(spec.id)) rt = view->runtime;
    // The file does not hold the badge key and channels: keep the stored ones.
    auto stored = store.GetWatch(spec.id);
    if (!stored.ok()) return stored.error();
    if (stored.value()) {
      spec.badge_key = stored.value()->spec.badge_key;
      spec.channels = stored.value()->spec.channels;
    } else {
      spec.badge_key = base::Uuid::Random();
    }
    if (auto st = engine.Load(spec, rt); !st.ok()) {
      return base::InvalidArgument("watch " + spec.name + ": " + st.error().message);
    }
    m.emplace_back(store::UpsertWatch{model::Watch{spec, rt}});
  }
  if (m.empty()) return {};
  return store.Apply(m);
}

// The server's own secret (signs badge URLs), created once in the data dir, mode 0600.
base::Result<std::string> LoadOrCreateSecret(const std::string& data_dir) {
  const fs::path path = fs::path(data_dir) / "secret.key";
  std::ifstream in(path);
  std::string secret;
  if (in && std::getline(in, secret) && secret.size() >= 32) return secret;
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  secret.clear();
  for (unsigned char b : raw) secret += fmt::format("{:02x}", b);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return base::Unavailable("cannot create " + path.string() + ": " + strerror(errno));
  const std::string line = secret + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return base::Unavailable("cannot write " + path.string());
  return secret;
}

// ---- key refresh: projects and API keys changed by `overdue projects|keys` --------------

// How often the running server rereads projects and API keys from the store: a key created
// or revoked, or a ping key rotated, by the admin commands (another process writing the same
// SQLite file) takes effect within this interval. Two small tables: the read costs well
// under a millisecond.
constexpr base::Duration kKeyRefreshInterval = std::chrono::seconds(1);

// Owns a thread that every kKeyRefreshInterval replaces the KeyRing's contents and the
// engine's ping keys with the store's. A failed read keeps the current keys (logged once per
// outage). Stops and joins on destruction: declare it after the store, ring and engine.
class KeyRefresher {
 public:
  KeyRefresher(store::Store& store, api::KeyRing& keys, engine::Engine& engine)
      : store_(store), keys_(keys), engine_(engine), thread_([this] { Loop(); }) {}
  ~KeyRefresher() {
    {
      base::MutexLock lock(&mu_);
      stop_ = true;
    }
    wake_.SignalAll();
    thread_.join();
  }
  KeyRefresher(const KeyRefresher&) = delete;
  KeyRefresher& operator=(const KeyRefresher&) = delete;

 private:
  void Loop() {
    base::MutexLock lock(&mu_);
    while (!stop_) {
      wake_.WaitFor(&mu_, kKeyRefreshInterval);
      if (!stop_) RefreshOnce();
    }
  }

  void RefreshOnce() {
    auto projects = store_.LoadProjects();
    auto api_keys = store_.LoadApiKeys();
    if (!projects.ok() || !api_keys.ok()) {
      if (!failing_) {
        spdlog::warn("key refresh: {} (keeping the current keys)",
                     (projects.ok() ? api_keys.error() : projects.error()).message);
      }
      failing_ = true;
      return;
    }
    failing_ = false;
    std::vector<std::pair<int64_t, std::string>> ping_keys;
    for (const store::Project& p : projects.value()) ping_keys.emplace_back(p.id, p.ping_key);
    std::sort(ping_keys.begin(), ping_keys.end());
    if (ping_keys != ping_keys_) {
      engine_.ReplacePingKeys(ping_keys);
      if (!ping_keys_.empty()) spdlog::info("key refresh: project ping keys changed");
      ping_keys_ = std::move(ping_keys);
    }
    std::vector<std::string> hashes;
    for (const store::ApiKey& k : api_keys.value()) {
      hashes.push_back(fmt::format("{}/{}/{}", k.hash, k.project_id, k.read_only));
    }
    std::sort(hashes.begin(), hashes.end());
    if (hashes != hashes_) {
      keys_.Replace(api_keys.value());
      if (!hashes_.empty()) spdlog::info("key refresh: {} API keys", hashes.size());
      hashes_ = std::move(hashes);
    }
  }

  store::Store& store_;
  api::KeyRing& keys_;
  engine::Engine& engine_;
  base::Mutex mu_;
  base::CondVar wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  // Refresh thread only: the last state applied, to act (and log) only on a change.
  bool failing_ = false;
  std::vector<std::pair<int64_t, std::string>> ping_keys_;
  std::vector<std::string> hashes_;
  std::thread thread_;  // last: starts after every member above is initialised
};

}  // namespace

int Init(const Config& config, bool json) {
  SetUpLogging(config);
  auto store = OpenStore(config);
  if (!store.ok()) {
    std::fprintf(stderr, "overdue init: %s\n", store.error().message.c_str());
    return 1;
  }
  auto projects = store.value()->LoadProjects();
  if (!projects.ok()) {
    std::fprintf(stderr, "overdue init: %s\n", projects.error().message.c_str());
    return 1;
  }
  if (!projects.value().empty()) {
    std::fprintf(stderr,
                 "overdue init: %s is already initialised (keys are stored hashed and "
                 "cannot be shown again)\n",
                 config.data_dir.c_str());
    return 1;
  }
  base::SystemClock clock;
  auto r = CreateDefaultProject(*store.value(), clock);
  if (!r.ok()) {
    std::fprintf(stderr, "overdue init: %s\n", r.error().message.c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", InitJson(r.value()).c_str());
  } else {
    std::printf(
        "project:          %s\nAPI key:          %s\nread-only key:    %s\n"
        "ping key:         %s\n(keys are shown once; they are stored hashed)\n",
        r.value().project.uuid.ToString().c_str(), r.value().api_key.c_str(),
        r.value().api_key_readonly.c_str(), r.value().project.ping_key.c_str());
  }
  return 0;
}

int Serve(const Config& config) {
  SetUpLogging(config);
  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  base::SystemClock clock;
  const base::TimePoint started_at = clock.Now();
  auto opened = OpenStore(config);
  if (!opened.ok()) {
    spdlog::error("cannot open the store: {}", opened.error().message);
    return 1;
  }
  store::Store& store = *opened.value();

  auto projects = store.LoadProjects();
  if (!projects.ok()) {
    spdlog::error("cannot load projects: {}", projects.error().message);
    return 1;
  }
  if (projects.value().empty()) {
    auto r = CreateDefaultProject(store, clock);
    if (!r.ok()) {
      spdlog::error("cannot create the default project: {}", r.error().message);
      return 1;
    }
    std::printf("%s\n", InitJson(r.value()).c_str());
    std::printf("(a new data dir: the keys above are shown once; they are stored hashed)\n");
    std::fflush(stdout);
    projects = store.LoadProjects();
    if (!projects.ok()) return 1;
  }

  base::MetricsRegistry metrics;
  journal::JournalOptions jo;
  jo.history_limit = config.history_limit;
  journal::Journal journal(store, jo);
  ChangeRecorder recorder(journal, config.history_limit);
  engine::EngineOptions eo;
  engine::Engine engine(clock, recorder, eo);

  auto& lag = metrics.AddHistogram(
      "overdue_detection_lag_seconds",
      "Time from a deadline to the engine acting on it (startup catch-up included).",
      {0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 5, 60});
  engine.SetLagObserver(
      [&lag](base::Duration d) { lag.Observe(static_cast<double>(d.count()) / 1e6); });
  auto& batch_units = metrics.AddHistogram("overdue_commit_batch_size",
                                           "Units (check-ins, flips) per group commit.",
                                           {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096});
  auto& commit_latency = metrics.AddHistogram(
      "overdue_commit_latency_seconds", "Store transaction time per group commit.",
      {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1});
  auto& commit_failures =
      metrics.AddCounter("overdue_commit_failures_total", "Group commits the store refused.");
  journal.SetCommitObserver([&](const journal::CommitStats& s) {
    batch_units.Observe(static_cast<double>(s.units));
    commit_latency.Observe(static_cast<double>(s.latency.count()) / 1e6);
    if (!s.ok) commit_failures.Inc();
  });
  for (auto st : {model::Status::kNew, model::Status::kUp, model::Status::kGrace,
                  model::Status::kDown, model::Status::kPaused}) {
    metrics.AddGaugeFunction(
        "overdue_watches", "Watches by stored state.",
        {{"state", std::string(model::StatusName(st))}}, [&engine, st] {
          return static_cast<double>(engine.CountByStatus().by_status[static_cast<int>(st)]);
        });
  }
  metrics.AddGaugeFunction(
      "overdue_watches_started", "Watches with a run in progress.", {},
      [&engine] { return static_cast<double>(engine.CountByStatus().started); });
  metrics.AddGaugeFunction("overdue_journal_queue", "Units waiting for the next commit.", {},
                           [&journal] { return static_cast<double>(journal.queued()); });
  metrics.AddGaugeFunction("overdue_store_healthy", "1 while the store accepts commits.", {},
                           [&journal] { return journal.healthy() ? 1.0 : 0.0; });

  api::KeyRing keys;
  for (const store::Project& p : projects.value()) engine.AddProject(p.id, p.ping_key);
  auto api_keys = store.LoadApiKeys();
  if (!api_keys.ok()) {
    spdlog::error("cannot load API keys: {}", api_keys.error().message);
    return 1;
  }
  for (const store::ApiKey& k : api_keys.value()) keys.Add(k);

  const auto load_start = std::chrono::steady_clock::now();
  size_t bad = 0;
  auto loaded = store.LoadWatches([&](model::Watch&& w) {
    if (auto st = engine.Load(w.spec, w.runtime); !st.ok()) {
      ++bad;
      spdlog::error("watch {} not loaded: {}", w.spec.id.ToString(), st.error().message);
    }
  });
  if (!loaded.ok()) {
    spdlog::error("cannot load watches: {}", loaded.error().message);
    return 1;
  }
  if (auto st = SyncConfigWatches(config, store, engine); !st.ok()) {
    spdlog::error("config: {}", st.error().message);
    return 2;
  }
  spdlog::info("loaded {} watches in {} ms{}", engine.size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - load_start)
                   .count(),
               bad ? fmt::format(" ({} could not be loaded)", bad) : "");
  // Keys and ping keys changed by `overdue keys|projects` while we run (admin.h).
  KeyRefresher key_refresher(store, keys, engine);
  // Deadlines that passed while we were not running fire on the first tick, marked late.
  engine.SetLateBefore(started_at);
  journal.Start();

  std::atomic<bool> ticking{true};
  std::atomic<int64_t> last_tick_us{base::ToMicros(clock.Now())};
  std::thread ticker([&] {
    while (ticking.load()) {
      engine.Tick();
      last_tick_us.store(base::ToMicros(clock.Now()));
      std::this_thread::sleep_for(eo.tick);
    }
  });

  std::atomic<bool> ready{false};
  auto secret = LoadOrCreateSecret(config.data_dir);
  if (!secret.ok()) {
    spdlog::error("{}", secret.error().message);
    ticking.store(false);
    ticker.join();
    return 1;
  }
  api::Api api_handler(
      api::ApiDeps{engine, store, keys, metrics, clock,
                   [&] {
                     // Ready: loaded, listening, the store takes commits, deadlines ticking.
                     const int64_t since_tick = base::ToMicros(clock.Now()) - last_tick_us.load();
                     return ready.load() && journal.healthy() && since_tick < 1'000'000;
                   },
                   [&journal](std::vector<store::Mutation>&& m, engine::Done done) {
                     journal.Submit(std::move(m), std::move(done));
                   }},
      api::ApiOptions{"", config.ping_body_limit, config.min_period, config.check_limit,
                      config.history_limit, secret.value()});

  http::ServerOptions ho;
  ho.threads = config.threads;
  ho.max_connections = config.max_connections;
  ho.max_body_bytes = config.max_body_bytes;
  ho.large_body_path = "/api/v1/import";
  ho.large_body_bytes = config.max_import_bytes;
  ho.read_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.read_timeout);
  ho.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.idle_timeout);
  http::Server http_server(ho, [&api_handler](http::Request&& req, http::Reply reply) {
    api_handler.Handle(std::move(req), std::move(reply));
  });
  auto port = http_server.Listen(config.listen_host, config.listen_port);
  if (!port.ok()) {
    spdlog::error("cannot listen on {}:{}: {}", config.listen_host, config.listen_port,
                  port.error().message);
    ticking.store(false);
    ticker.join();
    return 1;
  }
  api_handler.SetPublicUrl(PublicUrl(config, port.value()));
  http_server.Start();
  ready.store(true);

  const std::string url = "http://" + config.listen_host + ":" + std::to_string(port.value());
  std::printf("overdue listening on %s\n", url.c_str());
  const std::string pub = PublicUrl(config, port.value());
  const std::string& ping_key = projects.value().front().ping_key;
  std::error_code exe_error;
  std::string exe = fs::read_symlink("/proc/self/exe", exe_error).string();
  if (exe_error) exe = "overdue";
  std::printf(
      "\n  Create a watch and check in (paste into a shell or a crontab line):\n"
      "    curl -fsS -m 10 --retry 5 \"%s/ping/%s/my-first-job?create=1\"\n"
      "  Then each run of the job:  curl -fsS -m 10 --retry 5 %s/ping/%s/my-first-job\n"
      "  Or wrap a command:         %s run --url %s/ping/%s/my-first-job -- <command>\n"
      "  Watches (API key from init): curl -H \"X-Api-Key: <key>\" %s/api/v3/checks/\n"
      "  Health: %s/healthz  %s/readyz  Metrics: %s/metrics   Stop: Ctrl-C\n\n",
      pub.c_str(), ping_key.c_str(), pub.c_str(), ping_key.c_str(), exe.c_str(), pub.c_str(),
      ping_key.c_str(), pub.c_str(), pub.c_str(), pub.c_str(), pub.c_str());
  std::fflush(stdout);
  spdlog::info("ready: {} watches, durability={}, ping URLs {}/ping/<uuid>", engine.size(),
               config.durability == Durability::kCommit ? "commit" : "relaxed",
               PublicUrl(config, port.value()));

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  ready.store(false);
  // Order matters: stop taking requests and let in-flight ones get their commit (the journal
  // is still running), then stop the deadlines, then flush the journal.
  http_server.Stop();
  ticking.store(false);
  ticker.join();
  journal.Stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace overdue::server
