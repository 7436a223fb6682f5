#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/key_ring.h"
#include "base/clock.h"
#include "base/json_text.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "base/thread_name.h"
#include "engine/engine.h"
#include "http/server.h"
#include "incident/desk.h"
#include "journal/journal.h"
#include "notify/channels.h"
#include "notify/notifier.h"
#include "notify/transport.h"
#include "server/admin.h"
#include "server/audit.h"
#include "server/change_recorder.h"
#include "store/sqlite/sqlite_store.h"

namespace overdue::server {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDatabaseFile = "overdue.db";
// The default project every fresh data dir gets; `overdue init` creates it.
constexpr int64_t kDefaultProjectId = 1;

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

// Syncs [[channel]] and [[policy]] tables of the config into the store (config as code):
// each is created or replaced by its id. Channel settings are checked as the API checks them.
base::Status SyncConfigNotifications(const Config& config, store::Store& store,
                                     const base::Clock& clock) {
  std::vector<store::Mutation> m;
  std::vector<base::Uuid> known;
  auto stored = store.LoadChannels();
  if (!stored.ok()) return stored.error();
  for (const model::Channel& c : stored.value()) known.push_back(c.id);
  for (size_t i = 0; i < config.channels.size(); ++i) {
    model::Channel c = config.channels[i];
    if (c.project_id == 0) c.project_id = kDefaultProjectId;
    auto parsed = nlohmann::json::parse(c.config, nullptr, false);
    if (parsed.is_discarded()) parsed = nlohmann::json::object();
    // A webhook secret left out of the file is generated once and then kept, so receivers
    // checking the signature keep working across restarts.
    if (parsed.is_object() && !parsed.contains("secret")) {
      for (const model::Channel& old : stored.value()) {
        if (old.id != c.id || old.kind != c.kind) continue;
        auto previous = nlohmann::json::parse(old.config, nullptr, false);
        if (previous.is_object() && previous.contains("secret")) {
          parsed["secret"] = previous["secret"];
        }
      }
    }
    auto normal = notify::ValidateChannel(c.kind, parsed);
    if (!normal.ok()) {
      return base::InvalidArgument(
          fmt::format("channel[{}] ({}): {}", i, c.name, normal.error().message));
    }
    c.config = base::JsonText(normal.value());
    if (c.created == base::kNoTime) c.created = clock.Now();
    known.push_back(c.id);
    m.emplace_back(store::UpsertChannel{std::move(c)});
  }
  for (size_t i = 0; i < config.policies.size(); ++i) {
    model::Policy p = config.policies[i];
    if (p.project_id == 0) p.project_id = kDefaultProjectId;
    if (p.created == base::kNoTime) p.created = clock.Now();
    std::vector<base::Uuid> used = p.late_channels;
    for (const auto& step : p.chain.steps)
      used.insert(used.end(), step.channels.begin(), step.channels.end());
    for (const base::Uuid& id : used) {
      if (std::find(known.begin(), known.end(), id) == known.end()) {
        return base::InvalidArgument(
            fmt::format("policy[{}] ({}): no channel {}", i, p.name, id.ToString()));
      }
    }
    m.emplace_back(store::UpsertPolicy{std::move(p)});
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
      : store_(store), keys_(keys), engine_(engine), thread_([this] {
          base::NameThisThread("od-keys");
          Loop();
        }) {}
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

// ---- watching the watcher -----------------------------------------------------------------

// Auditor: checks every second that overdue itself is making progress — the deadline ticker
// ran, the store takes commits, no escalation step is overdue unfired, the outbox drains —
// and only then sends the heartbeat (heartbeat_url, every heartbeat_interval) that lets
// another overdue, a healthchecks instance or any ping URL notice when this one stalls
// (DESIGN.md, safety property 5). /readyz answers from the same verdict.
class Auditor {
 public:
  static constexpr base::Duration kAuditInterval = std::chrono::seconds(1);

  Auditor(const base::Clock& clock, const Config& config, journal::Journal& journal,
          incident::Desk& desk, notify::Notifier& notifier, std::atomic<int64_t>& last_tick_us,
          base::MetricsRegistry& metrics)
      : clock_(clock),
        config_(config),
        journal_(journal),
        desk_(desk),
        notifier_(notifier),
        last_tick_us_(last_tick_us),
        heartbeat_transport_(HeartbeatTransportOptions(config)),
        heartbeats_ok_(metrics.AddCounter("overdue_heartbeats_total",
                                          "Heartbeats sent to heartbeat_url, by outcome.",
                                          {{"outcome", "ok"}})),
        heartbeats_failed_(metrics.AddCounter("overdue_heartbeats_total",
                                              "Heartbeats sent to heartbeat_url, by outcome.",
                                              {{"outcome", "failed"}})),
        heartbeats_withheld_(metrics.AddCounter("overdue_heartbeats_total",
                                                "Heartbeats sent to heartbeat_url, by outcome.",
                                                {{"outcome", "withheld"}})) {
    metrics.AddGaugeFunction("overdue_auditor_healthy",
                             "1 while the engine, escalations and notifier make progress.", {},
                             [this] { return Healthy() ? 1.0 : 0.0; });
  }
  ~Auditor() { Stop(); }

  void Start() {
    heartbeat_transport_.Start();
    thread_ = std::thread([this] {
      base::NameThisThread("od-auditor");
      Loop();
    });
  }
  void Stop() {
    {
      base::MutexLock lock(&mu_);
      if (stop_) return;
      stop_ = true;
    }
    wake_.SignalAll();
    if (thread_.joinable()) thread_.join();
    heartbeat_transport_.Stop();
  }

  bool Healthy() const { return Problem().empty(); }

  // What is stalled, or "" when everything makes progress (audit.h).
  std::string Problem() const {
    AuditInputs in;
    in.now = clock_.Now();
    in.last_tick = base::FromMicros(last_tick_us_.load());
    in.store_healthy = journal_.healthy();
    in.next_escalation = desk_.NextDue();
    in.oldest_outbox = notifier_.OldestDue();
    return AuditProblem(in);
  }

 private:
  static notify::TransportOptions HeartbeatTransportOptions(const Config& config) {
    notify::TransportOptions o;
    o.allow_private = true;  // the operator chose this URL: another overdue may be local
    o.timeout = std::min<base::Duration>(config.heartbeat_interval, std::chrono::seconds(10));
    o.max_parallel = 1;
    return o;
  }

  void Loop() {
    base::SteadyPoint last_beat{};
    std::string last_problem;
    base::MutexLock lock(&mu_);
    while (!stop_) {
      wake_.WaitFor(&mu_, kAuditInterval);
      if (stop_) break;
      const std::string problem = Problem();
      if (problem != last_problem) {
        if (problem.empty()) {
          spdlog::info("auditor: healthy again");
        } else {
          spdlog::error("auditor: {}: withholding the heartbeat", problem);
        }
        last_problem = problem;
      }
      if (config_.heartbeat_url.empty()) continue;
      const base::SteadyPoint now = std::chrono::steady_clock::now();
      if (last_beat != base::SteadyPoint{} && now - last_beat < config_.heartbeat_interval) {
        continue;
      }
      last_beat = now;
      if (!problem.empty()) {
        heartbeats_withheld_.Inc();
        continue;
      }
      notify::HttpDelivery beat;
      beat.method = "GET";
      beat.url = config_.heartbeat_url;
      beat.headers.emplace_back("User-Agent", "overdue-heartbeat");
      heartbeat_transport_.Send(std::move(beat), [this](notify::Outcome o) {
        if (o.ok) {
          heartbeats_ok_.Inc();
        } else {
          heartbeats_failed_.Inc();
          spdlog::warn("heartbeat to {} failed: {} {}", config_.heartbeat_url,
                       notify::FailureReasonName(o.reason), o.detail);
        }
      });
    }
  }

  const base::Clock& clock_;
  const Config& config_;
  journal::Journal& journal_;
  incident::Desk& desk_;
  notify::Notifier& notifier_;
  std::atomic<int64_t>& last_tick_us_;
  notify::Transport heartbeat_transport_;
  base::Counter& heartbeats_ok_;
  base::Counter& heartbeats_failed_;
  base::Counter& heartbeats_withheld_;
  base::Mutex mu_;
  base::CondVar wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
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

  // Check-ins acknowledged from the check-in log but not committed when the last run stopped
  // (journal/checkin_log.h): into the store before the watches are loaded, whatever this
  // run's settings. The log takes new check-ins only with checkin_log and durability=commit.
  std::unique_ptr<journal::CheckInLog> checkin_log;
  {
    auto log = journal::CheckInLog::Open(config.data_dir);
    if (!log.ok()) {
      spdlog::error("cannot open the check-in log: {}", log.error().message);
      return 1;
    }
    auto replayed = journal::ReplayCheckIns(store, log.value()->recovered());
    if (!replayed.ok()) {
      spdlog::error("cannot replay the check-in log: {}", replayed.error().message);
      return 1;
    }
    if (!log.value()->recovered().empty()) {
      spdlog::info(
          "check-in log: {} check-ins left by the last run, {} of them not in the store "
          "(now added)",
          log.value()->recovered().size(), replayed.value());
    }
    if (auto st = log.value()->DropRecovered(); !st.ok()) {
      spdlog::error("check-in log: {}", st.error().message);
      return 1;
    }
    if (config.checkin_log && config.durability == Durability::kCommit) {
      checkin_log = std::move(log.value());
    }
  }

  base::MetricsRegistry metrics;
  journal::JournalOptions jo;
  jo.history_limit = config.history_limit;
  journal::Journal journal(store, jo);
  auto& logged_checkins = metrics.AddCounter(
      "overdue_checkin_log_records_total",
      "Check-ins also written to the check-in log (during storms of deadline flips).");
  ChangeRecorder recorder(journal, checkin_log.get(), config.history_limit,
                          ChangeRecorder::kMaxLogOutstanding, &logged_checkins);
  engine::EngineOptions eo;
  engine::Engine engine(clock, recorder, eo);

  // Notifications: the desk turns committed state changes into incidents and outbox rows (in
  // the same transaction, as the journal's commit hook); the notifier delivers them.
  notify::TransportOptions to;
  to.timeout = config.notify_timeout;
  to.allow_private = config.allow_private_targets;
  to.ca_file = config.tls_ca_file;
  notify::Transport transport(to);
  notify::NotifierOptions no;
  no.max_attempts = config.notify_max_attempts;
  no.retry_delay = config.notify_retry_delay;
  base::Mutex notify_wake_mu;
  base::CondVar notify_wake;
  bool notify_woken = false;             // under notify_wake_mu
  std::unique_ptr<incident::Desk> desk;  // declared before the notifier, which looks channels up
  notify::Notifier notifier(
      clock, transport, no, [&desk](const base::Uuid& id) { return desk->FindChannel(id); },
      [&journal](std::vector<store::Mutation>&& m) {
        journal.Submit(std::move(m), {}, journal::Lane::kBackground);
      },
      &metrics);
  desk = std::make_unique<incident::Desk>(
      clock, store, incident::DeskOptions{}, [&journal] { journal.Submit({}, {}); },
      [&](std::vector<model::Notification> n) {
        notifier.Enqueue(std::move(n));
        base::MutexLock lock(&notify_wake_mu);
        notify_woken = true;
        notify_wake.Signal();  // a commit's notifications start now, not at the next tick
      });
  journal.SetCommitHook(desk.get());
  recorder.SetPrefetch([d = desk.get()](const base::Uuid& id) { d->Prefetch(id); });

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
  metrics.AddGaugeFunction(
      "overdue_store_wal_pages",
      "Pages (4 KiB) in SQLite's write-ahead log after the last commit; it keeps growing when "
      "checkpoints cannot finish.",
      {}, [&store] { return static_cast<double>(store.WalPages()); });

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
  if (auto st = SyncConfigNotifications(config, store, clock); !st.ok()) {
    spdlog::error("config: {}", st.error().message);
    return 2;
  }
  if (auto st = desk->Load(); !st.ok()) {
    spdlog::error("cannot load incidents: {}", st.error().message);
    return 1;
  }
  auto pending = store.LoadPendingNotifications();
  if (!pending.ok()) {
    spdlog::error("cannot load the outbox: {}", pending.error().message);
    return 1;
  }
  if (!pending.value().empty()) {
    spdlog::info("resuming {} undelivered notifications", pending.value().size());
  }
  notifier.Enqueue(std::move(pending.value()));
  metrics.AddGaugeFunction("overdue_incidents_open", "Incidents open or acknowledged.", {},
                           [&desk] { return static_cast<double>(desk->active_incidents()); });
  metrics.AddGaugeFunction("overdue_outbox_pending", "Notifications not delivered yet.", {},
                           [&notifier] { return static_cast<double>(notifier.pending()); });
  spdlog::info("loaded {} watches in {} ms{}", engine.size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - load_start)
                   .count(),
               bad ? fmt::format(" ({} could not be loaded)", bad) : "");
  // Keys and ping keys changed by `overdue keys|projects` while we run (admin.h).
  KeyRefresher key_refresher(store, keys, engine);
  // Deadlines that passed while we were not running fire on the first tick, marked late.
  engine.SetLateBefore(started_at);
  auto secret = LoadOrCreateSecret(config.data_dir);
  if (!secret.ok()) {
    spdlog::error("{}", secret.error().message);
    return 1;
  }
  if (checkin_log) checkin_log->Start();
  journal.Start();
  transport.Start();

  std::atomic<bool> ticking{true};
  std::atomic<int64_t> last_tick_us{base::ToMicros(clock.Now())};
  std::thread ticker([&] {
    base::NameThisThread("od-deadlines");
    while (ticking.load()) {
      engine.Tick();
      last_tick_us.store(base::ToMicros(clock.Now()));
      std::this_thread::sleep_for(eo.tick);
    }
  });
  // Escalation steps and due notifications each on their own thread: the desk's lock is held
  // while a commit opens a storm of incidents, and neither deadline detection nor the
  // deliveries of incidents already committed may wait for that.
  std::thread escalation_ticker([&] {
    base::NameThisThread("od-escalation");
    while (ticking.load()) {
      desk->Tick();
      std::this_thread::sleep_for(eo.tick);
    }
  });
  std::thread notify_ticker([&] {
    base::NameThisThread("od-notifier");
    while (ticking.load()) {
      notifier.Tick();
      base::MutexLock lock(&notify_wake_mu);
      if (!notify_woken) notify_wake.WaitFor(&notify_wake_mu, eo.tick);
      notify_woken = false;
    }
  });

  std::atomic<bool> ready{false};
  Auditor auditor(clock, config, journal, *desk, notifier, last_tick_us, metrics);
  api::Api api_handler(
      api::ApiDeps{engine, store, keys, metrics, clock,
                   [&] {
                     // Ready: loaded, listening, the store takes commits, deadlines ticking,
                     // escalations firing and the outbox draining (the auditor).
                     return ready.load() && auditor.Healthy();
                   },
                   [&journal](std::vector<store::Mutation>&& m, engine::Done done) {
                     journal.Submit(std::move(m), std::move(done));
                   },
                   desk.get()},
      api::ApiOptions{"", config.ping_body_limit, config.min_period, config.check_limit,
                      config.history_limit, secret.value(), config.ack_link_ttl});

  http::ServerOptions ho;
  ho.threads = config.threads;
  ho.max_connections = config.max_connections;
  ho.max_body_bytes = config.max_body_bytes;
  ho.large_body_path = "/api/v1/import";
  ho.large_body_bytes = config.max_import_bytes;
  ho.read_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.read_timeout);
  ho.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.idle_timeout);
  // Server-side request latency by route: from the request read whole to its response written
  // (for a check-in under durability=commit, that includes waiting for the commit).
  std::array<base::Histogram*, 3> request_latency{};
  const char* const kRouteClasses[] = {"ping", "api", "other"};
  for (size_t i = 0; i < request_latency.size(); ++i) {
    request_latency[i] = &metrics.AddHistogram(
        "overdue_http_request_duration_seconds",
        "Time from a request read whole to its response written, by route (ping: /ping/..., "
        "api: /api/..., other); the time a request waited in its socket is not included.",
        {0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1,
         0.25, 0.5, 1, 2.5, 5, 10},
        {{"route", kRouteClasses[i]}});
  }
  ho.classify = [](const http::Request& r) {
    const std::string_view path = r.path;
    if (path.starts_with("/ping/")) return 0;
    if (path.starts_with("/api/")) return 1;
    return 2;
  };
  ho.observe = [request_latency](int route, std::chrono::nanoseconds d) {
    request_latency[static_cast<size_t>(route)]->Observe(static_cast<double>(d.count()) / 1e9);
  };
  http::Server http_server(ho, [&api_handler](http::Request&& req, http::Reply reply) {
    api_handler.Handle(std::move(req), std::move(reply));
  });
  auto port = http_server.Listen(config.listen_host, config.listen_port);
  if (!port.ok()) {
    spdlog::error("cannot listen on {}:{}: {}", config.listen_host, config.listen_port,
                  port.error().message);
    ticking.store(false);
    ticker.join();
    escalation_ticker.join();
    notify_ticker.join();
    notifier.Stop();
    transport.Stop();
    journal.Stop();  // before the desk (its commit hook) goes
    return 1;
  }
  api_handler.SetPublicUrl(PublicUrl(config, port.value()));
  desk->SetLinks(PublicUrl(config, port.value()),
                 [&api_handler](int64_t id) { return api_handler.AckUrl(id); });
  http_server.Start();
  ready.store(true);
  auditor.Start();

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
  auditor.Stop();
  ticking.store(false);
  ticker.join();
  escalation_ticker.join();
  notify_ticker.join();
  // Attempts cut short here stay pending in the store and are resumed at the next start.
  notifier.Stop();
  transport.Stop();
  if (checkin_log) checkin_log->Stop();
  journal.Stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace overdue::server
