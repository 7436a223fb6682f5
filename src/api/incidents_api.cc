#include "api/incidents_api.h"

#include <algorithm>
#include <charconv>
#include <future>
#include <initializer_list>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "api/ack_link.h"
#include "base/json_text.h"
#include "base/markup.h"
#include "base/time.h"
#include "incident/timeline.h"
#include "notify/channels.h"

namespace overdue::api {
namespace {

using base::Result;
using base::Status;
using base::Uuid;
using nlohmann::json;

// Longest name, reason, tag; longest note. Limits so that a timeline stays readable and a
// client cannot store megabytes per request.
constexpr size_t kMaxName = 200;
constexpr size_t kMaxNote = 10000;
constexpr size_t kMaxListItems = 1000;
constexpr size_t kMaxListLimit = 1000;
constexpr int64_t kMaxSeconds = 366LL * 24 * 3600;  // a year: longest wait, reminder, silence

http::Response Json(int status, const json& j) {
  http::Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = base::JsonText(j);
  return r;
}

http::Response Error(int status, const std::string& message) {
  return Json(status, json{{"error", message}});
}

int StatusOf(const base::Error& e) {
  switch (e.code) {
    case base::ErrorCode::kInvalidArgument:
      return 400;
    case base::ErrorCode::kNotFound:
      return 404;
    case base::ErrorCode::kAlreadyExists:
    case base::ErrorCode::kConflict:
      return 409;
    case base::ErrorCode::kResourceExhausted:
      return 429;
    case base::ErrorCode::kUnavailable:
      return 503;
    case base::ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

http::Response FromError(const base::Error& e) { return Error(StatusOf(e), e.message); }

json IsoOrNull(base::TimePoint t) {
  if (t == base::kNoTime || t == base::kNever) return nullptr;
  return base::FormatIso8601(t, false);
}

int64_t Secs(base::Duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

// ---- strict JSON field reading ---------------------------------------------------------------

Status OnlyFields(const json& body, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return base::InvalidArgument("json validation error: unknown field '" + key + "'");
    }
  }
  return {};
}

Result<std::optional<std::string>> OptString(const json& body, const char* key, size_t max) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<std::string>{};
  if (!body[key].is_string())
    return base::InvalidArgument(fmt::format("{}: must be a string", key));
  std::string s = body[key].get<std::string>();
  if (s.size() > max) {
    return base::InvalidArgument(fmt::format("{}: at most {} characters", key, max));
  }
  return std::optional<std::string>{std::move(s)};
}

Result<std::optional<int64_t>> OptInt(const json& body, const char* key, int64_t lo, int64_t hi) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<int64_t>{};
  const json& v = body[key];
  if (!v.is_number_integer()) {
    return base::InvalidArgument(fmt::format("{}: must be an integer", key));
  }
  const int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) {
    return base::InvalidArgument(fmt::format("{}: must be between {} and {}", key, lo, hi));
  }
  return std::optional<int64_t>{n};
}

Result<std::vector<Uuid>> UuidList(const json& body, const char* key) {
  std::vector<Uuid> out;
  if (!body.contains(key) || body[key].is_null()) return out;
  const json& v = body[key];
  if (!v.is_array()) return base::InvalidArgument(fmt::format("{}: must be an array", key));
  if (v.size() > kMaxListItems) {
    return base::InvalidArgument(fmt::format("{}: at most {} items", key, kMaxListItems));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    std::optional<Uuid> id;
    if (v[i].is_string()) id = Uuid::Parse(v[i].get<std::string>());
    if (!id) return base::InvalidArgument(fmt::format("{}[{}]: must be a UUID", key, i));
    if (std::find(out.begin(), out.end(), *id) == out.end()) out.push_back(*id);
  }
  return out;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::optional<int64_t> ParseId(std::string_view s) {
  int64_t v = 0;
  if (s.empty() || s.size() > 18) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

// Secrets are shown to read-write keys only.
json MaskSecrets(json config) {
  static const std::set<std::string> kSecret = {"password",  "auth_token", "secret",  "token",
                                                "bot_token", "app_token",  "user_key"};
  for (auto& [key, value] : config.items()) {
    if (kSecret.count(key) && value.is_string() && !value.get<std::string>().empty()) {
      value = "********";
    }
  }
  return config;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One field of an application/x-www-form-urlencoded body ("" when absent or malformed).
std::string FormValue(std::string_view body, std::string_view name) {
  for (const std::string& pair : Split(body, '&')) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || std::string_view(pair).substr(0, eq) != name) continue;
    std::string out;
    for (size_t i = eq + 1; i < pair.size(); ++i) {
      if (pair[i] == '+') {
        out += ' ';
      } else if (pair[i] == '%') {
        if (i + 2 >= pair.size()) return "";
        const int hi = HexValue(pair[i + 1]);
        const int lo = HexValue(pair[i + 2]);
        if (hi < 0 || lo < 0) return "";
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        out += pair[i];
      }
    }
    return out;
  }
  return "";
}

}  // namespace

struct IncidentsApi::Impl {
  Impl(incident::Desk& d, store::Store& s, const base::Clock& c, IncidentsApiOptions o)
      : desk(d), store(s), clock(c), options(std::move(o)) {}

  incident::Desk& desk;
  store::Store& store;
  const base::Clock& clock;
  IncidentsApiOptions options;

  // ---- formatting ---------------------------------------------------------------------------

