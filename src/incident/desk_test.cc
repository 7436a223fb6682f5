#include "incident/desk.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/json_text.h"
#include "base/mutex.h"
#include "base/time.h"
#include "incident/timeline.h"
#include "store/sqlite/sqlite_store.h"

namespace overdue::incident {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const TimePoint kT0 = base::FromMicros(1'800'000'000'000'000);

model::Policy TwoStepPolicy(const Uuid& first, const Uuid& second);  // below

// A real SQLite store and journal, a manual clock, the desk as the journal's commit hook.
class DeskTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override {
    Close();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    store::SqliteOptions o;
    o.path = dir_ + "/overdue.db";
    o.sync_full = false;
    auto s = store::OpenSqlite(o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s.value());
    store::Project project;
    project.id = 1;
    project.uuid = Uuid::Random();
    project.name = "default";
    project.ping_key = "pingkey-" + project.uuid.ToString();
    project.badge_key = "badge-" + project.uuid.ToString();
    ASSERT_TRUE(store_->Apply({store::UpsertProject{project}}).ok());
    journal_ = std::make_unique<journal::Journal>(*store_, journal::JournalOptions{});
    desk_ = std::make_unique<Desk>(
        clock_, *store_,
        DeskOptions{"http://overdue.test",
                    [](int64_t id) { return "http://overdue.test/ack/" + std::to_string(id); }},
        [this] { journal_->Submit({}, {}); },
        [this](std::vector<model::Notification> n) {
          base::MutexLock lock(&mu_);
          for (auto& x : n) delivered_.push_back(std::move(x));
        });
    journal_->SetCommitHook(desk_.get());
    ASSERT_TRUE(desk_->Load().ok());
    journal_->Start();
  }

  void Close() {
    journal_->Stop();
    journal_.reset();
    desk_.reset();
    store_.reset();
  }

  // Commits `m` as one unit (the desk adds what it makes of it) and waits.
  void Commit(std::vector<store::Mutation> m) {
    std::promise<base::Status> p;
    journal_->Submit(std::move(m), [&p](base::Status st) { p.set_value(st); });
    ASSERT_TRUE(p.get_future().get().ok());
  }
  // Waits until every desk change made so far is committed.
  void Flush() { Commit({}); }

  std::vector<model::Notification> Delivered() {
    base::MutexLock lock(&mu_);
    return delivered_;
  }
  std::vector<std::string> Events(const Uuid& channel) {
    std::vector<std::string> out;
    for (const auto& n : Delivered()) {
      if (n.channel_id == channel) out.push_back(n.event);
    }
    return out;
  }

  model::Channel AddChannel(const std::string& name) {
    model::Channel c;
    c.id = Uuid::Random();
    c.project_id = 1;
    c.kind = "webhook";
    c.name = name;
    c.config = R"({"url":"http://receiver.test/hook"})";
    std::promise<Status> p;
    desk_->PutChannel(c, [&p](Status st) { p.set_value(st); });
    EXPECT_TRUE(p.get_future().get().ok());
    return c;
  }

  void AddPolicy(model::Policy policy) {
    policy.id = Uuid::Random();
    policy.project_id = 1;
    std::promise<Status> p;
    desk_->PutPolicy(std::move(policy), [&p](Status st) { p.set_value(st); });
    ASSERT_TRUE(p.get_future().get().ok());
  }

  model::WatchSpec AddWatch(const std::string& name, const std::string& tags = "") {
    model::WatchSpec s;
    s.id = Uuid::Random();
    s.project_id = 1;
    s.name = name;
    s.slug = name;
    s.tags = tags;
    s.created = clock_.Now();
    Commit({store::UpsertWatch{model::Watch{s, {}}}});
    return s;
  }

  // A default two-step policy paging `pager` that sends the early "late" warning to `chat`.
  void AddLatePolicy(const model::Channel& chat, const model::Channel& pager) {
    model::Policy p = TwoStepPolicy(pager.id, pager.id);
    p.late_channels = {chat.id};
    AddPolicy(p);
  }
  // A state change of `w` as the engine records it.
  void Flip(const model::WatchSpec& w, model::Status from, model::Status to) {
    model::WatchRuntime rt;
    rt.status = to;
    Commit({store::UpdateRuntime{w.id, rt},
            store::InsertFlip{model::Flip{w.id, clock_.Now(), from, to, ""}}});
  }

  // What the engine records when a watch misses its deadline.
  void GoDown(const model::WatchSpec& w) {
    model::WatchRuntime rt;
    rt.status = model::Status::kDown;
    model::Flip f{w.id, clock_.Now(), model::Status::kUp, model::Status::kDown, "timeout"};
    Commit({store::UpdateRuntime{w.id, rt}, store::InsertFlip{f}});
  }
  void CheckIn(const model::WatchSpec& w, model::Signal signal, int failures,
               std::optional<model::Status> flip_to, int n) {
    model::WatchRuntime rt;
    rt.failures = failures;
    rt.status = flip_to.value_or(model::Status::kDown);
    model::CheckIn c;
    c.watch_id = w.id;
    c.n = n;
    c.at = clock_.Now();
    c.signal = signal;
    std::vector<store::Mutation> m{store::UpdateRuntime{w.id, rt}, store::InsertCheckIn{c}};
    if (flip_to) {
      const model::Status from =
          *flip_to == model::Status::kDown ? model::Status::kUp : model::Status::kDown;
      m.emplace_back(store::InsertFlip{model::Flip{w.id, clock_.Now(), from, *flip_to,
                                                   signal == model::Signal::kFail ? "fail" : ""}});
    }
    Commit(std::move(m));
  }

  // Waits (up to 10 s) until the prefetch thread holds `n` reads; returns how many it holds.
  size_t WaitPrefetched(size_t n) {
    const auto until = std::chrono::steady_clock::now() + seconds(10);
    while (desk_->prefetched() < n && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    return desk_->prefetched();
  }

  model::Incident OnlyActive() {
    auto a = store_->LoadActiveIncidents();
    EXPECT_TRUE(a.ok());
    EXPECT_EQ(a.value().size(), 1u);
    return a.value().empty() ? model::Incident{} : a.value().front();
  }

  std::vector<std::string> TimelineKinds(int64_t id) {
    std::vector<std::string> out;
    auto inc = store_->GetIncident(id);
    EXPECT_TRUE(inc.ok() && inc.value());
    if (!inc.ok() || !inc.value()) return out;
    auto timeline = ReadTimeline(*store_, inc.value()->project_id, id);
    EXPECT_TRUE(timeline.ok());
    if (!timeline.ok()) return out;
    for (const auto& e : timeline.value()) out.push_back(e.kind);
    return out;
  }

  std::string dir_ = [] {
    std::string t = std::filesystem::temp_directory_path() / "overdue-desk-XXXXXX";
    return std::string(mkdtemp(t.data()));
  }();
  base::ManualClock clock_{kT0};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<journal::Journal> journal_;
  std::unique_ptr<Desk> desk_;
  base::Mutex mu_;
  std::vector<model::Notification> delivered_ GUARDED_BY(mu_);
};

model::Policy TwoStepPolicy(const Uuid& first, const Uuid& second) {
  model::Policy p;
  p.name = "on-call";
  p.is_default = true;
  p.chain.steps = {model::EscalationStep{{first}, seconds(60)},
                   model::EscalationStep{{second}, seconds(120)}};
  return p;
}

TEST_F(DeskTest, MissedDeadlineOpensOneIncidentWithItsNotificationsInTheSameCommit) {
  const auto a = AddChannel("ops");
  const auto w = AddWatch("backup");
  GoDown(w);
  // Right after the flip's commit: the incident and its outbox row are durable, and the
  // notification was handed to the notifier.
  const model::Incident inc = OnlyActive();
  EXPECT_EQ(inc.cause, "timeout");
  EXPECT_EQ(inc.watch_name, "backup");
  auto pending = store_->LoadPendingNotifications();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending.value().size(), 1u);
  EXPECT_EQ(pending.value()[0].channel_id, a.id);
  EXPECT_EQ(pending.value()[0].event, "down");
  EXPECT_NE(pending.value()[0].context.find("http://overdue.test/ack/"), std::string::npos);
  EXPECT_EQ(Events(a.id), std::vector<std::string>{"down"});
  // The same lapse recorded again (e.g. a duplicate flip) opens nothing new.
  GoDown(w);
  EXPECT_EQ(store_->LoadActiveIncidents().value().size(), 1u);
  EXPECT_EQ(Events(a.id).size(), 1u);
}

TEST_F(DeskTest, EscalationStepsFireOnTimeNeverEarlyNeverTwice) {
  const auto a = AddChannel("first");
  const auto b = AddChannel("second");
  AddPolicy(TwoStepPolicy(a.id, b.id));
  const auto w = AddWatch("backup");
  GoDown(w);
  clock_.Advance(seconds(60) - milliseconds(1));
  EXPECT_EQ(desk_->Tick(), 0u);  // not early
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(desk_->Tick(), 1u);
  EXPECT_EQ(desk_->Tick(), 0u);  // not twice
  Flush();
  EXPECT_EQ(Events(b.id), std::vector<std::string>{"escalation"});
  // The last step waits 120 s, then the chain is exhausted (repeat 1): nobody is told again.
  clock_.Advance(seconds(120));
  EXPECT_EQ(desk_->Tick(), 1u);
  Flush();
  EXPECT_EQ(Events(a.id), std::vector<std::string>{"down"});
  EXPECT_EQ(Events(b.id), std::vector<std::string>{"escalation"});
  EXPECT_EQ(OnlyActive().next_at, base::kNever);
}

// No policy: the watch's channels are told once; when its wait is over, the timeline says
// that nobody else will be told because there is no policy (not that a chain ran out).
TEST_F(DeskTest, WithoutAPolicyTheTimelineSaysNobodyElseIsTold) {
  const auto a = AddChannel("ops");
  const auto w = AddWatch("backup");
  GoDown(w);
  const int64_t id = OnlyActive().id;
  EXPECT_EQ(OnlyActive().policy_name, "");
  clock_.Advance(std::chrono::minutes(10) - milliseconds(1));
  EXPECT_EQ(desk_->Tick(), 0u);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(desk_->Tick(), 1u);
  Flush();
  EXPECT_EQ(Events(a.id), std::vector<std::string>{"down"});
  EXPECT_EQ(OnlyActive().next_at, base::kNever);
  auto timeline = ReadTimeline(*store_, OnlyActive().project_id, id);
  ASSERT_TRUE(timeline.ok());
  ASSERT_FALSE(timeline.value().empty());
  EXPECT_EQ(timeline.value().back().kind, "escalation");
  EXPECT_EQ(timeline.value().back().message,
            "not acknowledged 10m after the notification; no escalation policy, so nobody else "
            "is told");
}

TEST_F(DeskTest, AcknowledgementStopsTheEscalationAndIsDurable) {
  const auto a = AddChannel("first");
  const auto b = AddChannel("second");
  AddPolicy(TwoStepPolicy(a.id, b.id));
  const auto w = AddWatch("backup");
  GoDown(w);
  const int64_t id = OnlyActive().id;
  clock_.Advance(seconds(30));
  std::promise<Result<model::Incident>> acked;
  desk_->Acknowledge(1, id, "alice", [&](Result<model::Incident> r) { acked.set_value(r); });
  auto r = acked.get_future().get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().state, model::IncidentState::kAcknowledged);
  EXPECT_EQ(OnlyActive().acked_by, "alice");  // committed before the answer
  clock_.Advance(seconds(600));
  EXPECT_EQ(desk_->Tick(), 0u);
  Flush();
  EXPECT_TRUE(Events(b.id).empty());
  // Another project cannot see or touch it.
  std::promise<Result<model::Incident>> other;
  desk_->Acknowledge(2, id, "mallory", [&](Result<model::Incident> x) { other.set_value(x); });
  EXPECT_EQ(other.get_future().get().error().code, base::ErrorCode::kNotFound);
}

