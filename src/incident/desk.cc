#include "incident/desk.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <deque>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/duration.h"
#include "base/json_text.h"
#include "base/thread_name.h"
#include "base/time.h"

namespace overdue::incident {
namespace {

using model::Incident;
using model::IncidentState;
using model::Notification;
using nlohmann::json;

struct UuidHash {
  size_t operator()(const Uuid& u) const {
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(u.bytes.data()), u.bytes.size()));
  }
};

// The parts of a watch a message and the policy choice need, kept for active incidents.
struct WatchInfo {
  Uuid id;
  int64_t project_id = 0;
  std::string name;
  std::string slug;
  std::string kind = "job";
  std::string tags;
  std::string desc;
  std::string channels;  // the watch's own channel list (healthchecks' field)
};

WatchInfo InfoOf(const model::WatchSpec& s) {
  return WatchInfo{
      s.id,   s.project_id, s.name,    s.slug, std::string(model::WatchKindName(s.kind)),
      s.tags, s.desc,       s.channels};
}

std::vector<std::string> SplitTags(std::string_view tags) {
  std::vector<std::string> out;
  std::istringstream in{std::string(tags)};
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

// At most `max` bytes of `s`, not ending inside a UTF-8 sequence (a body cut for a message).
std::string Cut(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  for (int back = 0; back < 3 && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80;
       ++back) {
    --n;
  }
  return std::string(s.substr(0, n));
}

std::string Iso(TimePoint t) { return t == base::kNoTime ? "" : base::FormatIso8601(t, false); }

struct Timer {
  TimePoint due;
  int64_t incident_id;
  int64_t escalation_id;
  bool operator>(const Timer& o) const { return due > o.due; }
};

// A desk change waiting for the next commit.
struct Pending {
  std::vector<store::Mutation> mutations;
  std::vector<Notification> notifications;  // pending ones, for the notifier after commit
  std::function<void(Status)> done;
};

}  // namespace

namespace {

// What the prefetch thread read about a watch, and the commit count before it read.
struct Fetched {
  bool found = false;
  WatchInfo info;
  std::optional<model::CheckIn> last;  // none: the watch has no check-in
  uint64_t seq = 0;
};

}  // namespace

struct Desk::Impl {
  Impl(const base::Clock& c, store::Store& s, DeskOptions o, std::function<void()> w,
       std::function<void(std::vector<Notification>)> d)
      : clock(c), store(s), options(std::move(o)), wake(std::move(w)), deliver(std::move(d)) {
    fetcher = std::thread([this] {
      base::NameThisThread("od-prefetch");
      FetchLoop();
    });
  }
  ~Impl() {
    {
      base::MutexLock lock(&fetch_mu);
      fetch_stop = true;
      fetch_cv.Signal();
    }
    fetcher.join();
  }

  const base::Clock& clock;
  store::Store& store;
  DeskOptions options;
  std::function<void()> wake;
  std::function<void(std::vector<Notification>)> deliver;

  mutable base::Mutex mu;
  std::map<Uuid, model::Channel> channels GUARDED_BY(mu);
  std::map<Uuid, model::Policy> policies GUARDED_BY(mu);
  std::map<Uuid, model::Silence> silences GUARDED_BY(mu);
  std::unordered_map<int64_t, Incident> active GUARDED_BY(mu);
  std::unordered_map<int64_t, WatchInfo> info GUARDED_BY(mu);  // by incident id
  std::unordered_map<Uuid, int64_t, UuidHash> by_watch GUARDED_BY(mu);
  // Late warnings sent for a watch's current lapse (its flip to grace), not yet part of an
  // incident: the incident that lapse opens takes them (store::AttachNotification), so its
  // timeline begins with the warning. A flip to anything but down ends the lapse. Memory only:
  // across a restart a warning stays on its own.
  std::unordered_map<Uuid, std::vector<int64_t>, UuidHash> late_sent GUARDED_BY(mu);
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers GUARDED_BY(mu);
  int64_t last_incident_id GUARDED_BY(mu) = 0;
  int64_t last_notification_id GUARDED_BY(mu) = 0;
  std::vector<Pending> pending GUARDED_BY(mu);
  // Writer thread: taken into the current transaction; and notifications of failed commits,
  // handed over after the retry commits.
  std::vector<Pending> committing;
  std::vector<Notification> undelivered;

  // --- channels for the notifier: a copy published on every change, read under its own
  // small lock, so a delivery never waits for a commit that holds `mu` (lock order: mu before
  // snap_mu).
  mutable base::Mutex snap_mu;
  std::shared_ptr<const std::map<Uuid, model::Channel>> channel_snapshot GUARDED_BY(snap_mu) =
      std::make_shared<const std::map<Uuid, model::Channel>>();

  void PublishChannels() REQUIRES(mu) {
    auto copy = std::make_shared<const std::map<Uuid, model::Channel>>(channels);
    base::MutexLock lock(&snap_mu);
    channel_snapshot = std::move(copy);
  }

  // --- prefetch (lock order: mu before fetch_mu; the fetcher takes only fetch_mu) ----------
  mutable base::Mutex fetch_mu;
  base::CondVar fetch_cv;
  std::vector<Uuid> to_fetch GUARDED_BY(fetch_mu);
  // Flips queued per watch whose commit has not consumed the prefetch yet.
  std::unordered_map<Uuid, int, UuidHash> wanted GUARDED_BY(fetch_mu);
  std::unordered_map<Uuid, Fetched, UuidHash> fetched GUARDED_BY(fetch_mu);
  // A read is valid for the watch only if it started at or after this commit count (the
  // count after the last commit that changed the watch's definition or check-ins).
  std::unordered_map<Uuid, uint64_t, UuidHash> touched GUARDED_BY(fetch_mu);
  // Reads kept from a watch's flip to grace for its likely flip to down, so that a storm of
  // lapses at one instant finds every watch read ahead instead of queueing 2 reads per watch
  // on the prefetch thread just when the cores are busiest. Kept while the watch is in grace
  // and nothing changed it: the writer drops an entry on any change of the watch (Touch) and
  // on any other flip. At most kWarmBudget bytes (the last check-in's body cut to what a
  // message shows); beyond it a flip to down reads as before.
  static constexpr size_t kWarmBudget = 32u << 20;
  std::unordered_map<Uuid, Fetched, UuidHash> warm GUARDED_BY(fetch_mu);
  size_t warm_bytes GUARDED_BY(fetch_mu) = 0;
  // Watches whose flip to grace committed without a read (the writer got there before the
  // prefetch thread, as in a start-up's catch-up of thousands of lapses): the prefetch thread
  // reads them after that commit, when nothing more urgent waits, and keeps the read in
  // `warm`. Value: the commit count a read must have started at (an older read may predate
  // the flip's commit). Any change of the watch, or another flip, drops the entry. At most
  // kMaxWarming entries.
  static constexpr size_t kMaxWarming = 100000;
  std::unordered_map<Uuid, uint64_t, UuidHash> warming GUARDED_BY(fetch_mu);
  std::deque<Uuid> to_warm GUARDED_BY(fetch_mu);  // oldest first
  // Writer thread: the watches of the transaction being committed to queue for a read ahead.
  std::unordered_set<Uuid, UuidHash> warm_next;
  bool fetch_stop GUARDED_BY(fetch_mu) = false;
  std::atomic<uint64_t> commits{0};  // successful commits so far
  std::thread fetcher;