  json ChainJson(const model::EscalationChain& c) const {
    json steps = json::array();
    for (const auto& s : c.steps) {
      json ch = json::array();
      for (const Uuid& id : s.channels) ch.push_back(id.ToString());
      steps.push_back(json{{"channels", ch}, {"wait", Secs(s.wait)}});
    }
    return json{{"steps", steps},
                {"repeat", c.repeat},
                {"remind_every", Secs(c.remind_every)},
                {"ack_timeout", Secs(c.ack_timeout)}};
  }

  json IncidentJson(const model::Incident& i) const {
    return json{{"id", i.id},
                {"watch", i.watch_id.ToString()},
                {"watch_name", i.watch_name},
                {"cause", i.cause},
                {"cause_detail", i.cause_detail},
                {"state", model::IncidentStateName(i.state)},
                {"opened_at", IsoOrNull(i.opened_at)},
                {"acked_at", IsoOrNull(i.acked_at)},
                {"acked_by", i.acked_by},
                {"resolved_at", IsoOrNull(i.resolved_at)},
                {"resolved_by", i.resolved_by},
                {"resolve_reason", i.resolve_reason},
                {"policy", i.policy_name},
                {"step", i.step + 1},
                // After the last run, round == repeat (reminders follow): show the last run.
                {"round", std::min(i.round + 1, std::max(i.chain.repeat, 1))},
                {"next_escalation_at", IsoOrNull(i.next_at)},
                {"escalation", ChainJson(i.chain)},
                {"url", options.public_url + "/api/v1/incidents/" + std::to_string(i.id)}};
  }

  static json EntryJson(const model::TimelineEntry& e) {
    json data = json::parse(e.data, nullptr, false);
    if (data.is_discarded()) data = json::object();
    return json{{"at", IsoOrNull(e.at)},
                {"kind", e.kind},
                {"actor", e.actor},
                {"message", e.message},
                {"data", data}};
  }

  // The channel's name and kind as they are now (null once the channel is deleted), so a
  // responder reads "ops-mail (email)" rather than an id.
  json NotificationJson(const model::Notification& n) const {
    const std::optional<model::Channel> channel = desk.FindChannel(n.channel_id);
    return json{{"id", n.id},
                {"incident", n.incident_id ? json(n.incident_id) : json(nullptr)},
                {"watch", n.watch_id.ToString()},
                {"channel", n.channel_id.ToString()},
                {"channel_name", channel ? json(channel->name) : json(nullptr)},
                {"channel_kind", channel ? json(channel->kind) : json(nullptr)},
                {"event", n.event},
                {"status", model::NotificationStatusName(n.status)},
                {"attempts", n.attempts},
                {"last_error", n.last_error},
                {"created", IsoOrNull(n.created)},
                {"next_attempt_at", n.status == model::NotificationStatus::kPending
                                        ? IsoOrNull(n.next_attempt_at)
                                        : json(nullptr)},
                {"finished_at", IsoOrNull(n.finished_at)},
                {"idempotency_key", n.idempotency_key}};
  }

  static json ChannelJson(const model::Channel& c, bool read_only) {
    json config = json::parse(c.config, nullptr, false);
    if (config.is_discarded()) config = json::object();
    return json{{"id", c.id.ToString()},
                {"name", c.name},
                {"kind", c.kind},
                {"config", read_only ? MaskSecrets(std::move(config)) : config},
                {"created", IsoOrNull(c.created)}};
  }

  static json PolicyJson(const model::Policy& p) {
    const auto ids = [](const std::vector<Uuid>& v) {
      json a = json::array();
      for (const Uuid& id : v) a.push_back(id.ToString());
      return a;
    };
    json steps = json::array();
    for (const auto& s : p.chain.steps) {
      steps.push_back(json{{"channels", ids(s.channels)}, {"wait", Secs(s.wait)}});
    }
    return json{{"id", p.id.ToString()},
                {"name", p.name},
                {"default", p.is_default},
                {"watches", ids(p.watches)},
                {"tags", p.tags},
                {"steps", steps},
                {"repeat", p.chain.repeat},
                {"remind_every", Secs(p.chain.remind_every)},
                {"ack_timeout", Secs(p.chain.ack_timeout)},
                {"alert_after_failures", p.alert_after_failures},
                {"late_channels", ids(p.late_channels)},
                {"created", IsoOrNull(p.created)}};
  }

  static json SilenceJson(const model::Silence& s) {
    return json{{"id", s.id.ToString()},
                {"watch", s.watch_id ? json(s.watch_id->ToString()) : json(nullptr)},
                {"tag", s.tag},
                {"starts", IsoOrNull(s.starts)},
                {"ends", IsoOrNull(s.ends)},
                {"reason", s.reason},
                {"created_by", s.created_by},
                {"created", IsoOrNull(s.created)}};
  }

  // ---- parsing ------------------------------------------------------------------------------

  Result<model::Channel> ParseChannel(const json& body, int64_t project_id, const Uuid& id) const {
    if (auto st = OnlyFields(body, {"name", "kind", "config"}); !st.ok()) return st.error();
    auto name = OptString(body, "name", kMaxName);
    if (!name.ok()) return name.error();
    if (!body.contains("kind") || !body["kind"].is_string()) {
      return base::InvalidArgument("kind: required, one of: " + KindList());
    }
    const std::string kind = body["kind"].get<std::string>();
    const json config = body.contains("config") ? body["config"] : json::object();
    auto normal = notify::ValidateChannel(kind, config);
    if (!normal.ok()) return normal.error();
    model::Channel c;
    c.id = id;
    c.project_id = project_id;
    c.kind = kind;
    c.name = name.value().value_or("");
    if (c.name.empty()) c.name = kind;
    c.config = base::JsonText(normal.value());
    c.created = clock.Now();
    return c;
  }

