#include "notify/notifier.h"

#include <algorithm>
#include <cmath>
#include <queue>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/json_text.h"
#include "base/mutex.h"
#include "notify/channels.h"

namespace overdue::notify {
namespace {

using model::Notification;
using model::NotificationStatus;
using nlohmann::json;

struct Due {
  base::TimePoint at;
  int64_t id;
  bool operator>(const Due& o) const { return at > o.at || (at == o.at && id > o.id); }
};

}  // namespace

base::Duration RetryDelay(int attempt, const NotifierOptions& options, double unit,
                          std::optional<base::Duration> retry_after) {
  const int doublings = std::clamp(attempt - 1, 0, 30);
  double us = static_cast<double>(options.retry_delay.count()) * std::pow(2.0, doublings);
  us = std::min(us, static_cast<double>(options.max_retry_delay.count()));
  us *= 1.0 - options.jitter + 2.0 * options.jitter * std::clamp(unit, 0.0, 1.0);
  base::Duration d{static_cast<int64_t>(us)};
  if (retry_after && *retry_after > d) d = std::min(*retry_after, options.max_retry_delay);
  return d;
}

struct Notifier::Impl {
  Impl(const base::Clock& c, Transport& t, NotifierOptions o, ChannelLookup ch, Record r,
       base::MetricsRegistry* metrics)
      : clock(c), transport(t), options(o), channels(std::move(ch)), record(std::move(r)) {
    if (metrics) {
      delivered =
          &metrics->AddCounter("overdue_notifications_total", "Notification attempts by outcome.",
                               {{"outcome", "delivered"}});
      retried = &metrics->AddCounter("overdue_notifications_total",
                                     "Notification attempts by outcome.", {{"outcome", "retry"}});
      failed = &metrics->AddCounter("overdue_notifications_total",
                                    "Notification attempts by outcome.", {{"outcome", "failed"}});
      failed_total = &metrics->AddCounter(
          "overdue_notifications_failed_total",
          "Notifications that finally failed after every attempt (see the incident).");
    }
  }

  const base::Clock& clock;
  Transport& transport;
  NotifierOptions options;
  ChannelLookup channels;
  Record record;
  base::Counter* delivered = nullptr;
  base::Counter* retried = nullptr;
  base::Counter* failed = nullptr;
  base::Counter* failed_total = nullptr;

  mutable base::Mutex mu;
  std::unordered_map<int64_t, Notification> queued GUARDED_BY(mu);     // waiting for their time
  std::unordered_map<int64_t, Notification> in_flight GUARDED_BY(mu);  // handed to the transport
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due GUARDED_BY(mu);
  std::mt19937_64 rng GUARDED_BY(mu){std::random_device{}()};
  bool stopped GUARDED_BY(mu) = false;

  // Each channel's config as last parsed and checked (channels.h, PrepareConfig), reused while
  // its kind and stored text stay the same: a storm sends thousands of messages to one
  // channel, and checking its config compiles its templates.
  struct Prepared {
    std::string kind;
    std::string config;
    base::Result<json> checked;
  };
  base::Mutex prepared_mu;
  std::unordered_map<base::Uuid, Prepared, base::UuidHash> prepared GUARDED_BY(prepared_mu);

  // The checked config of `channel` (a copy: the map may change once the lock is released).
  base::Result<json> PreparedConfig(const model::Channel& channel) {
    base::MutexLock lock(&prepared_mu);
    auto it = prepared.find(channel.id);
    if (it == prepared.end() || it->second.kind != channel.kind ||
        it->second.config != channel.config) {
      if (prepared.size() > 4096) prepared.clear();  // deleted channels never come back
      it = prepared
               .insert_or_assign(channel.id,
                                 Prepared{channel.kind, channel.config, PrepareConfig(channel)})
               .first;
    }
    return it->second.checked;
  }