TEST_F(DeskTest, SuccessCheckInResolvesAndTellsEveryoneToldSoFar) {
  const auto a = AddChannel("first");
  const auto b = AddChannel("second");
  AddPolicy(TwoStepPolicy(a.id, b.id));
  const auto w = AddWatch("backup");
  GoDown(w);
  const int64_t id = OnlyActive().id;
  clock_.Advance(seconds(60));
  desk_->Tick();
  Flush();
  CheckIn(w, model::Signal::kSuccess, 0, model::Status::kUp, 1);
  EXPECT_TRUE(store_->LoadActiveIncidents().value().empty());
  auto stored = store_->GetIncident(id);
  ASSERT_TRUE(stored.ok());
  const std::optional<model::Incident>& inc = stored.value();
  ASSERT_TRUE(inc);
  EXPECT_EQ(inc->state, model::IncidentState::kResolved);
  EXPECT_EQ(inc->resolved_by, "check-in");
  EXPECT_EQ(Events(a.id), (std::vector<std::string>{"down", "recovery"}));
  EXPECT_EQ(Events(b.id), (std::vector<std::string>{"escalation", "recovery"}));
  EXPECT_EQ(
      TimelineKinds(id),
      (std::vector<std::string>{"opened", "notification", "escalation", "notification", "check_in",
                                "state", "resolved", "notification", "notification"}));
  // Resolving again is a conflict, and the stale escalation timer does nothing.
  std::promise<Result<model::Incident>> again;
  desk_->Resolve(1, id, "bob", "done", [&](Result<model::Incident> r) { again.set_value(r); });
  EXPECT_EQ(again.get_future().get().error().code, base::ErrorCode::kConflict);
  clock_.Advance(seconds(1000));
  EXPECT_EQ(desk_->Tick(), 0u);
}