  static std::string KindList() {
    std::string out;
    for (const std::string& k : notify::ChannelKinds()) out += (out.empty() ? "" : ", ") + k;
    return out;
  }

  Status KnownChannels(const std::vector<Uuid>& ids, int64_t project_id, const std::string& field,
                       const std::vector<Uuid>& also = {}) const {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (std::find(also.begin(), also.end(), ids[i]) != also.end()) continue;
      auto c = desk.FindChannel(ids[i]);
      if (!c || c->project_id != project_id) {
        return base::InvalidArgument(
            fmt::format("{}[{}]: no channel {} in this project", field, i, ids[i].ToString()));
      }
    }
    return {};
  }

  Result<model::Policy> ParsePolicy(const json& body, int64_t project_id, const Uuid& id,
                                    const std::vector<Uuid>& also = {}) const {
    if (auto st = OnlyFields(
            body, {"name", "default", "watches", "tags", "steps", "repeat", "remind_every",
                   "ack_timeout", "alert_after_failures", "late_channels"});
        !st.ok()) {
      return st.error();
    }
    model::Policy p;
    p.id = id;
    p.project_id = project_id;
    p.created = clock.Now();
    auto name = OptString(body, "name", kMaxName);
    if (!name.ok()) return name.error();
    if (!name.value() || name.value()->empty()) return base::InvalidArgument("name: required");
    p.name = *name.value();
    if (body.contains("default")) {
      if (!body["default"].is_boolean()) return base::InvalidArgument("default: must be a boolean");
      p.is_default = body["default"].get<bool>();
    }
    auto watches = UuidList(body, "watches");
    if (!watches.ok()) return watches.error();
    p.watches = std::move(watches.value());
    if (body.contains("tags")) {
      const json& t = body["tags"];
      if (!t.is_array() || t.size() > kMaxListItems) {
        return base::InvalidArgument("tags: must be an array of strings");
      }
      for (size_t i = 0; i < t.size(); ++i) {
        if (!t[i].is_string() || t[i].get<std::string>().empty() ||
            t[i].get<std::string>().find(' ') != std::string::npos) {
          return base::InvalidArgument(fmt::format("tags[{}]: must be a tag (no spaces)", i));
        }
        p.tags.push_back(t[i].get<std::string>());
      }
    }
    if (!body.contains("steps") || !body["steps"].is_array() || body["steps"].empty()) {
      return base::InvalidArgument("steps: required, an array of at least one step");
    }
    const json& steps = body["steps"];
    if (steps.size() > 100) return base::InvalidArgument("steps: at most 100 steps");
    for (size_t i = 0; i < steps.size(); ++i) {
      const json& s = steps[i];
      const std::string field = fmt::format("steps[{}]", i);
      if (!s.is_object()) return base::InvalidArgument(field + ": must be an object");
      if (auto st = OnlyFields(s, {"channels", "wait"}); !st.ok()) {
        return base::InvalidArgument(field + ": " + st.error().message);
      }
      auto ch = UuidList(s, "channels");
      if (!ch.ok()) return base::InvalidArgument(field + "." + ch.error().message);
      if (ch.value().empty()) {
        return base::InvalidArgument(field + ".channels: at least one channel");
      }
      if (auto st = KnownChannels(ch.value(), project_id, field + ".channels", also); !st.ok()) {
        return st.error();
      }
      auto wait = OptInt(s, "wait", 1, kMaxSeconds);
      if (!wait.ok()) return base::InvalidArgument(field + "." + wait.error().message);
      model::EscalationStep step;
      step.channels = std::move(ch.value());
      step.wait = std::chrono::seconds(wait.value().value_or(600));
      p.chain.steps.push_back(std::move(step));
    }
    auto repeat = OptInt(body, "repeat", 1, 100);
    if (!repeat.ok()) return repeat.error();
    p.chain.repeat = static_cast<int>(repeat.value().value_or(1));
    auto remind = OptInt(body, "remind_every", 0, kMaxSeconds);
    if (!remind.ok()) return remind.error();
    p.chain.remind_every = std::chrono::seconds(remind.value().value_or(0));
    auto ack_timeout = OptInt(body, "ack_timeout", 0, kMaxSeconds);
    if (!ack_timeout.ok()) return ack_timeout.error();
    p.chain.ack_timeout = std::chrono::seconds(ack_timeout.value().value_or(0));
    auto failures = OptInt(body, "alert_after_failures", 1, 1000);
    if (!failures.ok()) return failures.error();
    p.alert_after_failures = static_cast<int>(failures.value().value_or(1));
    auto late = UuidList(body, "late_channels");
    if (!late.ok()) return late.error();
    if (auto st = KnownChannels(late.value(), project_id, "late_channels", also); !st.ok()) {
      return st.error();
    }
    p.late_channels = std::move(late.value());
    return p;
  }

  Result<model::Silence> ParseSilence(const json& body, int64_t project_id, const std::string& by) {
    if (auto st = OnlyFields(body, {"watch", "tag", "starts", "ends", "duration", "reason"});
        !st.ok()) {
      return st.error();
    }
    model::Silence s;
    s.id = Uuid::Random();
    s.project_id = project_id;
    s.created = clock.Now();
    s.created_by = by;
    if (body.contains("watch") && !body["watch"].is_null()) {
      std::optional<Uuid> w;
      if (body["watch"].is_string()) w = Uuid::Parse(body["watch"].get<std::string>());
      if (!w) return base::InvalidArgument("watch: must be a UUID");
      auto stored = store.GetWatch(*w);
      if (!stored.ok()) return stored.error();
      if (!stored.value() || stored.value()->spec.project_id != project_id) {
        return base::InvalidArgument("watch: no watch " + w->ToString() + " in this project");
      }
      s.watch_id = *w;
    }
    auto tag = OptString(body, "tag", kMaxName);
    if (!tag.ok()) return tag.error();
    s.tag = tag.value().value_or("");
    if (s.watch_id && !s.tag.empty()) {
      return base::InvalidArgument("tag: give a watch or a tag, not both");
    }
    const auto time_field = [&](const char* key) -> Result<std::optional<base::TimePoint>> {
      auto text = OptString(body, key, 64);
      if (!text.ok()) return text.error();
      if (!text.value()) return std::optional<base::TimePoint>{};
      auto t = base::ParseIso8601(*text.value());
      if (!t) {
        return base::InvalidArgument(fmt::format(
            "{}: \"{}\": must be an ISO 8601 time with an offset, e.g. 2026-11-25T10:00:00Z", key,
            *text.value()));
      }
      return std::optional<base::TimePoint>{*t};
    };
    auto starts = time_field("starts");
    if (!starts.ok()) return starts.error();
    s.starts = starts.value().value_or(s.created);
    auto ends = time_field("ends");
    if (!ends.ok()) return ends.error();
    auto duration = OptInt(body, "duration", 1, kMaxSeconds);
    if (!duration.ok()) return duration.error();
    if (ends.value() && duration.value()) {
      return base::InvalidArgument("duration: give ends or duration, not both");
    }
    if (ends.value()) {
      s.ends = *ends.value();
    } else if (duration.value()) {
      s.ends = s.starts + std::chrono::seconds(*duration.value());
    } else {
      return base::InvalidArgument("ends: required (or duration in seconds)");
    }
    if (s.ends <= s.starts) return base::InvalidArgument("ends: must be after starts");
    auto reason = OptString(body, "reason", kMaxNote);
    if (!reason.ok()) return reason.error();
    s.reason = reason.value().value_or("");
    return s;
  }

  // "by" in a request body, else who the key is.
  static Result<std::string> By(const json& body) {
    auto by = OptString(body, "by", kMaxName);
    if (!by.ok()) return by.error();
    return by.value() && !by.value()->empty() ? *by.value() : std::string("api");
  }

  // ---- handlers -----------------------------------------------------------------------------

  std::function<void(Result<model::Incident>)> AnswerIncident(http::Reply reply) {
    auto shared = std::make_shared<http::Reply>(std::move(reply));
    return [this, shared](Result<model::Incident> r) {
      (*shared)(r.ok() ? Json(200, IncidentJson(r.value())) : FromError(r.error()));
    };
  }

  void Incidents(const http::Request& req, const std::vector<std::string>& parts,
                 const Principal& who, const json& body, http::Reply reply) {
    const int64_t project = who.project_id;
    if (parts.size() == 1) {
      if (req.method != "GET") return reply(Error(405, "method not allowed: use GET"));
      store::IncidentFilter f;
      f.project_id = project;
      if (auto state = req.QueryParam("state")) {
        for (const std::string& s : Split(*state, ',')) {
          if (s == "active") {
            f.states.push_back(model::IncidentState::kOpen);
            f.states.push_back(model::IncidentState::kAcknowledged);
          } else if (auto st = model::ParseIncidentState(s)) {
            f.states.push_back(*st);
          } else {
            return reply(
                Error(400, "state: \"" + s + "\": one of open, acknowledged, resolved, active"));
          }
        }
      }
      if (auto w = req.QueryParam("watch")) {
        f.watch_id = Uuid::Parse(*w);
        if (!f.watch_id) return reply(Error(400, "watch: must be a UUID"));
      }
      if (auto c = req.QueryParam("cause")) f.cause = *c;
      if (auto l = req.QueryParam("limit")) {
        auto n = ParseId(*l);
        if (!n || *n > static_cast<int64_t>(kMaxListLimit)) {
          return reply(Error(400, fmt::format("limit: must be 1-{}", kMaxListLimit)));
        }
        f.limit = static_cast<size_t>(*n);
      }
      if (auto b = req.QueryParam("before")) {
        auto n = ParseId(*b);
        if (!n) return reply(Error(400, "before: must be an incident id"));
        f.before_id = *n;
      }
      auto list = store.ListIncidents(f);
      if (!list.ok()) return reply(FromError(list.error()));
      json out = json::array();
      for (const auto& i : list.value()) out.push_back(IncidentJson(i));
      return reply(Json(200, json{{"incidents", out}}));
    }
    const auto id = ParseId(parts[1]);
    if (!id) return reply(Error(404, "not found"));
    if (parts.size() == 2) {
      if (req.method != "GET") return reply(Error(405, "method not allowed: use GET"));
      auto inc = store.GetIncident(*id);
      if (!inc.ok()) return reply(FromError(inc.error()));
      if (!inc.value() || inc.value()->project_id != project) {
        return reply(Error(404, "not found"));
      }
      store::NotificationFilter nf;
      nf.project_id = project;
      nf.incident_id = *id;
      nf.limit = kMaxListLimit;
      auto notes = store.ListNotifications(nf);
      if (!notes.ok()) return reply(FromError(notes.error()));
      auto timeline = incident::ReadTimeline(store, project, *id);
      if (!timeline.ok()) return reply(FromError(timeline.error()));
      json j = IncidentJson(*inc.value());
      j["timeline"] = json::array();
      for (const auto& e : timeline.value()) j["timeline"].push_back(EntryJson(e));
      j["notifications"] = json::array();
      for (const auto& n : notes.value()) j["notifications"].push_back(NotificationJson(n));
      return reply(Json(200, j));
    }
    if (parts.size() != 3) return reply(Error(404, "not found"));
    const std::string& action = parts[2];
    if (action != "ack" && action != "unack" && action != "notes" && action != "resolve") {
      return reply(Error(404, "not found"));
    }
    if (req.method != "POST") return reply(Error(405, "method not allowed: use POST"));
    if (who.read_only) return reply(Error(403, "this API key is read-only"));
    auto by = By(body);
    if (!by.ok()) return reply(FromError(by.error()));
    if (action == "ack" || action == "unack") {
      if (auto st = OnlyFields(body, {"by"}); !st.ok()) return reply(FromError(st.error()));
      if (action == "ack") {
        return desk.Acknowledge(project, *id, by.value(), AnswerIncident(std::move(reply)));
      }
      return desk.Unacknowledge(project, *id, by.value(), AnswerIncident(std::move(reply)));
    }
    if (action == "resolve") {
      if (auto st = OnlyFields(body, {"by", "reason"}); !st.ok()) {
        return reply(FromError(st.error()));
      }
      auto reason = OptString(body, "reason", kMaxNote);
      if (!reason.ok()) return reply(FromError(reason.error()));
      if (!reason.value() || reason.value()->empty()) {
        return reply(Error(400, "reason: required: say why the incident is resolved"));
      }
      return desk.Resolve(project, *id, by.value(), *reason.value(),
                          AnswerIncident(std::move(reply)));
    }
    if (auto st = OnlyFields(body, {"by", "text"}); !st.ok()) return reply(FromError(st.error()));
    auto text = OptString(body, "text", kMaxNote);
    if (!text.ok()) return reply(FromError(text.error()));
    if (!text.value() || text.value()->empty()) return reply(Error(400, "text: required"));
    auto shared = std::make_shared<http::Reply>(std::move(reply));
    desk.AddNote(project, *id, by.value(), *text.value(), [shared](Result<model::TimelineEntry> r) {
      (*shared)(r.ok() ? Json(201, EntryJson(r.value())) : FromError(r.error()));
    });
  }

  static std::function<void(Status)> AnswerStatus(http::Reply reply, int status, json j) {
    auto shared = std::make_shared<http::Reply>(std::move(reply));
    return [shared, status, j = std::move(j)](Status st) {
      (*shared)(st.ok() ? Json(status, j) : FromError(st.error()));
    };
  }

  void Channels(const http::Request& req, const std::vector<std::string>& parts,
                const Principal& who, const json& body, http::Reply reply) {
    const int64_t project = who.project_id;
    const bool write = req.method != "GET";
    if (write && who.read_only) return reply(Error(403, "this API key is read-only"));
    if (parts.size() == 1) {
      if (req.method == "GET") {
        json out = json::array();
        for (const auto& c : desk.Channels(project)) out.push_back(ChannelJson(c, who.read_only));
        return reply(Json(200, json{{"channels", out}}));
      }
      if (req.method != "POST") return reply(Error(405, "method not allowed: use GET or POST"));
      auto c = ParseChannel(body, project, Uuid::Random());
      if (!c.ok()) return reply(FromError(c.error()));
      json j = ChannelJson(c.value(), false);
      return desk.PutChannel(std::move(c.value()), AnswerStatus(std::move(reply), 201, j));
    }
    const auto id = Uuid::Parse(parts[1]);
    if (!id) return reply(Error(404, "not found"));
    auto existing = desk.FindChannel(*id);
    if (existing && existing->project_id != project) return reply(Error(404, "not found"));
    if (parts.size() == 3 && parts[2] == "test") {
      if (req.method != "POST") return reply(Error(405, "method not allowed: use POST"));
      auto shared = std::make_shared<http::Reply>(std::move(reply));
      return desk.TestChannel(project, *id, [shared](Result<int64_t> r) {
        (*shared)(r.ok() ? Json(202, json{{"notification", r.value()}}) : FromError(r.error()));
      });
    }
    if (parts.size() != 2) return reply(Error(404, "not found"));
    if (req.method == "GET") {
      if (!existing) return reply(Error(404, "not found"));
      return reply(Json(200, ChannelJson(*existing, who.read_only)));
    }
    if (req.method == "PUT") {
      auto c = ParseChannel(body, project, *id);
      if (!c.ok()) return reply(FromError(c.error()));
      if (existing) c.value().created = existing->created;
      json j = ChannelJson(c.value(), false);
      return desk.PutChannel(std::move(c.value()),
                             AnswerStatus(std::move(reply), existing ? 200 : 201, j));
    }
    if (req.method == "DELETE") {
      if (!existing) return reply(Error(404, "not found"));
      return desk.DeleteChannel(project, *id,
                                AnswerStatus(std::move(reply), 200, ChannelJson(*existing, false)));
    }
    reply(Error(405, "method not allowed: use GET, PUT or DELETE"));
  }

  void Policies(const http::Request& req, const std::vector<std::string>& parts,
                const Principal& who, const json& body, http::Reply reply) {
    const int64_t project = who.project_id;
    if (req.method != "GET" && who.read_only) return reply(Error(403, "this API key is read-only"));
    if (parts.size() == 1) {
      if (req.method == "GET") {
        json out = json::array();
        for (const auto& p : desk.Policies(project)) out.push_back(PolicyJson(p));
        return reply(Json(200, json{{"policies", out}}));
      }
      if (req.method != "POST") return reply(Error(405, "method not allowed: use GET or POST"));
      auto p = ParsePolicy(body, project, Uuid::Random());
      if (!p.ok()) return reply(FromError(p.error()));
      json j = PolicyJson(p.value());
      return desk.PutPolicy(std::move(p.value()), AnswerStatus(std::move(reply), 201, j));
    }
    const auto id = Uuid::Parse(parts[1]);
    if (!id || parts.size() != 2) return reply(Error(404, "not found"));
    auto existing = desk.FindPolicy(*id);
    if (existing && existing->project_id != project) return reply(Error(404, "not found"));
    if (req.method == "GET") {
      if (!existing) return reply(Error(404, "not found"));
      return reply(Json(200, PolicyJson(*existing)));
    }
    if (req.method == "PUT") {
      auto p = ParsePolicy(body, project, *id);
      if (!p.ok()) return reply(FromError(p.error()));
      if (existing) p.value().created = existing->created;
      json j = PolicyJson(p.value());
      return desk.PutPolicy(std::move(p.value()),
                            AnswerStatus(std::move(reply), existing ? 200 : 201, j));
    }
    if (req.method == "DELETE") {
      if (!existing) return reply(Error(404, "not found"));
      return desk.DeletePolicy(project, *id,
                               AnswerStatus(std::move(reply), 200, PolicyJson(*existing)));
    }
    reply(Error(405, "method not allowed: use GET, PUT or DELETE"));
  }

  void Silences(const http::Request& req, const std::vector<std::string>& parts,
                const Principal& who, const json& body, http::Reply reply) {
    const int64_t project = who.project_id;
    if (req.method != "GET" && who.read_only) return reply(Error(403, "this API key is read-only"));
    if (parts.size() == 1) {
      if (req.method == "GET") {
        json out = json::array();
        for (const auto& s : desk.Silences(project)) out.push_back(SilenceJson(s));
        return reply(Json(200, json{{"silences", out}}));
      }
      if (req.method != "POST") return reply(Error(405, "method not allowed: use GET or POST"));
      auto by = By(json::object());
      auto s = ParseSilence(body, project, by.value());
      if (!s.ok()) return reply(FromError(s.error()));
      json j = SilenceJson(s.value());
      return desk.PutSilence(std::move(s.value()), AnswerStatus(std::move(reply), 201, j));
    }
    const auto id = Uuid::Parse(parts[1]);
    if (!id || parts.size() != 2) return reply(Error(404, "not found"));
    auto existing = desk.FindSilence(*id);
    if (!existing || existing->project_id != project) return reply(Error(404, "not found"));
    if (req.method == "GET") return reply(Json(200, SilenceJson(*existing)));
    if (req.method == "DELETE") {
      return desk.DeleteSilence(project, *id,
                                AnswerStatus(std::move(reply), 200, SilenceJson(*existing)));
    }
    reply(Error(405, "method not allowed: use GET or DELETE"));
  }

  void Notifications(const http::Request& req, const std::vector<std::string>& parts,
                     const Principal& who, http::Reply reply) {
    if (parts.size() != 1) return reply(Error(404, "not found"));
    if (req.method != "GET") return reply(Error(405, "method not allowed: use GET"));
    store::NotificationFilter f;
    f.project_id = who.project_id;
    if (auto status = req.QueryParam("status")) {
      for (const std::string& s : Split(*status, ',')) {
        auto st = model::ParseNotificationStatus(s);
        if (!st) {
          return reply(
              Error(400, "status: \"" + s + "\": one of pending, delivered, failed, held"));
        }
        f.statuses.push_back(*st);
      }
    }
    if (auto i = req.QueryParam("incident")) {
      auto n = ParseId(*i);
      if (!n) return reply(Error(400, "incident: must be an incident id"));
      f.incident_id = *n;
    }
    if (auto l = req.QueryParam("limit")) {
      auto n = ParseId(*l);
      if (!n || *n > static_cast<int64_t>(kMaxListLimit)) {
        return reply(Error(400, fmt::format("limit: must be 1-{}", kMaxListLimit)));
      }
      f.limit = static_cast<size_t>(*n);
    }
    auto list = store.ListNotifications(f);
    if (!list.ok()) return reply(FromError(list.error()));
    json out = json::array();
    for (const auto& n : list.value()) out.push_back(NotificationJson(n));
    reply(Json(200, json{{"notifications", out}}));
  }

  // ---- /ack pages ---------------------------------------------------------------------------

  static http::Response Page(int status, const std::string& title, const std::string& inner) {
    http::Response r;
    r.status = status;
    r.content_type = "text/html; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
    r.body =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>" +
        base::MarkupEscape(title) +
        " · overdue</title><style>body{font-family:system-ui,sans-serif;max-width:34rem;"
        "margin:2rem auto;padding:0 1rem;line-height:1.5}button{font-size:1.2rem;padding:"
        ".7rem 1.4rem}dt{font-weight:600}</style></head><body><h1>" +
        base::MarkupEscape(title) + "</h1>" + inner + "</body></html>";
    return r;
  }

  std::string Summary(const model::Incident& i) const {
    return "<dl><dt>Watch</dt><dd>" + base::MarkupEscape(i.watch_name) + "</dd><dt>What</dt><dd>" +
           base::MarkupEscape(i.cause_detail) + "</dd><dt>Since</dt><dd>" +
           base::MarkupEscape(base::FormatForPeople(i.opened_at)) + "</dd><dt>State</dt><dd>" +
           std::string(model::IncidentStateName(i.state)) +
           (i.acked_by.empty() ? "" : " (acknowledged by " + base::MarkupEscape(i.acked_by) + ")") +
           "</dd></dl>";
  }

  void AckPage(const http::Request& req, std::string_view token, http::Reply reply) {
    auto id = CheckAckToken(options.secret, token, clock.Now());
    if (!id.ok()) {
      const bool expired = id.error().code == base::ErrorCode::kConflict;
      return reply(Page(expired ? 410 : 404, expired ? "Link expired" : "Link not valid",
                        "<p>" + base::MarkupEscape(id.error().message) +
                            ". Acknowledge in the dashboard or with <code>overdue incidents ack"
                            "</code>.</p>"));
    }
    auto inc = store.GetIncident(id.value());
    if (!inc.ok()) return reply(Page(503, "Try again", "<p>The store is unavailable.</p>"));
    if (!inc.value()) return reply(Page(404, "Link not valid", "<p>No such incident.</p>"));
    const model::Incident& i = *inc.value();
    if (req.method == "GET" || req.method == "HEAD") {
      // GET never changes state (link scanners and previews open links): the button POSTs.
      if (i.state == model::IncidentState::kResolved) {
        return reply(Page(200, "Already resolved", Summary(i)));
      }
      return reply(Page(200, "Acknowledge incident #" + std::to_string(i.id),
                        Summary(i) +
                            "<form method=\"post\"><p><label>Your name (optional) <input "
                            "name=\"by\" maxlength=\"100\" autocomplete=\"name\"></label></p>"
                            "<p><button type=\"submit\">Acknowledge</button></p></form>"));
    }
    if (req.method != "POST") {
      http::Response r = Page(405, "Method not allowed", "<p>Use the button.</p>");
      r.headers.emplace_back("Allow", "GET, POST");
      return reply(std::move(r));
    }
    std::string by = FormValue(req.body, "by").substr(0, 100);
    by.erase(std::remove_if(by.begin(), by.end(),
                            [](char c) { return static_cast<unsigned char>(c) < 0x20; }),
             by.end());
    if (by.empty()) by = "link";
    auto shared = std::make_shared<http::Reply>(std::move(reply));
    desk.Acknowledge(i.project_id, i.id, by, [this, shared](Result<model::Incident> r) {
      if (r.ok()) {
        (*shared)(
            Page(200, "Acknowledged", "<p>Thank you: escalation stops.</p>" + Summary(r.value())));
      } else if (r.error().code == base::ErrorCode::kConflict) {
        (*shared)(
            Page(409, "Already resolved", "<p>" + base::MarkupEscape(r.error().message) + "</p>"));
      } else {
        (*shared)(Page(StatusOf(r.error()), "Not acknowledged",
                       "<p>" + base::MarkupEscape(r.error().message) + "</p>"));
      }
    });
  }
};