  // The watch's definition and last check-in; false when the store failed.
  bool Read(const Uuid& id, Fetched& f) {
    f.seq = commits.load();
    auto w = store.GetWatch(id);
    if (!w.ok()) return false;
    if (w.value()) {
      f.found = true;
      f.info = InfoOf(w.value()->spec);
    }
    auto last = store.ListCheckIns(id, 1, true);
    if (!last.ok()) return false;
    if (!last.value().empty()) f.last = std::move(last.value().front());
    return true;
  }

  void FetchLoop() {
    // Reads for flips being committed go first; reads ahead for watches in grace go a few at
    // a time when none of those wait.
    constexpr size_t kWarmPerPass = 64;
    std::vector<Uuid> ids;
    std::vector<Uuid> ahead;
    while (true) {
      ids.clear();
      ahead.clear();
      {
        base::MutexLock lock(&fetch_mu);
        while (to_fetch.empty() && to_warm.empty() && !fetch_stop) fetch_cv.Wait(&fetch_mu);
        if (fetch_stop) return;
        if (!to_fetch.empty()) {
          ids.swap(to_fetch);
        } else {
          const auto n = static_cast<std::ptrdiff_t>(std::min(to_warm.size(), kWarmPerPass));
          ahead.assign(to_warm.begin(), to_warm.begin() + n);
          to_warm.erase(to_warm.begin(), to_warm.begin() + n);
        }
      }
      for (const Uuid& id : ids) {
        {
          base::MutexLock lock(&fetch_mu);
          if (fetch_stop) return;
          if (!wanted.count(id) || fetched.count(id)) continue;
        }
        Fetched f;
        if (!Read(id, f)) continue;  // the commit reads it itself
        base::MutexLock lock(&fetch_mu);
        if (wanted.count(id)) fetched[id] = std::move(f);
      }
      for (const Uuid& id : ahead) {
        {
          base::MutexLock lock(&fetch_mu);
          if (fetch_stop) return;
          if (!warming.count(id)) continue;
        }
        Fetched f;
        if (!Read(id, f)) continue;  // the flip to down reads it
        CutForWarm(f);
        base::MutexLock lock(&fetch_mu);
        auto it = warming.find(id);
        // Dropped (the watch changed or flipped), or queued again after a later commit: this
        // read may be older than that commit.
        if (it == warming.end() || f.seq < it->second) continue;
        warming.erase(it);
        WarmLocked(id, std::move(f));
      }
    }
  }

  // The writer's side: a commit changes the watch's definition or check-ins.
  void Touch(const Uuid& id) {
    warm_next.erase(id);
    base::MutexLock lock(&fetch_mu);
    if (wanted.count(id)) touched[id] = commits.load() + 1;
    Cool(id);
  }

  static size_t WarmSize(const Fetched& f) {
    const WatchInfo& w = f.info;
    size_t n = sizeof(Fetched) + 64 + w.name.size() + w.slug.size() + w.kind.size() +
               w.tags.size() + w.desc.size() + w.channels.size();
    if (f.last) n += sizeof(model::CheckIn) + f.last->body.size() + f.last->remote_addr.size();
    return n;
  }

  // The writer's side: a flip to grace committed with a valid read of the watch.
  void Warm(const Uuid& id, Fetched f) {
    CutForWarm(f);
    base::MutexLock lock(&fetch_mu);
    WarmLocked(id, std::move(f));
  }
  // Kept only as long as a message shows it.
  void CutForWarm(Fetched& f) const {
    if (f.last && f.last->body.size() > options.max_body_in_message) {
      f.last->body = Cut(f.last->body, options.max_body_in_message);
    }
  }
  // REQUIRES: CutForWarm(f).
  void WarmLocked(const Uuid& id, Fetched f) REQUIRES(fetch_mu) {
    const size_t size = WarmSize(f);
    Cool(id);
    if (warm_bytes + size > kWarmBudget) return;
    warm_bytes += size;
    warm.insert_or_assign(id, std::move(f));
  }

  // The writer's side: after a commit, queues a read ahead of each watch that flipped to
  // grace in it without one.
  void QueueReadsAhead(bool committed) {
    if (warm_next.empty()) return;
    if (committed) {
      base::MutexLock lock(&fetch_mu);
      const uint64_t from = commits.load();
      for (const Uuid& id : warm_next) {
        if (warming.size() >= kMaxWarming) break;
        if (warm.count(id)) continue;
        warming.insert_or_assign(id, from);
        to_warm.push_back(id);
      }
      fetch_cv.Signal();
    }
    warm_next.clear();
  }

  // The writer's side: any flip of the watch but to grace (and Touch) drops its warm read.
  void Cool(const Uuid& id) REQUIRES(fetch_mu) {
    warming.erase(id);
    auto it = warm.find(id);
    if (it == warm.end()) return;
    warm_bytes -= WarmSize(it->second);
    warm.erase(it);
  }
  void CoolLocked(const Uuid& id) {
    warm_next.erase(id);
    base::MutexLock lock(&fetch_mu);
    Cool(id);
  }

  // The writer's side: a deadline flip of the watch is being committed; its prefetch if valid.
  std::optional<Fetched> Take(const Uuid& id) {
    warm_next.erase(id);
    base::MutexLock lock(&fetch_mu);
    warming.erase(id);
    std::optional<Fetched> from_grace;
    if (auto it = warm.find(id); it != warm.end()) {
      from_grace = std::move(it->second);
      warm_bytes -= WarmSize(*from_grace);  // sizes as stored: the move kept every string
      warm.erase(it);
    }
    auto w = wanted.find(id);
    if (w == wanted.end()) return from_grace;
    std::optional<Fetched> out;
    auto f = fetched.find(id);
    bool valid = false;
    if (f != fetched.end()) {
      auto t = touched.find(id);
      valid = t == touched.end() || f->second.seq >= t->second;
    }
    if (--w->second <= 0) {
      wanted.erase(w);
      touched.erase(id);
      if (f != fetched.end()) {
        if (valid) out = std::move(f->second);
        fetched.erase(f);
      }
    } else if (valid) {
      out = f->second;  // another flip of the watch is queued: it may use it too
    } else if (f != fetched.end()) {
      fetched.erase(f);  // stale: the watch's later flips read the store themselves
    }
    return out ? out : from_grace;
  }