// A recovery message says what the watch is now. After a check-in it is up and its last ping
// is that check-in; when a person resolves the incident, the watch is still down (an active
// incident's watch has not checked in since); escalations carry the last ping too.
TEST_F(DeskTest, MessagesSayWhatTheWatchIsNow) {
  const auto a = AddChannel("first");
  const auto b = AddChannel("second");
  AddPolicy(TwoStepPolicy(a.id, b.id));
  const auto w = AddWatch("backup");
  CheckIn(w, model::Signal::kSuccess, 0, std::nullopt, 1);
  clock_.Advance(seconds(30));
  GoDown(w);
  const int64_t first = OnlyActive().id;
  clock_.Advance(seconds(60));
  ASSERT_EQ(desk_->Tick(), 1u);
  Flush();
  std::promise<Result<model::Incident>> resolved;
  desk_->Resolve(1, first, "dana", "false alarm",
                 [&](Result<model::Incident> r) { resolved.set_value(r); });
  ASSERT_TRUE(resolved.get_future().get().ok());
  Flush();

  clock_.Advance(seconds(30));
  GoDown(w);
  clock_.Advance(seconds(5));
  CheckIn(w, model::Signal::kSuccess, 0, model::Status::kUp, 2);

  const std::vector<model::Notification> delivered = Delivered();
  const auto find = [&](int64_t incident, const std::string& event, const Uuid& channel) {
    for (const auto& d : delivered) {
      if (d.incident_id == incident && d.event == event && d.channel_id == channel) {
        return nlohmann::json::parse(d.context);
      }
    }
    ADD_FAILURE() << "no " << event << " of incident " << incident;
    return nlohmann::json::object();
  };
  const auto check_in_1 = find(first, "escalation", b.id)["last_check_in"]["at"];
  ASSERT_TRUE(check_in_1.is_string());
  ASSERT_FALSE(check_in_1.get<std::string>().empty());
  EXPECT_EQ(find(first, "escalation", b.id)["watch"]["last_ping"], check_in_1);
  EXPECT_EQ(find(first, "escalation", b.id)["watch"]["status"], "down");
  for (const Uuid& ch : {a.id, b.id}) {
    const auto by_hand = find(first, "recovery", ch);
    EXPECT_EQ(by_hand["watch"]["status"], "down");
    EXPECT_EQ(by_hand["watch"]["last_ping"], check_in_1);
    EXPECT_EQ(by_hand["incident"]["resolved_by"], "dana");
  }
  const auto back_up = find(first + 1, "recovery", a.id);
  EXPECT_EQ(back_up["watch"]["status"], "up");
  ASSERT_TRUE(back_up["last_check_in"]["at"].is_string());
  EXPECT_NE(back_up["last_check_in"]["at"], check_in_1);
  EXPECT_EQ(back_up["watch"]["last_ping"], back_up["last_check_in"]["at"]);
}