  // Records one attempt's outcome and decides what follows. Transport thread (or the Tick
  // thread for attempts that could not even be built).
  void Finish(Notification n, const Outcome& o, const std::string& channel_name) {
    const base::TimePoint now = clock.Now();
    n.attempts += 1;
    bool retry = false;
    {
      base::MutexLock lock(&mu);
      if (stopped) return;  // shutdown: stays pending in the store, resumed on restart
      in_flight.erase(n.id);
      if (o.ok) {
        n.status = NotificationStatus::kDelivered;
        n.finished_at = now;
        n.last_error.clear();
      } else {
        n.last_error = fmt::format("{}{}{}", FailureReasonName(o.reason),
                                   o.code ? fmt::format(" ({})", o.code) : "",
                                   o.detail.empty() ? "" : ": " + o.detail.substr(0, 200));
        if (Retryable(o.reason) && n.attempts < options.max_attempts) {
          const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
          n.next_attempt_at = now + RetryDelay(n.attempts, options, unit, o.retry_after);
          retry = true;
          due.push(Due{n.next_attempt_at, n.id});
          queued[n.id] = n;
        } else {
          n.status = NotificationStatus::kFailed;
          n.finished_at = now;
        }
      }
    }
    if (o.ok) {
      if (delivered) delivered->Inc();
    } else if (retry) {
      if (retried) retried->Inc();
    } else {
      if (failed) failed->Inc();
      if (failed_total) failed_total->Inc();
      spdlog::warn("notification {} to {} failed after {} attempts: {}", n.id, channel_name,
                   n.attempts, n.last_error);
    }

    // The attempt row and the outbox row's new state; the incident's timeline derives its
    // "attempt" entry from them (incident/timeline.h). A delivery that finally failed gets
    // an entry of its own, so that it stands out.
    std::vector<store::Mutation> m;
    m.emplace_back(store::InsertAttempt{n.id, now, o.ok, std::string(FailureReasonName(o.reason)),
                                        o.code, o.detail.substr(0, 500), o.duration,
                                        retry ? n.next_attempt_at : base::TimePoint{}});
    if (n.incident_id != 0 && !o.ok && !retry) {
      const json data{{"notification", n.id},
                      {"channel", n.channel_id.ToString()},
                      {"channel_name", channel_name},
                      {"event", n.event},
                      {"ok", o.ok},
                      {"reason", FailureReasonName(o.reason)},
                      {"code", o.code},
                      {"duration_ms", static_cast<double>(o.duration.count()) / 1000.0},
                      {"attempt", n.attempts}};
      m.emplace_back(store::AppendTimeline{model::TimelineEntry{
          n.incident_id, now, "delivery_failed", "notifier",
          fmt::format("{} to {} FAILED after {} attempt{}: {}", n.event, channel_name, n.attempts,
                      n.attempts == 1 ? "" : "s", n.last_error),
          base::JsonText(data)}});
    }
    m.emplace_back(store::UpdateNotificationState{std::move(n)});
    record(std::move(m));
  }
};

Notifier::Notifier(const base::Clock& clock, Transport& transport, NotifierOptions options,
                   ChannelLookup channels, Record record, base::MetricsRegistry* metrics)
    : impl_(std::make_shared<Impl>(clock, transport, options, std::move(channels),
                                   std::move(record), metrics)) {}

Notifier::~Notifier() { Stop(); }

void Notifier::Stop() {
  base::MutexLock lock(&impl_->mu);
  impl_->stopped = true;
}

void Notifier::Enqueue(std::vector<Notification> notifications) {
  base::MutexLock lock(&impl_->mu);
  for (Notification& n : notifications) {
    if (n.status != NotificationStatus::kPending) continue;
    if (impl_->queued.count(n.id) || impl_->in_flight.count(n.id)) continue;
    impl_->due.push(Due{n.next_attempt_at, n.id});
    impl_->queued.emplace(n.id, std::move(n));
  }
}

size_t Notifier::Tick() {
  Impl& d = *impl_;
  std::vector<Notification> start;
  {
    base::MutexLock lock(&d.mu);
    if (d.stopped) return 0;
    const base::TimePoint now = d.clock.Now();
    while (!d.due.empty() && d.due.top().at <= now) {
      const Due top = d.due.top();
      d.due.pop();
      auto it = d.queued.find(top.id);
      if (it == d.queued.end() || it->second.next_attempt_at != top.at) continue;
      d.in_flight[top.id] = it->second;
      start.push_back(std::move(it->second));
      d.queued.erase(it);
    }
  }
  for (Notification& n : start) {
    std::optional<model::Channel> channel = d.channels(n.channel_id);
    if (!channel) {
      Outcome o;
      o.reason = FailureReason::kClientError;
      o.detail = "the channel no longer exists";
      const std::string name = n.channel_id.ToString();
      d.Finish(std::move(n), o, name);
      continue;
    }
    MessageInput input;
    input.event = n.event;
    input.idempotency_key = n.idempotency_key;
    input.now = d.clock.Now();
    auto config = d.PreparedConfig(*channel);
    if (config.ok() && !n.event.empty() && n.context.starts_with(R"({"event":)") &&
        SendsContextAsText(*channel, config.value())) {
      input.context_text = n.context;  // sent as it is: no need to parse it
    } else {
      input.context = json::parse(n.context, nullptr, false);
      if (input.context.is_discarded()) input.context = json::object();
    }
    auto delivery = config.ok() ? BuildDelivery(*channel, config.value(), input)
                                : base::Result<Delivery>(config.error());
    if (!delivery.ok()) {
      Outcome o;
      o.reason = FailureReason::kClientError;
      o.detail = "cannot build the message: " + delivery.error().message;
      d.Finish(std::move(n), o, channel->name);
      continue;
    }
    // The completion holds the Impl alive: the transport may finish after ~Notifier.
    d.transport.Send(std::move(delivery.value()),
                     [impl = impl_, n = std::move(n), name = channel->name](Outcome o) mutable {
                       impl->Finish(std::move(n), o, name);
                     });
  }
  return start.size();
}

size_t Notifier::pending() const {
  base::MutexLock lock(&impl_->mu);
  return impl_->queued.size() + impl_->in_flight.size();
}

base::TimePoint Notifier::OldestDue() const {
  base::MutexLock lock(&impl_->mu);
  base::TimePoint oldest = base::kNever;
  for (const auto& [id, n] : impl_->queued) oldest = std::min(oldest, n.next_attempt_at);
  return oldest;
}

}  // namespace overdue::notify