IncidentsApi::IncidentsApi(incident::Desk& desk, store::Store& store, const base::Clock& clock,
                           IncidentsApiOptions options)
    : impl_(std::make_unique<Impl>(desk, store, clock, std::move(options))) {}

IncidentsApi::~IncidentsApi() = default;

bool IncidentsApi::Owns(std::string_view path) {
  constexpr std::string_view kPrefix = "/api/v1/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return false;
  path.remove_prefix(kPrefix.size());
  const std::string_view first = path.substr(0, path.find('/'));
  return first == "incidents" || first == "channels" || first == "policies" ||
         first == "silences" || first == "notifications";
}

void IncidentsApi::Handle(const http::Request& request, std::string_view path,
                          const Principal& principal, json body, http::Reply reply) {
  path.remove_prefix(std::string_view("/api/v1/").size());
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  body.erase("api_key");
  const std::vector<std::string> parts = Split(path, '/');
  if (parts.empty()) return reply(Error(404, "not found"));
  const std::string& what = parts[0];
  if (what == "incidents")
    return impl_->Incidents(request, parts, principal, body, std::move(reply));
  if (what == "channels") return impl_->Channels(request, parts, principal, body, std::move(reply));
  if (what == "policies") return impl_->Policies(request, parts, principal, body, std::move(reply));
  if (what == "silences") return impl_->Silences(request, parts, principal, body, std::move(reply));
  impl_->Notifications(request, parts, principal, std::move(reply));
}