  // --- policy choice and silences -------------------------------------------------------

  const model::Policy* PolicyFor(const WatchInfo& w) REQUIRES(mu) {
    const model::Policy* by_tag = nullptr;
    const model::Policy* by_default = nullptr;
    const std::vector<std::string> tags = SplitTags(w.tags);
    for (const auto& [id, p] : policies) {
      if (p.project_id != w.project_id) continue;
      if (std::find(p.watches.begin(), p.watches.end(), w.id) != p.watches.end()) return &p;
      for (const std::string& t : p.tags) {
        if (std::find(tags.begin(), tags.end(), t) != tags.end() &&
            (!by_tag || p.name < by_tag->name)) {
          by_tag = &p;
        }
      }
      if (p.is_default && !by_default) by_default = &p;
    }
    return by_tag ? by_tag : by_default;
  }

  // No policy: one step telling the watch's own channels (healthchecks' assignment) or, when
  // it names none, every channel of the project.
  model::EscalationChain ImplicitChain(const WatchInfo& w) REQUIRES(mu) {
    model::EscalationStep step;
    std::string list = w.channels;
    std::replace(list.begin(), list.end(), ',', ' ');
    for (const std::string& part : SplitTags(list)) {
      if (auto id = Uuid::Parse(part); id && channels.count(*id)) step.channels.push_back(*id);
    }
    if (step.channels.empty()) {
      for (const auto& [id, c] : channels) {
        if (c.project_id == w.project_id) step.channels.push_back(id);
      }
    }
    model::EscalationChain chain;
    chain.steps.push_back(std::move(step));
    return chain;
  }

  const model::Silence* SilenceFor(const WatchInfo& w, TimePoint now) REQUIRES(mu) {
    const std::vector<std::string> tags = SplitTags(w.tags);
    for (const auto& [id, s] : silences) {
      if (s.project_id != w.project_id || now < s.starts || now >= s.ends) continue;
      if (s.watch_id) {
        if (*s.watch_id == w.id) return &s;
      } else if (!s.tag.empty()) {
        if (std::find(tags.begin(), tags.end(), s.tag) != tags.end()) return &s;
      } else {
        return &s;
      }
    }
    return nullptr;
  }

  // --- messages ---------------------------------------------------------------------------

  // The message context (message.h) is written as JSON text directly (base::ObjectText, keys
  // in sorted order): the same text as building a nlohmann::json and dumping it, for about an
  // eighth of the cost (json_text_bench), which a storm pays once per incident on the
  // journal's writer thread.

  // The context's "watch". `grace_ends`: when a watch in its grace period goes down (the late
  // warning), else kNoTime.
  std::string WatchJson(const WatchInfo& w, std::string_view status, TimePoint last_ping,
                        TimePoint grace_ends = base::kNoTime) const {
    std::string out;
    const std::string id = w.id.ToString();
    {
      base::ObjectText o(out);
      o.Str("desc", w.desc)
          .Str("grace_ends_at", Iso(grace_ends))
          .Str("id", id)
          .Str("kind", w.kind)
          .Str("last_ping", Iso(last_ping))
          .Str("name", w.name)
          .Str("ping_url", options.public_url + "/ping/" + id)
          .Str("slug", w.slug)
          .Str("status", status)
          .Str("tags", w.tags);
    }
    return out;
  }

  // The context's "last_check_in": the watch's latest check-in, `in_batch` when the batch
  // being committed holds one (it is not in the store yet), else the store's newest; null if
  // it has none. `at` (if given) gets its time, or kNoTime.
  std::string LastCheckInJson(const Uuid& watch_id, const model::CheckIn* in_batch = nullptr,
                              const Fetched* pre = nullptr, TimePoint* at = nullptr) {
    if (at) *at = base::kNoTime;
    std::vector<model::CheckIn> list;
    if (!in_batch && pre) {
      if (!pre->last) return "null";
      in_batch = &*pre->last;
    }
    if (!in_batch) {
      auto stored = store.ListCheckIns(watch_id, 1, true);
      if (!stored.ok() || stored.value().empty()) return "null";
      list = std::move(stored.value());
      in_batch = &list.front();
    }
    const model::CheckIn& c = *in_batch;
    if (at) *at = c.at;
    std::string out;
    {
      base::ObjectText o(out);
      o.Str("at", Iso(c.at)).Str("body", Cut(c.body, options.max_body_in_message));
      if (c.exit_status) {
        o.Int("exit_status", *c.exit_status);
      } else {
        o.Null("exit_status");
      }
      o.Str("remote_addr", c.remote_addr).Str("signal", model::SignalName(c.signal));
    }
    return out;
  }

  // The context's "incident".
  void AppendIncident(std::string& out, const Incident& inc) const {
    base::ObjectText o(out);
    o.Str("ack_url", options.ack_url ? options.ack_url(inc.id) : "")
        .Str("acked_by", inc.acked_by)
        .Str("cause", inc.cause)
        .Str("cause_detail", inc.cause_detail)
        .Int("id", inc.id)
        .Str("opened_at", Iso(inc.opened_at))
        .Str("resolve_reason", inc.resolve_reason)
        .Str("resolved_by", inc.resolved_by)
        .Int("round", std::min(inc.round + 1, std::max(inc.chain.repeat, 1)))
        .Str("state", model::IncidentStateName(inc.state))
        .Int("step", inc.step + 1)
        .Str("url", options.public_url + "/api/v1/incidents/" + std::to_string(inc.id));
  }

  // The whole context, from the texts of its "watch" and "last_check_in".
  std::string Context(std::string_view event, const Incident* inc, std::string_view watch,
                      std::string_view last_check_in, TimePoint now) const {
    std::string c;
    c.reserve(watch.size() + last_check_in.size() + 768);
    {
      base::ObjectText o(c);
      o.Str("event", event);
      if (inc) AppendIncident(o.Member("incident"), *inc);
      o.Member("last_check_in").append(last_check_in);
      o.Str("now", Iso(now));
      {
        base::ObjectText server(o.Member("server"));
        server.Str("url", options.public_url);
      }
      o.Member("watch").append(watch);
    }
    return c;
  }

