#include <array>
#include <utility>

#include "model/check_in.h"
#include "model/incident.h"
#include "model/watch.h"

namespace overdue::model {
namespace {

constexpr std::array<std::pair<Status, std::string_view>, 5> kStatusNames = {{
    {Status::kNew, "new"},
    {Status::kUp, "up"},
    {Status::kGrace, "grace"},
    {Status::kDown, "down"},
    {Status::kPaused, "paused"},
}};

constexpr std::array<std::pair<Signal, std::string_view>, 5> kSignalNames = {{
    {Signal::kSuccess, "success"},
    {Signal::kStart, "start"},
    {Signal::kFail, "fail"},
    {Signal::kLog, "log"},
    {Signal::kIgnored, "ign"},
}};

constexpr std::array<std::pair<WatchKind, std::string_view>, 3> kKindNames = {{
    {WatchKind::kJob, "job"},
    {WatchKind::kPerson, "person"},
    {WatchKind::kTeam, "team"},
}};

constexpr std::array<std::pair<IncidentState, std::string_view>, 3> kIncidentStateNames = {{
    {IncidentState::kOpen, "open"},
    {IncidentState::kAcknowledged, "acknowledged"},
    {IncidentState::kResolved, "resolved"},
}};

constexpr std::array<std::pair<NotificationStatus, std::string_view>, 4> kNotificationStatusNames =
    {{
        {NotificationStatus::kPending, "pending"},
        {NotificationStatus::kDelivered, "delivered"},
        {NotificationStatus::kFailed, "failed"},
        {NotificationStatus::kHeld, "held"},
    }};

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [value, name] : table) {
    if (value == e) return name;
  }
  return "unknown";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const std::array<std::pair<E, std::string_view>, N>& table,
                         std::string_view name) {
  for (const auto& [value, n] : table) {
    if (n == name) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string_view StatusName(Status s) { return NameOf(kStatusNames, s); }
std::optional<Status> ParseStatus(std::string_view name) { return ValueOf(kStatusNames, name); }
std::string_view SignalName(Signal s) { return NameOf(kSignalNames, s); }
std::optional<Signal> ParseSignal(std::string_view name) { return ValueOf(kSignalNames, name); }
std::string_view WatchKindName(WatchKind k) { return NameOf(kKindNames, k); }
std::optional<WatchKind> ParseWatchKind(std::string_view name) { return ValueOf(kKindNames, name); }

std::string_view IncidentStateName(IncidentState s) { return NameOf(kIncidentStateNames, s); }
std::optional<IncidentState> ParseIncidentState(std::string_view name) {
  return ValueOf(kIncidentStateNames, name);
}
std::string_view NotificationStatusName(NotificationStatus s) {
  return NameOf(kNotificationStatusNames, s);
}
std::optional<NotificationStatus> ParseNotificationStatus(std::string_view name) {
  return ValueOf(kNotificationStatusNames, name);
}

}  // namespace overdue::model