void IncidentsApi::Ack(const http::Request& request, std::string_view token, http::Reply reply) {
  impl_->AckPage(request, token, std::move(reply));
}

json IncidentsApi::ExportChannels(int64_t project_id) const {
  json out = json::array();
  for (const auto& c : impl_->desk.Channels(project_id)) out.push_back(Impl::ChannelJson(c, false));
  return out;
}

json IncidentsApi::ExportPolicies(int64_t project_id) const {
  json out = json::array();
  for (const auto& p : impl_->desk.Policies(project_id)) out.push_back(Impl::PolicyJson(p));
  return out;
}

Result<IncidentsApi::ImportPlan> IncidentsApi::PrepareImport(int64_t project_id,
                                                             const json& channels,
                                                             const json& policies) const {
  ImportPlan plan;
  if (!channels.is_array()) return base::InvalidArgument("\"channels\" must be an array");
  if (!policies.is_array()) return base::InvalidArgument("\"policies\" must be an array");
  // Each item is an exported object: its id and created time are kept, the rest is checked
  // exactly as the API checks it.
  const auto split = [](const json& item, const std::string& at) -> Result<std::pair<Uuid, json>> {
    if (!item.is_object()) return base::InvalidArgument(at + ": must be an object");
    std::optional<Uuid> id;
    if (item.contains("id") && item["id"].is_string())
      id = Uuid::Parse(item["id"].get<std::string>());
    if (!id) return base::InvalidArgument(at + ".id: must be a UUID");
    json body = item;
    body.erase("id");
    body.erase("created");
    return std::make_pair(*id, body);
  };
  std::vector<Uuid> ids;
  for (size_t i = 0; i < channels.size(); ++i) {
    const std::string at = fmt::format("channels[{}]", i);
    auto parts = split(channels[i], at);
    if (!parts.ok()) return parts.error();
    const auto& [id, body] = parts.value();
    if (auto other = impl_->desk.FindChannel(id); other && other->project_id != project_id) {
      return base::Error{base::ErrorCode::kConflict,
                         at + ": " + id.ToString() + " belongs to another project"};
    }
    auto c = impl_->ParseChannel(body, project_id, id);
    if (!c.ok()) return base::InvalidArgument(at + "." + c.error().message);
    ids.push_back(id);
    plan.channels.push_back(std::move(c.value()));
  }
  for (size_t i = 0; i < policies.size(); ++i) {
    const std::string at = fmt::format("policies[{}]", i);
    auto parts = split(policies[i], at);
    if (!parts.ok()) return parts.error();
    const auto& [id, body] = parts.value();
    if (auto other = impl_->desk.FindPolicy(id); other && other->project_id != project_id) {
      return base::Error{base::ErrorCode::kConflict,
                         at + ": " + id.ToString() + " belongs to another project"};
    }
    auto p = impl_->ParsePolicy(body, project_id, id, ids);
    if (!p.ok()) return base::InvalidArgument(at + "." + p.error().message);
    plan.policies.push_back(std::move(p.value()));
  }
  return plan;
}