TEST_F(DeskTest, FailuresOpenAnIncidentOnlyAfterThePolicysCount) {
  const auto a = AddChannel("ops");
  model::Policy p;
  p.name = "flaky";
  p.tags = {"flaky"};
  p.alert_after_failures = 3;
  p.chain.steps = {model::EscalationStep{{a.id}, seconds(60)}};
  AddPolicy(p);
  const auto w = AddWatch("etl", "prod flaky");
  CheckIn(w, model::Signal::kFail, 1, model::Status::kDown, 1);
  CheckIn(w, model::Signal::kFail, 2, std::nullopt, 2);
  EXPECT_TRUE(store_->LoadActiveIncidents().value().empty());
  CheckIn(w, model::Signal::kFail, 3, std::nullopt, 3);
  const model::Incident inc = OnlyActive();
  EXPECT_EQ(inc.cause, "fail");
  EXPECT_EQ(inc.policy_name, "flaky");
  EXPECT_NE(inc.cause_detail.find("3 consecutive failures"), std::string::npos);
  EXPECT_EQ(Events(a.id), std::vector<std::string>{"down"});
}

TEST_F(DeskTest, GraceSendsTheEarlyLateWarningToTheLighterChannel) {
  const auto chat = AddChannel("chat");
  const auto pager = AddChannel("pager");
  AddLatePolicy(chat, pager);
  const auto w = AddWatch("backup");
  Flip(w, model::Status::kUp, model::Status::kGrace);
  EXPECT_EQ(Events(chat.id), std::vector<std::string>{"late"});
  EXPECT_TRUE(Events(pager.id).empty());
  EXPECT_TRUE(store_->LoadActiveIncidents().value().empty());
}