  // Outbox rows for `event` to `to`, held back when a silence matches. Appends the rows and
  // their timeline entries to `p`.
  void Notify(Pending& p, std::string_view event, const std::vector<Uuid>& to, const Incident* inc,
              const WatchInfo& w, const std::string& text, TimePoint now) REQUIRES(mu) {
    if (to.empty()) return;
    const model::Silence* silence = SilenceFor(w, now);
    for (const Uuid& channel_id : to) {
      auto ch = channels.find(channel_id);
      if (ch == channels.end()) {
        if (inc) {
          p.mutations.emplace_back(store::AppendTimeline{model::TimelineEntry{
              inc->id, now, "notification", "system",
              "channel " + channel_id.ToString() + " no longer exists: not notified",
              base::JsonText(json{{"channel", channel_id.ToString()}, {"event", event}})}});
        }
        continue;
      }
      Notification n;
      n.id = ++last_notification_id;
      n.incident_id = inc ? inc->id : 0;
      n.project_id = w.project_id;
      n.watch_id = w.id;
      n.channel_id = channel_id;
      n.channel_name = ch->second.name;
      n.channel_kind = ch->second.kind;
      n.event = std::string(event);
      n.idempotency_key = fmt::format("overdue-{}-{}", n.incident_id, n.id);
      n.context = text;
      n.status = silence ? model::NotificationStatus::kHeld : model::NotificationStatus::kPending;
      n.created = now;
      n.next_attempt_at = now;
      p.mutations.emplace_back(store::UpsertNotification{n});
      // A notification sent has no stored timeline entry: the timeline derives it from the
      // outbox row (incident/timeline.h). One held back says by which silence.
      if (inc && silence) {
        const json data{{"notification", n.id},
                        {"channel", channel_id.ToString()},
                        {"channel_name", ch->second.name},
                        {"kind", ch->second.kind},
                        {"event", event},
                        {"silence", silence->id.ToString()}};
        p.mutations.emplace_back(store::AppendTimeline{model::TimelineEntry{
            inc->id, now, "held", "system",
            fmt::format("{} to {} held back by a silence ({})", event, ch->second.name,
                        silence->reason.empty() ? silence->id.ToString() : silence->reason),
            base::JsonText(data)}});
      }
      if (!silence) p.notifications.push_back(std::move(n));
    }
  }

  void Schedule(const Incident& inc) REQUIRES(mu) {
    if (inc.next_at != base::kNever && inc.state != IncidentState::kResolved) {
      timers.push(Timer{inc.next_at, inc.id, inc.escalation_id});
      Publish();
    }
  }

  // What /metrics and /readyz read without the lock (a commit may hold it for a while, and
  // those requests run on the HTTP threads that also answer check-ins).
  std::atomic<size_t> active_count{0};
  std::atomic<int64_t> next_due_us{base::ToMicros(base::kNever)};
  void Publish() REQUIRES(mu) {
    active_count.store(active.size());
    next_due_us.store(base::ToMicros(timers.empty() ? base::kNever : timers.top().due));
  }

  // Records an escalation effect on an active incident: the incident row, the timeline entry,
  // the notifications, the next timer.
  void Record(Pending& p, Incident& inc, const model::EscalationEffect& e, const std::string& actor,
              TimePoint now, std::string_view watch_status) REQUIRES(mu) {
    p.mutations.emplace_back(store::UpsertIncident{inc});
    if (!e.kind.empty()) {
      p.mutations.emplace_back(store::AppendTimeline{model::TimelineEntry{
          inc.id, now, e.kind, actor, e.message,
          json{{"step", inc.step + 1},
               {"round", std::min(inc.round + 1, std::max(inc.chain.repeat, 1))},
               {"escalation_id", inc.escalation_id}}
              .dump()}});
    }
    if (!e.event.empty() && !e.channels.empty()) {
      const WatchInfo& w = info[inc.id];
      TimePoint last_ping;
      const std::string last = LastCheckInJson(inc.watch_id, nullptr, nullptr, &last_ping);
      const std::string context =
          Context(e.event, &inc, WatchJson(w, watch_status, last_ping), last, now);
      Notify(p, e.event, e.channels, &inc, w, context, now);
    }
    Schedule(inc);
  }

  // --- opening and closing ----------------------------------------------------------------

  void Open(Pending& p, const WatchInfo& w, std::string cause, std::string detail,
            TimePoint opened_at, TimePoint now, const model::WatchRuntime& rt,
            const model::CheckIn* last, const Fetched* pre = nullptr) REQUIRES(mu) {
    Incident inc;
    inc.id = ++last_incident_id;
    inc.project_id = w.project_id;
    inc.watch_id = w.id;
    inc.watch_name = w.name;
    inc.cause = std::move(cause);
    inc.cause_detail = std::move(detail);
    inc.opened_at = opened_at;
    if (const model::Policy* policy = PolicyFor(w)) {
      inc.chain = policy->chain;
      inc.policy_name = policy->name;
    } else {
      inc.chain = ImplicitChain(w);
    }
    info[inc.id] = w;
    const model::EscalationEffect e = model::OpenIncident(inc, now);
    p.mutations.emplace_back(store::UpsertIncident{inc});
    if (auto late = late_sent.find(w.id); late != late_sent.end()) {
      for (int64_t id : late->second) {
        p.mutations.emplace_back(store::AttachNotification{id, inc.id});
      }
      late_sent.erase(late);
    }
    p.mutations.emplace_back(store::AppendTimeline{model::TimelineEntry{
        inc.id, now, "opened", "system", e.message,
        base::JsonText(json{{"cause", inc.cause}, {"policy", inc.policy_name}})}});
    const std::string context = Context(e.event, &inc, WatchJson(w, "down", rt.last_ping),
                                        LastCheckInJson(w.id, last, pre), now);
    Notify(p, e.event, e.channels, &inc, w, context, now);
    Schedule(inc);
    by_watch[w.id] = inc.id;
    active.emplace(inc.id, std::move(inc));
    Publish();
  }

  // Resolves the active incident `it` points at; recovery to every channel told when `notify`,
  // saying what the watch is now: `watch_status` ("up" after a check-in, "paused", or "down"
  // when a person resolves an incident whose watch has not recovered), and its last check-in
  // (`last` when the batch holds it).
  void Close(Pending& p, std::unordered_map<int64_t, Incident>::iterator it, const std::string& by,
             const std::string& reason, TimePoint now, bool notify,
             std::string_view watch_status = "", const model::CheckIn* last = nullptr)
      REQUIRES(mu) {
    Incident& inc = it->second;
    auto e = model::Resolve(inc, by, reason, now);
    if (!e.ok()) return;
    p.mutations.emplace_back(store::UpsertIncident{inc});
    p.mutations.emplace_back(store::AppendTimeline{model::TimelineEntry{
        inc.id, now, "resolved", by, e.value().message, base::JsonText(json{{"reason", reason}})}});
    if (notify) {
      const WatchInfo& w = info[inc.id];
      TimePoint last_ping;
      const std::string last_json = LastCheckInJson(inc.watch_id, last, nullptr, &last_ping);
      const std::string context =
          Context("recovery", &inc, WatchJson(w, watch_status, last_ping), last_json, now);
      Notify(p, "recovery", e.value().channels, &inc, w, context, now);
    }
    by_watch.erase(inc.watch_id);
    info.erase(inc.id);
    active.erase(it);
    Publish();
  }