Status IncidentsApi::Commit(ImportPlan plan) const {
  // Channels before the policies that name them; each waits for its commit.
  const auto wait = [](auto put) {
    std::promise<Status> done;
    put([&done](Status st) { done.set_value(st); });
    return done.get_future().get();
  };
  for (model::Channel& c : plan.channels) {
    auto st = wait([&](auto done) { impl_->desk.PutChannel(std::move(c), done); });
    if (!st.ok()) return st;
  }
  for (model::Policy& p : plan.policies) {
    auto st = wait([&](auto done) { impl_->desk.PutPolicy(std::move(p), done); });
    if (!st.ok()) return st;
  }
  return {};
}

std::string IncidentsApi::AckUrl(int64_t id) const {
  return impl_->options.public_url + "/ack/" +
         MakeAckToken(impl_->options.secret, id, impl_->clock.Now() + impl_->options.ack_link_ttl);
}

void IncidentsApi::SetPublicUrl(std::string url) { impl_->options.public_url = std::move(url); }

const std::vector<std::string>& IncidentsApi::Routes() {
  static const std::vector<std::string> kRoutes = {
      "GET /api/v1/incidents",
      "GET /api/v1/incidents/{id}",
      "POST /api/v1/incidents/{id}/ack",
      "POST /api/v1/incidents/{id}/unack",
      "POST /api/v1/incidents/{id}/notes",
      "POST /api/v1/incidents/{id}/resolve",
      "GET /api/v1/channels",
      "POST /api/v1/channels",
      "GET /api/v1/channels/{uuid}",
      "PUT /api/v1/channels/{uuid}",
      "DELETE /api/v1/channels/{uuid}",
      "POST /api/v1/channels/{uuid}/test",
      "GET /api/v1/policies",
      "POST /api/v1/policies",
      "GET /api/v1/policies/{uuid}",
      "PUT /api/v1/policies/{uuid}",
      "DELETE /api/v1/policies/{uuid}",
      "GET /api/v1/silences",
      "POST /api/v1/silences",
      "GET /api/v1/silences/{uuid}",
      "DELETE /api/v1/silences/{uuid}",
      "GET /api/v1/notifications",
      "GET /ack/{token}",
      "POST /ack/{token}",
  };
  return kRoutes;
}

}  // namespace overdue::api