// The incident a lapse opens takes the late warning of that lapse: its timeline begins with
// the warning. A warning of an earlier lapse (the watch checked in since) stays on its own.
TEST_F(DeskTest, TheIncidentOfALapseTakesItsLateWarning) {
  const auto chat = AddChannel("chat");
  const auto pager = AddChannel("pager");
  AddLatePolicy(chat, pager);
  const auto w = AddWatch("backup");
  Flip(w, model::Status::kUp, model::Status::kGrace);  // late warning 1
  clock_.Advance(seconds(10));
  Flip(w, model::Status::kGrace, model::Status::kUp);  // a check-in came: that lapse is over
  clock_.Advance(seconds(10));
  Flip(w, model::Status::kUp, model::Status::kGrace);  // late warning 2
  clock_.Advance(seconds(10));
  GoDown(w);
  const int64_t id = OnlyActive().id;

  store::NotificationFilter all;
  all.project_id = 1;
  const auto listed = store_->ListNotifications(all);
  ASSERT_TRUE(listed.ok());
  std::map<std::string, std::vector<int64_t>> incident_of;  // event -> incident of each
  for (const auto& n : listed.value()) incident_of[n.event].push_back(n.incident_id);
  ASSERT_EQ(incident_of["late"].size(), 2u);
  std::sort(incident_of["late"].begin(), incident_of["late"].end());
  EXPECT_EQ(incident_of["late"], (std::vector<int64_t>{0, id}));
  EXPECT_EQ(incident_of["down"], std::vector<int64_t>{id});
  const auto kinds = TimelineKinds(id);
  ASSERT_GE(kinds.size(), 2u);
  EXPECT_EQ(kinds[0], "notification");  // the late warning, before the incident opened
  EXPECT_EQ(kinds[1], "opened");
}