  // The watch a batch mutation refers to: from the batch itself when it wrote the definition,
  // else from the store.
  WatchInfo LookUp(const Uuid& id, const std::unordered_map<Uuid, WatchInfo, UuidHash>& batch_specs,
                   const Fetched* pre = nullptr) {
    if (auto it = batch_specs.find(id); it != batch_specs.end()) return it->second;
    if (pre && pre->found) return pre->info;
    auto stored = store.GetWatch(id);
    if (stored.ok() && stored.value()) return InfoOf(stored.value()->spec);
    spdlog::warn("incident desk: watch {} not found in the store", id.ToString());
    WatchInfo w;
    w.id = id;
    w.name = id.ToString();
    w.project_id = 1;
    return w;
  }

  // Removes `id` from `map` when it belongs to `project_id` and commits `mutation`; `done`
  // gets kNotFound otherwise.
  template <typename Map, typename Mutation>
  void EraseAndQueue(Map Impl::*member, int64_t project_id, const Uuid& id, Mutation mutation,
                     std::function<void(Status)> done) {
    bool found = false;
    {
      base::MutexLock lock(&mu);
      Map& map = this->*member;  // one of the GUARDED_BY(mu) maps, under mu
      auto it = map.find(id);
      if (it != map.end() && it->second.project_id == project_id) {
        map.erase(it);
        Pending p;
        p.mutations.emplace_back(std::move(mutation));
        p.done = done ? std::move(done) : [](Status) {};
        Queue(std::move(p));
        found = true;
      }
    }
    if (!found) {
      if (done) done(base::NotFound("not found"));
      return;
    }
    wake();
  }

  void Queue(Pending&& p) REQUIRES(mu) {
    if (!p.mutations.empty() || p.done) pending.push_back(std::move(p));
  }
};

Desk::Desk(const base::Clock& clock, store::Store& store, DeskOptions options,
           std::function<void()> wake, std::function<void(std::vector<Notification>)> deliver)
    : impl_(std::make_unique<Impl>(clock, store, std::move(options), std::move(wake),
                                   std::move(deliver))) {}

Desk::~Desk() = default;

void Desk::SetLinks(std::string public_url, std::function<std::string(int64_t)> ack_url) {
  base::MutexLock lock(&impl_->mu);
  impl_->options.public_url = std::move(public_url);
  impl_->options.ack_url = std::move(ack_url);
}

Status Desk::Load() {
  Impl& d = *impl_;
  auto channels = d.store.LoadChannels();
  if (!channels.ok()) return channels.error();
  auto policies = d.store.LoadPolicies();
  if (!policies.ok()) return policies.error();
  auto silences = d.store.LoadSilences();
  if (!silences.ok()) return silences.error();
  auto active = d.store.LoadActiveIncidents();
  if (!active.ok()) return active.error();
  auto ids = d.store.MaxIncidentAndNotificationIds();
  if (!ids.ok()) return ids.error();
  std::vector<std::pair<int64_t, WatchInfo>> infos;
  for (const Incident& inc : active.value()) {
    auto w = d.store.GetWatch(inc.watch_id);
    if (!w.ok()) return w.error();
    WatchInfo info;
    if (w.value()) {
      info = InfoOf(w.value()->spec);
    } else {
      info.id = inc.watch_id;
      info.project_id = inc.project_id;
      info.name = inc.watch_name;
    }
    infos.emplace_back(inc.id, std::move(info));
  }
  base::MutexLock lock(&d.mu);
  for (auto& c : channels.value()) d.channels[c.id] = std::move(c);
  d.PublishChannels();
  for (auto& p : policies.value()) d.policies[p.id] = std::move(p);
  for (auto& s : silences.value()) d.silences[s.id] = std::move(s);
  for (auto& [id, info] : infos) d.info[id] = std::move(info);
  for (Incident& inc : active.value()) {
    d.Schedule(inc);
    d.by_watch[inc.watch_id] = inc.id;
    d.active.emplace(inc.id, std::move(inc));
  }
  d.Publish();
  d.last_incident_id = ids.value().first;
  d.last_notification_id = ids.value().second;
  return {};
}

