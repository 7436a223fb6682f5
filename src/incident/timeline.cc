#include "incident/timeline.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/json_text.h"

namespace overdue::incident {
namespace {

using model::Notification;
using model::TimelineEntry;
using nlohmann::json;

int64_t Millis(base::Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// The channel as the entry names it: as it was named when the notification was written (an
// outbox row from before schema 5 whose entry was lost names it by id).
std::string ChannelName(const Notification& n) {
  return n.channel_name.empty() ? n.channel_id.ToString() : n.channel_name;
}

// Whether a stored entry of `kind` is what sends notifications of `event` (model/escalation.h).
bool Causes(std::string_view event, std::string_view kind) {
  if (event == "down") return kind == "opened";
  if (event == "reopened") return kind == "reopened" || kind == "unacknowledged";
  if (event == "recovery") return kind == "resolved";
  return event == kind;  // escalation, reminder
}

TimelineEntry NotificationEntry(const Notification& n) {
  const std::string name = ChannelName(n);
  json data{{"notification", n.id},
            {"channel", n.channel_id.ToString()},
            {"channel_name", name},
            {"kind", n.channel_kind},
            {"event", n.event}};
  return TimelineEntry{n.incident_id,
                       n.created,
                       "notification",
                       "system",
                       fmt::format("{} notification to {} ({})", n.event, name, n.channel_kind),
                       base::JsonText(data)};
}

// `number`: 1 for the first attempt of `n`.
TimelineEntry AttemptEntry(const Notification& n, const store::Attempt& a, int number) {
  const std::string name = ChannelName(n);
  json data{
      {"notification", n.id}, {"channel", n.channel_id.ToString()},
      {"channel_name", name}, {"event", n.event},
      {"ok", a.ok},           {"reason", a.reason},
      {"code", a.code},       {"duration_ms", static_cast<double>(a.duration.count()) / 1000.0},
      {"attempt", number}};
  std::string message;
  if (a.ok) {
    message = fmt::format("{} delivered to {} ({}{} ms)", n.event, name,
                          a.code ? fmt::format("{}, ", a.code) : "", Millis(a.duration));
  } else {
    std::string error = a.reason;
    if (a.code) error += fmt::format(" ({})", a.code);
    if (!a.detail.empty()) error += ": " + a.detail.substr(0, 200);
    std::string retry;
    if (a.retry_at > a.at) {
      retry = fmt::format(
          " (retry in {})",
          base::FormatDuration(
              std::chrono::duration_cast<std::chrono::milliseconds>(a.retry_at - a.at)));
    }
    message = fmt::format("{} to {}: attempt {} failed: {}{}", n.event, name, number, error, retry);
  }
  return TimelineEntry{n.incident_id,       a.at, "attempt", "notifier", std::move(message),
                       base::JsonText(data)};
}

}  // namespace

std::vector<TimelineEntry> MergeTimeline(
    std::vector<TimelineEntry> stored, const std::vector<Notification>& notifications,
    const std::map<int64_t, std::vector<store::Attempt>>& attempts) {
  std::stable_sort(stored.begin(), stored.end(),
                   [](const TimelineEntry& a, const TimelineEntry& b) { return a.at < b.at; });
  // Sorted by (at, slot, order). Stored entry i has slot 2i. A notification goes right after
  // the stored entry that caused it when that has the same time (slot 2i+1: the desk writes
  // both at once, and a check-in may follow at that same instant), else after every stored
  // entry of its instant; attempts after everything of theirs.
  constexpr size_t kLast = std::numeric_limits<size_t>::max();
  std::vector<std::tuple<base::TimePoint, size_t, size_t, TimelineEntry>> all;
  size_t order = 0;
  std::vector<const Notification*> by_id;
  for (const Notification& n : notifications) by_id.push_back(&n);
  std::sort(by_id.begin(), by_id.end(),
            [](const Notification* a, const Notification* b) { return a->id < b->id; });
  for (const Notification* n : by_id) {
    if (n->status != model::NotificationStatus::kHeld) {
      size_t slot = kLast;
      const auto [first, last] = std::equal_range(
          stored.begin(), stored.end(), TimelineEntry{0, n->created, "", "", "", ""},
          [](const TimelineEntry& a, const TimelineEntry& b) { return a.at < b.at; });
      for (auto it = last; it != first;) {
        --it;
        if (Causes(n->event, it->kind)) {
          slot = 2 * static_cast<size_t>(it - stored.begin()) + 1;
          break;
        }
      }
      all.emplace_back(n->created, slot, order++, NotificationEntry(*n));
    }
    auto it = attempts.find(n->id);
    if (it == attempts.end()) continue;
    int number = 0;
    for (const store::Attempt& a : it->second) {
      all.emplace_back(a.at, kLast, order++, AttemptEntry(*n, a, ++number));
    }
  }
  for (size_t i = 0; i < stored.size(); ++i) {
    all.emplace_back(stored[i].at, 2 * i, 0, std::move(stored[i]));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a)) <
           std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b));
  });
  std::vector<TimelineEntry> out;
  out.reserve(all.size());
  for (auto& t : all) out.push_back(std::move(std::get<3>(t)));
  return out;
}

base::Result<std::vector<TimelineEntry>> ReadTimeline(store::Store& store, int64_t project_id,
                                                      int64_t incident_id) {
  store::NotificationFilter filter;
  filter.project_id = project_id;
  filter.incident_id = incident_id;
  filter.limit = std::numeric_limits<size_t>::max();
  auto listed = store.ListNotifications(filter);
  if (!listed.ok()) return listed.error();
  const std::vector<Notification>& notifications = listed.value();
  auto stored = store.ListTimeline(incident_id);
  if (!stored.ok()) return stored.error();
  std::map<int64_t, std::vector<store::Attempt>> attempts;
  for (const Notification& n : notifications) {
    if (n.attempts == 0) continue;  // none recorded yet
    auto list = store.ListAttempts(n.id);
    if (!list.ok()) return list.error();
    attempts[n.id] = std::move(list.value());
  }
  return MergeTimeline(std::move(stored.value()), notifications, attempts);
}

}  // namespace overdue::incident