TEST_F(DeskTest, SilenceRecordsTheIncidentButHoldsItsNotifications) {
  const auto a = AddChannel("ops");
  const auto w = AddWatch("backup", "maintenance-db");
  model::Silence s;
  s.id = Uuid::Random();
  s.project_id = 1;
  s.tag = "maintenance-db";
  s.starts = kT0;
  s.ends = kT0 + std::chrono::hours(1);
  std::promise<Status> put;
  desk_->PutSilence(s, [&](Status st) { put.set_value(st); });
  ASSERT_TRUE(put.get_future().get().ok());
  GoDown(w);
  const model::Incident inc = OnlyActive();
  EXPECT_TRUE(Delivered().empty());
  store::NotificationFilter f;
  f.project_id = 1;
  f.statuses = {model::NotificationStatus::kHeld};
  auto held = store_->ListNotifications(f);
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held.value().size(), 1u);
  EXPECT_EQ(held.value()[0].incident_id, inc.id);
  EXPECT_EQ(TimelineKinds(inc.id), (std::vector<std::string>{"opened", "held"}));
}

TEST_F(DeskTest, EscalationResumesAfterRestartFromTheStoredIncident) {
  const auto a = AddChannel("first");
  const auto b = AddChannel("second");
  AddPolicy(TwoStepPolicy(a.id, b.id));
  const auto w = AddWatch("backup");
  GoDown(w);
  Close();
  Open();
  clock_.Advance(seconds(59));
  EXPECT_EQ(desk_->Tick(), 0u);
  clock_.Advance(seconds(1));
  EXPECT_EQ(desk_->Tick(), 1u);
  Flush();
  EXPECT_EQ(Events(b.id), std::vector<std::string>{"escalation"});
  // New ids continue after the stored ones.
  const auto w2 = AddWatch("other");
  GoDown(w2);
  auto loaded = store_->LoadActiveIncidents();
  ASSERT_TRUE(loaded.ok());
  const auto& active = loaded.value();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_NE(active[0].id, active[1].id);
}

TEST_F(DeskTest, EditingThePolicyNeverChangesAnEscalationAlreadyRunning) {
  const auto a = AddChannel("first");
  const auto b = AddChannel("second");
  const auto c = AddChannel("third");
  model::Policy p = TwoStepPolicy(a.id, b.id);
  p.id = Uuid::Random();
  p.project_id = 1;
  std::promise<Status> put;
  desk_->PutPolicy(p, [&](Status st) { put.set_value(st); });
  ASSERT_TRUE(put.get_future().get().ok());
  const auto w = AddWatch("backup");
  GoDown(w);
  p.chain.steps[1].channels = {c.id};
  std::promise<Status> edit;
  desk_->PutPolicy(p, [&](Status st) { edit.set_value(st); });
  ASSERT_TRUE(edit.get_future().get().ok());
  clock_.Advance(seconds(60));
  EXPECT_EQ(desk_->Tick(), 1u);
  Flush();
  EXPECT_EQ(Events(b.id), std::vector<std::string>{"escalation"});
  EXPECT_TRUE(Events(c.id).empty());
}