void Desk::BeforeCommit(std::vector<store::Mutation>& batch, size_t first_new) {
  Impl& d = *impl_;
  const TimePoint now = d.clock.Now();
  std::unordered_map<Uuid, WatchInfo, UuidHash> specs;
  std::unordered_map<Uuid, model::WatchRuntime, UuidHash> runtimes;
  std::unordered_map<Uuid, const model::CheckIn*, UuidHash> checkins;  // newest in the batch
  const auto last_of = [&checkins](const Uuid& id) -> const model::CheckIn* {
    auto it = checkins.find(id);
    return it == checkins.end() ? nullptr : it->second;
  };
  base::MutexLock lock(&d.mu);
  Pending p;
  const size_t end = batch.size();
  for (size_t i = first_new; i < end; ++i) {
    const store::Mutation& m = batch[i];
    if (const auto* u = std::get_if<store::UpsertWatch>(&m)) {
      d.Touch(u->watch.spec.id);
      specs[u->watch.spec.id] = InfoOf(u->watch.spec);
      runtimes[u->watch.spec.id] = u->watch.runtime;
      if (auto it = d.by_watch.find(u->watch.spec.id); it != d.by_watch.end()) {
        d.info[it->second] = InfoOf(u->watch.spec);
      }
    } else if (const auto* r = std::get_if<store::UpdateRuntime>(&m)) {
      runtimes[r->watch_id] = r->runtime;
    } else if (const auto* del = std::get_if<store::DeleteWatch>(&m)) {
      d.CoolLocked(del->watch_id);
      d.late_sent.erase(del->watch_id);
      if (auto it = d.by_watch.find(del->watch_id); it != d.by_watch.end()) {
        d.Close(p, d.active.find(it->second), "system", "watch deleted", now, false);
      }
    } else if (const auto* ci = std::get_if<store::InsertCheckIn>(&m)) {
      const model::CheckIn& c = ci->check_in;
      d.Touch(c.watch_id);
      checkins[c.watch_id] = &c;
      auto it = d.by_watch.find(c.watch_id);
      if (it != d.by_watch.end()) {
        json data{
            {"n", c.n}, {"signal", model::SignalName(c.signal)}, {"remote_addr", c.remote_addr}};
        if (c.exit_status) data["exit_status"] = *c.exit_status;
        p.mutations.emplace_back(store::AppendTimeline{model::TimelineEntry{
            it->second, c.at, "check_in", "check-in",
            fmt::format("check-in #{}: {}{}", c.n, model::SignalName(c.signal),
                        c.exit_status ? fmt::format(" (exit status {})", *c.exit_status) : ""),
            base::JsonText(data)}});
        continue;
      }
      if (c.signal != model::Signal::kFail) continue;
      const model::WatchRuntime rt =
          runtimes.count(c.watch_id) ? runtimes[c.watch_id] : model::WatchRuntime{};
      const WatchInfo w = d.LookUp(c.watch_id, specs);
      const model::Policy* policy = d.PolicyFor(w);
      const int needed = policy ? std::max(1, policy->alert_after_failures) : 1;
      if (rt.failures < needed) continue;
      const bool exit = c.exit_status && *c.exit_status > 0;
      std::string detail = exit ? fmt::format("exited with status {}", *c.exit_status)
                                : std::string("reported a failure");
      if (needed > 1) detail += fmt::format(" ({} consecutive failures)", rt.failures);
      d.Open(p, w, exit ? "exit" : "fail", std::move(detail), c.at, now, rt, &c);
    } else if (const auto* fl = std::get_if<store::InsertFlip>(&m)) {
      const model::Flip& f = fl->flip;
      std::optional<Fetched> pre = d.Take(f.watch_id);
      const Fetched* fetched = pre ? &*pre : nullptr;
      auto it = d.by_watch.find(f.watch_id);
      if (it != d.by_watch.end()) {
        p.mutations.emplace_back(store::AppendTimeline{
            model::TimelineEntry{it->second, f.at, "state", "system",
                                 fmt::format("{} → {}", model::StatusName(f.old_status),
                                             model::StatusName(f.new_status)),
                                 json{{"from", model::StatusName(f.old_status)},
                                      {"to", model::StatusName(f.new_status)},
                                      {"reason", f.reason}}
                                     .dump()}});
        if (f.new_status == model::Status::kUp || f.new_status == model::Status::kNew) {
          d.Close(p, d.active.find(it->second), "check-in", "", now, true,
                  model::StatusName(f.new_status), last_of(f.watch_id));
        } else if (f.new_status == model::Status::kPaused) {
          d.Close(p, d.active.find(it->second), "system", "watch paused", now, true, "paused",
                  last_of(f.watch_id));
        }
        continue;
      }
      if (f.new_status != model::Status::kDown) {
        d.late_sent.erase(f.watch_id);  // a new lapse begins, or the lapse is over
      }
      if (f.new_status == model::Status::kDown && f.reason == "timeout") {
        const model::WatchRuntime rt =
            runtimes.count(f.watch_id) ? runtimes[f.watch_id] : model::WatchRuntime{};
        const WatchInfo w = d.LookUp(f.watch_id, specs, fetched);
        std::string detail = rt.last_ping == base::kNoTime
                                 ? std::string("missed its deadline: no check-in yet")
                                 : fmt::format("missed its deadline: no check-in since {}",
                                               base::FormatForPeople(rt.last_ping));
        if (f.detected_late) {
          detail +=
              fmt::format(" (detected at start-up, {})", base::FormatForPeople(f.detected_at));
        }
        d.Open(p, w, "timeout", std::move(detail), f.at, now, rt, last_of(f.watch_id), fetched);
      } else if (f.new_status == model::Status::kGrace) {
        const WatchInfo w = d.LookUp(f.watch_id, specs, fetched);
        const model::Policy* policy = d.PolicyFor(w);
        const bool late = policy && !policy->late_channels.empty();
        // Keep the read for the flip to down that follows if no check-in comes, unless this
        // batch changed the watch itself (the read would be older than that change).
        if (pre && !specs.count(f.watch_id) && !checkins.count(f.watch_id)) {
          if (late) {
            d.Warm(f.watch_id, *pre);
          } else {
            d.Warm(f.watch_id, std::move(*pre));
            continue;
          }
        } else if (!pre && !specs.count(f.watch_id) && !checkins.count(f.watch_id)) {
          d.warm_next.insert(f.watch_id);  // read after this commit, on the prefetch thread
        }
        if (!late) continue;
        const model::WatchRuntime rt =
            runtimes.count(f.watch_id) ? runtimes[f.watch_id] : model::WatchRuntime{};
        const std::string context =
            d.Context("late", nullptr, d.WatchJson(w, "grace", rt.last_ping, rt.alert_after),
                      d.LastCheckInJson(w.id, last_of(w.id), fetched), now);
        const size_t first = p.mutations.size();
        d.Notify(p, "late", policy->late_channels, nullptr, w, context, now);
        for (size_t k = first; k < p.mutations.size(); ++k) {
          if (const auto* n = std::get_if<store::UpsertNotification>(&p.mutations[k])) {
            d.late_sent[w.id].push_back(n->notification.id);
          }
        }
      }
    }
  }
  d.Queue(std::move(p));
  for (Pending& q : d.pending) {
    for (store::Mutation& m : q.mutations) batch.push_back(std::move(m));
    q.mutations.clear();
    d.committing.push_back(std::move(q));
  }
  d.pending.clear();
}

void Desk::Prefetch(const Uuid& watch_id) {
  Impl& d = *impl_;
  base::MutexLock lock(&d.fetch_mu);
  // Already read when the watch flipped to grace (Warm): its commit takes that.
  if (d.wanted[watch_id]++ == 0 && !d.warm.count(watch_id)) {
    d.to_fetch.push_back(watch_id);
    d.fetch_cv.Signal();
  }
}

size_t Desk::prefetched() const {
  base::MutexLock lock(&impl_->fetch_mu);
  return impl_->fetched.size();
}

size_t Desk::read_ahead() const {
  base::MutexLock lock(&impl_->fetch_mu);
  return impl_->warm.size();
}

void Desk::AfterCommit(bool ok) {
  Impl& d = *impl_;
  if (ok) d.commits.fetch_add(1);
  d.QueueReadsAhead(ok);
  std::vector<Pending> done = std::move(d.committing);
  d.committing.clear();
  for (Pending& p : done) {
    for (Notification& n : p.notifications) d.undelivered.push_back(std::move(n));
  }
  if (ok && !d.undelivered.empty() && d.deliver) {
    std::vector<Notification> out = std::move(d.undelivered);
    d.undelivered.clear();
    d.deliver(std::move(out));
  }
  const Status st = ok ? Status{} : Status{base::Unavailable("store unavailable: not durable yet")};
  for (Pending& p : done) {
    if (p.done) p.done(st);
  }
}

size_t Desk::Tick() {
  Impl& d = *impl_;
  size_t fired = 0;
  {
    base::MutexLock lock(&d.mu);
    const TimePoint now = d.clock.Now();
    while (!d.timers.empty() && d.timers.top().due <= now) {
      const Timer t = d.timers.top();
      d.timers.pop();
      auto it = d.active.find(t.incident_id);
      if (it == d.active.end()) continue;
      Incident& inc = it->second;
      auto e = model::OnEscalationDue(inc, t.escalation_id, now);
      if (!e) continue;
      Pending p;
      d.Record(p, inc, *e, "system", now, "down");
      d.Queue(std::move(p));
      ++fired;
    }
    d.Publish();
  }
  if (fired && d.wake) d.wake();
  return fired;
}

TimePoint Desk::NextDue() const {
  // Stale timers (their incident moved on) are skipped by Tick when due; until then they may
  // make this earlier than the real next step, which only makes the auditor look sooner.
  return base::FromMicros(impl_->next_due_us.load());
}

size_t Desk::active_incidents() const { return impl_->active_count.load(); }

namespace {

// For an incident that is not active: whether it exists in this project (then it is resolved).
Status NotActive(store::Store& store, int64_t project_id, int64_t id) {
  auto stored = store.GetIncident(id);
  if (!stored.ok()) return stored.error();
  if (!stored.value() || stored.value()->project_id != project_id) {
    return base::NotFound("not found");
  }
  return base::Error{base::ErrorCode::kConflict, "incident is resolved"};
}

}  // namespace

namespace {

// Answers `done` with the incident after the commit.
std::function<void(Status)> AnswerAfterCommit(IncidentDone done, Incident copy) {
  return [done = std::move(done), copy = std::move(copy)](Status st) {
    if (st.ok()) {
      done(copy);
    } else {
      done(st.error());
    }
  };
}

}  // namespace

void Desk::Acknowledge(int64_t project_id, int64_t id, std::string by, IncidentDone done) {
  Impl& d = *impl_;
  std::optional<Incident> unchanged;
  bool queued = false;
  {
    base::MutexLock lock(&d.mu);
    auto it = d.active.find(id);
    if (it != d.active.end() && it->second.project_id == project_id) {
      Incident& inc = it->second;
      const TimePoint now = d.clock.Now();
      auto e = model::Acknowledge(inc, by, now);
      if (e.ok() && e.value()) {
        Pending p;
        d.Record(p, inc, *e.value(), by, now, "down");
        p.done = AnswerAfterCommit(done, inc);
        d.Queue(std::move(p));
        queued = true;
      } else {
        unchanged = inc;  // already acknowledged
      }
    }
  }
  if (queued) {
    d.wake();
  } else if (unchanged) {
    done(*unchanged);
  } else {
    done(NotActive(d.store, project_id, id).error());
  }
}

void Desk::Unacknowledge(int64_t project_id, int64_t id, std::string by, IncidentDone done) {
  Impl& d = *impl_;
  std::optional<base::Error> refused;
  bool queued = false;
  {
    base::MutexLock lock(&d.mu);
    auto it = d.active.find(id);
    if (it != d.active.end() && it->second.project_id == project_id) {
      Incident& inc = it->second;
      const TimePoint now = d.clock.Now();
      auto e = model::Unacknowledge(inc, by, now);
      if (e.ok()) {
        Pending p;
        d.Record(p, inc, e.value(), by, now, "down");
        p.done = AnswerAfterCommit(done, inc);
        d.Queue(std::move(p));
        queued = true;
      } else {
        refused = e.error();
      }
    }
  }
  if (queued) {
    d.wake();
  } else if (refused) {
    done(*refused);
  } else {
    Status st = NotActive(d.store, project_id, id);
    if (st.error().code == base::ErrorCode::kConflict) {
      done(
          base::Error{base::ErrorCode::kConflict, "incident is not acknowledged (it is resolved)"});
    } else {
      done(st.error());
    }
  }
}

void Desk::Resolve(int64_t project_id, int64_t id, std::string by, std::string reason,
                   IncidentDone done) {
  Impl& d = *impl_;
  bool queued = false;
  {
    base::MutexLock lock(&d.mu);
    auto it = d.active.find(id);
    if (it != d.active.end() && it->second.project_id == project_id) {
      Pending p;
      // An active incident's watch has not recovered: a check-in or a pause would have
      // resolved it already.
      d.Close(p, it, by, reason, d.clock.Now(), true, "down");
      Incident resolved;
      for (const store::Mutation& m : p.mutations) {
        if (const auto* u = std::get_if<store::UpsertIncident>(&m)) resolved = u->incident;
      }
      p.done = AnswerAfterCommit(done, std::move(resolved));
      d.Queue(std::move(p));
      queued = true;
    }
  }
  if (queued) {
    d.wake();
    return;
  }
  Status st = NotActive(d.store, project_id, id);
  if (st.error().code == base::ErrorCode::kConflict) {
    done(base::Error{base::ErrorCode::kConflict, "incident is already resolved"});
  } else {
    done(st.error());
  }
}

void Desk::AddNote(int64_t project_id, int64_t id, std::string by, std::string text,
                   std::function<void(Result<model::TimelineEntry>)> done) {
  Impl& d = *impl_;
  bool exists = false;
  {
    base::MutexLock lock(&d.mu);
    auto it = d.active.find(id);
    exists = it != d.active.end() && it->second.project_id == project_id;
  }
  if (!exists) {
    Status st = NotActive(d.store, project_id, id);
    if (st.error().code != base::ErrorCode::kConflict) {  // kConflict: exists, resolved
      done(st.error());
      return;
    }
  }
  model::TimelineEntry entry{id, d.clock.Now(), "note", by, std::move(text), "{}"};
  {
    base::MutexLock lock(&d.mu);
    Pending p;
    p.mutations.emplace_back(store::AppendTimeline{entry});
    p.done = [done, entry](Status st) {
      if (st.ok()) {
        done(entry);
      } else {
        done(st.error());
      }
    };
    d.Queue(std::move(p));
  }
  d.wake();
}

namespace {

std::function<void(Status)> OrNothing(std::function<void(Status)> done) {
  return done ? std::move(done) : [](Status) {};
}

}  // namespace