// Prefetch: the commit of a deadline flip uses what the prefetch thread read, unless a later
// commit changed the watch (then it reads the store itself).
TEST_F(DeskTest, DeadlineFlipUsesThePrefetchedWatchUnlessAChangeCommittedSince) {
  AddChannel("ops");
  const auto a = AddWatch("alpha");
  const auto b = AddWatch("bravo");
  desk_->Prefetch(a.id);
  desk_->Prefetch(b.id);
  ASSERT_EQ(WaitPrefetched(2), 2u);
  // Renamed behind the desk's back (straight into the store): the prefetched name is used,
  // which shows the commit did not read the store.
  model::WatchSpec renamed = a;
  renamed.name = "alpha-renamed";
  ASSERT_TRUE(store_->Apply({store::UpsertWatch{model::Watch{renamed, {}}}}).ok());
  // bravo checks in through the journal after its prefetch: that read is stale now.
  CheckIn(b, model::Signal::kSuccess, 0, std::nullopt, 7);
  GoDown(a);
  GoDown(b);
  auto active = store_->LoadActiveIncidents();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active.value().size(), 2u);
  std::map<std::string, std::string> context_of;
  for (const auto& n : Delivered()) context_of[n.watch_id.ToString()] = n.context;
  for (const auto& inc : active.value()) {
    if (inc.watch_id == a.id) {
      EXPECT_EQ(inc.watch_name, "alpha");
    }
  }
  const auto ctx_b = nlohmann::json::parse(context_of[b.id.ToString()]);
  // The check-in committed after the prefetch is the one in the message.
  EXPECT_EQ(ctx_b["last_check_in"]["at"], base::FormatIso8601(clock_.Now(), false));
  EXPECT_EQ(desk_->prefetched(), 0u);  // used or dropped: nothing kept
}

// A flip to grace keeps its prefetched read for the flip to down that may follow, so a storm
// of lapses does not read every watch again; any committed change of the watch drops it.
TEST_F(DeskTest, AFlipToGraceReadsAheadForTheFlipToDown) {
  AddChannel("ops");
  const auto a = AddWatch("alpha");
  const auto b = AddWatch("bravo");
  const auto c = AddWatch("charlie");
  const auto d = AddWatch("delta");
  const auto go_grace = [this](const model::WatchSpec& w) {
    model::WatchRuntime rt;
    rt.status = model::Status::kGrace;
    model::Flip f{w.id, clock_.Now(), model::Status::kUp, model::Status::kGrace, "timeout"};
    Commit({store::UpdateRuntime{w.id, rt}, store::InsertFlip{f}});
  };
  for (const auto* w : {&a, &b, &c, &d}) desk_->Prefetch(w->id);
  ASSERT_EQ(WaitPrefetched(4), 4u);
  for (const auto* w : {&a, &b, &c, &d}) go_grace(*w);
  EXPECT_EQ(desk_->prefetched(), 0u);
  EXPECT_EQ(desk_->read_ahead(), 4u);
  EXPECT_TRUE(Delivered().empty());  // grace notifies nobody without a "late" policy

  // Renamed behind the desk's back: the flip to down still uses the name read at grace,
  // which shows neither the prefetch thread nor the commit read the store again.
  model::WatchSpec renamed = a;
  renamed.name = "alpha-renamed";
  ASSERT_TRUE(store_->Apply({store::UpsertWatch{model::Watch{renamed, {}}}}).ok());
  desk_->Prefetch(a.id);
  GoDown(a);
  EXPECT_EQ(desk_->read_ahead(), 3u);
  // bravo checks in, charlie is renamed through the journal, delta is deleted: each drops
  // its read, and the flips to down read the store.
  CheckIn(b, model::Signal::kSuccess, 0, std::nullopt, 7);
  model::WatchSpec c2 = c;
  c2.name = "charlie-2";
  Commit({store::UpsertWatch{model::Watch{c2, {}}}});
  Commit({store::DeleteWatch{d.id}});
  EXPECT_EQ(desk_->read_ahead(), 0u);
  GoDown(b);
  GoDown(c);
  std::map<std::string, std::string> name_of;
  auto active = store_->LoadActiveIncidents();
  ASSERT_TRUE(active.ok());
  for (const auto& inc : active.value()) name_of[inc.watch_id.ToString()] = inc.watch_name;
  EXPECT_EQ(name_of[a.id.ToString()], "alpha");
  EXPECT_EQ(name_of[c.id.ToString()], "charlie-2");
  std::map<std::string, std::string> context_of;
  for (const auto& n : Delivered()) {
    context_of[n.watch_id.ToString()] = n.context;
    // Written as text directly, it is still what dumping the parsed value gives: compact,
    // keys sorted, "event" first (the notifier relies on that prefix).
    EXPECT_EQ(n.context, base::JsonText(nlohmann::json::parse(n.context)));
    EXPECT_TRUE(n.context.starts_with(R"({"event":"down","incident":{"ack_url":)")) << n.context;
  }
  ASSERT_EQ(context_of.size(), 3u);
  const auto ctx_b = nlohmann::json::parse(context_of[b.id.ToString()]);
  EXPECT_EQ(ctx_b["last_check_in"]["at"], base::FormatIso8601(clock_.Now(), false));
  const auto ctx_a = nlohmann::json::parse(context_of[a.id.ToString()]);
  EXPECT_TRUE(ctx_a["last_check_in"].is_null());
}

// A flip to grace whose watch nobody read before its commit (a start-up's catch-up commits
// lapses faster than the prefetch thread reads them) is read after that commit, on the
// prefetch thread, and kept for the flip to down; not when the same commit changed the watch.
TEST_F(DeskTest, AFlipToGraceWithoutAReadIsReadAheadAfterItsCommit) {
  AddChannel("ops");
  const auto a = AddWatch("alpha");
  const auto b = AddWatch("bravo");
  const auto grace = [](const model::WatchSpec& w, TimePoint at) -> std::vector<store::Mutation> {
    model::WatchRuntime rt;
    rt.status = model::Status::kGrace;
    return {store::UpdateRuntime{w.id, rt},
            store::InsertFlip{
                model::Flip{w.id, at, model::Status::kUp, model::Status::kGrace, "timeout"}}};
  };
  const auto wait_read_ahead = [this](size_t n) {
    const auto until = std::chrono::steady_clock::now() + seconds(10);
    while (desk_->read_ahead() < n && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    return desk_->read_ahead();
  };
  // bravo flips to grace and checks in within one commit: nothing to read ahead. Queued
  // first, it would be read first: the wait for alpha's read below would see it.
  auto m = grace(b, clock_.Now());
  model::CheckIn c;
  c.watch_id = b.id;
  c.n = 3;
  c.at = clock_.Now();
  c.signal = model::Signal::kSuccess;
  m.emplace_back(store::InsertCheckIn{c});
  Commit(std::move(m));
  Commit(grace(a, clock_.Now()));  // no Prefetch: the commit had no read of alpha
  ASSERT_EQ(wait_read_ahead(1), 1u);
  EXPECT_EQ(desk_->prefetched(), 0u);

  // Renamed behind the desk's back: the flip to down uses the name read after the flip to
  // grace, which shows its commit did not read the store.
  model::WatchSpec renamed = a;
  renamed.name = "alpha-renamed";
  ASSERT_TRUE(store_->Apply({store::UpsertWatch{model::Watch{renamed, {}}}}).ok());
  desk_->Prefetch(a.id);
  GoDown(a);
  EXPECT_EQ(desk_->read_ahead(), 0u);
  EXPECT_EQ(OnlyActive().watch_name, "alpha");
}

}  // namespace
}  // namespace overdue::incident