void Desk::PutChannel(model::Channel channel, std::function<void(Status)> done) {
  Impl& d = *impl_;
  {
    base::MutexLock lock(&d.mu);
    d.channels[channel.id] = channel;
    d.PublishChannels();
    Pending p;
    p.mutations.emplace_back(store::UpsertChannel{std::move(channel)});
    p.done = OrNothing(std::move(done));
    d.Queue(std::move(p));
  }
  d.wake();
}

void Desk::DeleteChannel(int64_t project_id, const Uuid& id, std::function<void(Status)> done) {
  Impl& d = *impl_;
  std::optional<base::Error> refused;
  {
    base::MutexLock lock(&d.mu);
    auto it = d.channels.find(id);
    if (it == d.channels.end() || it->second.project_id != project_id) {
      refused = base::NotFound("not found");
    }
    for (const auto& [pid, p] : d.policies) {
      if (refused) break;
      const auto uses = [&id](const std::vector<Uuid>& list) {
        return std::find(list.begin(), list.end(), id) != list.end();
      };
      bool used = uses(p.late_channels);
      for (const auto& step : p.chain.steps) used = used || uses(step.channels);
      if (used) {
        refused = base::Error{base::ErrorCode::kConflict,
                              "channel is used by policy '" + p.name + "': remove it there first"};
      }
    }
    if (refused) {
      // answered below, without the lock
    } else {
      d.channels.erase(it);
      d.PublishChannels();
      Pending p;
      p.mutations.emplace_back(store::DeleteChannel{id});
      p.done = OrNothing(std::move(done));
      d.Queue(std::move(p));
    }
  }
  if (refused) {
    done(*refused);
    return;
  }
  d.wake();
}

void Desk::PutPolicy(model::Policy policy, std::function<void(Status)> done) {
  Impl& d = *impl_;
  {
    base::MutexLock lock(&d.mu);
    Pending p;
    if (policy.is_default) {
      // One default per project: the new default takes over.
      for (auto& [id, other] : d.policies) {
        if (other.project_id == policy.project_id && other.is_default && id != policy.id) {
          other.is_default = false;
          p.mutations.emplace_back(store::UpsertPolicy{other});
        }
      }
    }
    d.policies[policy.id] = policy;
    p.mutations.emplace_back(store::UpsertPolicy{std::move(policy)});
    p.done = OrNothing(std::move(done));
    d.Queue(std::move(p));
  }
  d.wake();
}

void Desk::DeletePolicy(int64_t project_id, const Uuid& id, std::function<void(Status)> done) {
  impl_->EraseAndQueue(&Impl::policies, project_id, id, store::DeletePolicy{id}, std::move(done));
}

void Desk::PutSilence(model::Silence silence, std::function<void(Status)> done) {
  Impl& d = *impl_;
  {
    base::MutexLock lock(&d.mu);
    d.silences[silence.id] = silence;
    Pending p;
    p.mutations.emplace_back(store::UpsertSilence{std::move(silence)});
    p.done = OrNothing(std::move(done));
    d.Queue(std::move(p));
  }
  d.wake();
}

void Desk::DeleteSilence(int64_t project_id, const Uuid& id, std::function<void(Status)> done) {
  impl_->EraseAndQueue(&Impl::silences, project_id, id, store::DeleteSilence{id}, std::move(done));
}

void Desk::TestChannel(int64_t project_id, const Uuid& id,
                       std::function<void(Result<int64_t>)> done) {
  Impl& d = *impl_;
  bool found = false;
  {
    base::MutexLock lock(&d.mu);
    auto it = d.channels.find(id);
    if (it != d.channels.end() && it->second.project_id == project_id) {
      found = true;
      const TimePoint now = d.clock.Now();
      Pending p;
      const json context{{"event", "test"},
                         {"watch", json{{"name", "(test message)"}}},
                         {"last_check_in", nullptr},
                         {"server", json{{"url", d.options.public_url}}},
                         {"now", Iso(now)},
                         {"channel", json{{"id", id.ToString()}, {"name", it->second.name}}}};
      // A test is never held back by a silence: it checks the channel works.
      Notification n;
      n.id = ++d.last_notification_id;
      n.project_id = project_id;
      n.channel_id = id;
      n.channel_name = it->second.name;
      n.channel_kind = it->second.kind;
      n.event = "test";
      n.idempotency_key = fmt::format("overdue-test-{}", n.id);
      n.context = base::JsonText(context);
      n.created = now;
      n.next_attempt_at = now;
      p.mutations.emplace_back(store::UpsertNotification{n});
      p.notifications.push_back(n);
      p.done = [done, nid = n.id](Status st) {
        if (st.ok()) {
          done(nid);
        } else {
          done(st.error());
        }
      };
      d.Queue(std::move(p));
    }
  }
  if (!found) {
    done(base::NotFound("not found"));
    return;
  }
  d.wake();
}

std::optional<model::Channel> Desk::FindChannel(const Uuid& id) const {
  std::shared_ptr<const std::map<Uuid, model::Channel>> snapshot;
  {
    base::MutexLock lock(&impl_->snap_mu);
    snapshot = impl_->channel_snapshot;
  }
  auto it = snapshot->find(id);
  if (it == snapshot->end()) return std::nullopt;
  return it->second;
}

std::vector<model::Channel> Desk::Channels(int64_t project_id) const {
  base::MutexLock lock(&impl_->mu);
  std::vector<model::Channel> out;
  for (const auto& [id, c] : impl_->channels) {
    if (c.project_id == project_id) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.created, a.name) < std::tie(b.created, b.name);
  });
  return out;
}

std::optional<model::Policy> Desk::FindPolicy(const Uuid& id) const {
  base::MutexLock lock(&impl_->mu);
  auto it = impl_->policies.find(id);
  if (it == impl_->policies.end()) return std::nullopt;
  return it->second;
}

std::vector<model::Policy> Desk::Policies(int64_t project_id) const {
  base::MutexLock lock(&impl_->mu);
  std::vector<model::Policy> out;
  for (const auto& [id, p] : impl_->policies) {
    if (p.project_id == project_id) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::optional<model::Silence> Desk::FindSilence(const Uuid& id) const {
  base::MutexLock lock(&impl_->mu);
  auto it = impl_->silences.find(id);
  if (it == impl_->silences.end()) return std::nullopt;
  return it->second;
}

std::vector<model::Silence> Desk::Silences(int64_t project_id) const {
  base::MutexLock lock(&impl_->mu);
  const TimePoint now = impl_->clock.Now();
  std::vector<model::Silence> out;
  for (const auto& [id, s] : impl_->silences) {
    if (s.project_id == project_id && s.ends > now) out.push_back(s);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.starts < b.starts; });
  return out;
}

}  // namespace overdue::incident
