#include "cli/incidents_command.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "base/json_text.h"
#include "base/uuid.h"
#include "cli/checks_command.h"

namespace overdue::cli {
namespace {

using nlohmann::json;
using Verb = IncidentsRequest::Verb;

// The API's limits (api/incidents_api.cc), checked here so that a typo is a usage error.
constexpr int64_t kMaxListLimit = 1000;

// Code points of UTF-8 text: the width a terminal gives it (wide CJK glyphs aside).
size_t Width(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string StringField(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::optional<int64_t> IntField(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

std::string OrDash(std::string s) { return s.empty() ? "-" : s; }

// A notification's channel: "name (kind)", or its id from a server that sends no names or
// for a channel deleted since.
std::string ChannelLabel(const json& notification) {
  const std::string name = StringField(notification, "channel_name");
  if (name.empty()) return StringField(notification, "channel");
  const std::string kind = StringField(notification, "channel_kind");
  return kind.empty() ? name : name + " (" + kind + ")";
}

// A scalar as text: strings unquoted, numbers as written, null and absent as "".
std::string ScalarText(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_primitive()) return it->dump();
  return "";
}

// Rows as aligned columns (two spaces apart), each line prefixed by `indent`, no trailing
// spaces.
std::string Columns(const std::vector<std::vector<std::string>>& rows,
                    std::string_view indent = "") {
  if (rows.empty()) return "";
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t k = 0; k < row.size() && k < widths.size(); ++k) {
      widths[k] = std::max(widths[k], Width(row[k]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent);
    for (size_t k = 0; k < row.size(); ++k) {
      line += row[k];
      if (k + 1 < row.size()) line.append(widths[k] - Width(row[k]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::optional<base::TimePoint> TimeField(const json& j, const char* key) {
  const std::string s = StringField(j, key);
  if (s.empty()) return std::nullopt;
  return ParseIsoTime(s);
}

// "2026-11-25 10:00:05" in UTC (the server's text when it cannot be parsed).
std::string ShortTime(const json& j, const char* key) {
  const std::string text = StringField(j, key);
  const auto t = TimeField(j, key);
  if (!t) return text;
  std::string iso = base::FormatIso8601(*t);  // 2026-11-25T10:00:05+00:00
  iso = iso.substr(0, 19);
  iso[10] = ' ';
  return iso;
}

// "5m ago (2026-11-25 10:00:05)", or "" when the field is null.
std::string WhenField(const json& j, const char* key, base::TimePoint now) {
  const auto t = TimeField(j, key);
  if (!t) return "";
  return FormatRelative(t, now) + " (" + ShortTime(j, key) + " UTC)";
}

std::string Seconds(const json& j, const char* key) {
  const auto s = IntField(j, key);
  if (!s || *s <= 0) return "";
  return base::FormatDuration(std::chrono::seconds(*s));
}

// What happens at the incident's next_escalation_at: the label of its line and what to add
// after the time. The last step of the last run leads to reminders or to nothing at all, and
// an acknowledged incident's timer is its acknowledgement timing out.
std::pair<std::string, std::string> NextTimer(const json& incident) {
  if (StringField(incident, "state") == "acknowledged") {
    return {"reopens", " if still down"};
  }
  const auto esc = incident.find("escalation");
  if (esc == incident.end() || !esc->is_object()) return {"next escalation", ""};
  const auto steps = esc->find("steps");
  const size_t n_steps = steps != esc->end() && steps->is_array() ? steps->size() : 0;
  const auto step = IntField(incident, "step");
  const auto round = IntField(incident, "round");
  const auto repeat = IntField(*esc, "repeat");
  const bool last = step && round && repeat && n_steps > 0 &&
                    *step >= static_cast<int64_t>(n_steps) && *round >= *repeat;
  if (!last) return {"next escalation", ""};
  if (!Seconds(*esc, "remind_every").empty()) return {"next reminder", ""};
  return {"chain ends", ", nothing more is sent"};
}

std::string IncidentLabel(const json& incident, const std::string& fallback_id) {
  std::string id = ScalarText(incident, "id");
  if (id.empty()) id = fallback_id;
  std::string watch = StringField(incident, "watch_name");
  if (watch.empty()) watch = StringField(incident, "watch");
  return "incident " + id + (watch.empty() ? "" : " (" + watch + ")");
}

std::string SilenceScope(const json& silence) {
  const std::string watch = StringField(silence, "watch");
  if (!watch.empty()) return "watch " + watch;
  const std::string tag = StringField(silence, "tag");
  if (!tag.empty()) return "tag " + tag;
  return "project";
}

// A positive integer, as incidents are numbered.
bool IsIncidentId(std::string_view text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  return !text.empty() && ec == std::errc() && ptr == end && v > 0;
}

bool IsIncidentVerb(Verb v) {
  return v == Verb::kIncidentsShow || v == Verb::kIncidentsAck || v == Verb::kIncidentsUnack ||
         v == Verb::kIncidentsNote || v == Verb::kIncidentsResolve;
}

// What a command sends; `what` names it in error messages ("incident 12").
struct Call {
  std::string method = "GET";
  std::string path;
  json body;  // null: no body
  std::string what;
};

// The request for `r`, or a usage error (the message for stderr).
base::Result<Call> BuildCall(const IncidentsRequest& r) {
  Call c;
  auto with_by = [&r](json body) {
    if (r.by) body["by"] = *r.by;
    return body;
  };
  if (IsIncidentVerb(r.verb)) {
    if (r.id.empty()) return base::InvalidArgument("an incident's number is required");
    if (!IsIncidentId(r.id)) {
      return base::InvalidArgument("\"" + r.id +
                                   "\": must be an incident's number (`overdue incidents list` "
                                   "shows them)");
    }
  }
  if ((r.verb == Verb::kChannelsTest || r.verb == Verb::kSilencesDelete) &&
      !base::Uuid::Parse(r.id)) {
    return base::InvalidArgument("\"" + r.id + "\": must be a " +
                                 (r.verb == Verb::kChannelsTest ? "channel's" : "silence's") +
                                 " UUID");
  }
  const std::string incident_path = "/api/v1/incidents/" + r.id;
  switch (r.verb) {
    case Verb::kIncidentsList: {
      c.path = "/api/v1/incidents";
      std::string query;
      auto add = [&query](const char* key, const std::string& value) {
        // Appended piece by piece: GCC 12 -O2 mis-warns (-Wrestrict) on "?" + std::string.
        query += query.empty() ? '?' : '&';
        query += key;
        query += '=';
        query += EscapeQueryComponent(value);
      };
      if (r.state) {
        std::string_view rest = *r.state;
        while (true) {
          const size_t comma = rest.find(',');
          const std::string_view s = rest.substr(0, comma);
          if (s != "open" && s != "acknowledged" && s != "resolved" && s != "active") {
            return base::InvalidArgument("--state: \"" + *r.state +
                                         "\": open, acknowledged, resolved or active "
                                         "(comma-separated)");
          }
          if (comma == std::string_view::npos) break;
          rest = rest.substr(comma + 1);
        }
        add("state", *r.state);
      }
      if (r.watch) {
        if (!base::Uuid::Parse(*r.watch)) {
          return base::InvalidArgument("--watch: \"" + *r.watch + "\": must be a watch's UUID");
        }
        add("watch", *r.watch);
      }
      if (r.limit) {
        int64_t n = 0;
        const char* end = r.limit->data() + r.limit->size();
        const auto [ptr, ec] = std::from_chars(r.limit->data(), end, n);
        if (r.limit->empty() || ec != std::errc() || ptr != end || n < 1 || n > kMaxListLimit) {
          return base::InvalidArgument("--limit: \"" + *r.limit +
                                       "\": must be a number from 1 to " +
                                       std::to_string(kMaxListLimit));
        }
        add("limit", *r.limit);
      }
      c.path += query;
      c.what = "incidents list";
      break;
    }
    case Verb::kIncidentsShow:
      c.path = incident_path;
      c.what = "incident " + r.id;
      break;
    case Verb::kIncidentsAck:
    case Verb::kIncidentsUnack:
      c.method = "POST";
      c.path = incident_path + (r.verb == Verb::kIncidentsAck ? "/ack" : "/unack");
      c.body = with_by(json::object());
      c.what = "incident " + r.id;
      break;
    case Verb::kIncidentsNote:
      if (r.text.empty()) return base::InvalidArgument("the note's text is required");
      c.method = "POST";
      c.path = incident_path + "/notes";
      c.body = with_by(json{{"text", r.text}});
      c.what = "incident " + r.id;
      break;
    case Verb::kIncidentsResolve:
      if (!r.reason || r.reason->empty()) {
        return base::InvalidArgument("--reason is required: say why the incident is over");
      }
      c.method = "POST";
      c.path = incident_path + "/resolve";
      c.body = with_by(json{{"reason", *r.reason}});
      c.what = "incident " + r.id;
      break;
    case Verb::kChannelsList:
      c.path = "/api/v1/channels";
      c.what = "channels list";
      break;
    case Verb::kChannelsTest:
      c.method = "POST";
      c.path = "/api/v1/channels/" + r.id + "/test";
      c.what = "channel " + r.id;
      break;
    case Verb::kSilencesList:
      c.path = "/api/v1/silences";
      c.what = "silences list";
      break;
    case Verb::kSilencesCreate: {
      const int scopes = int{r.watch.has_value()} + int{r.tag.has_value()} + int{r.project};
      if (scopes != 1) {
        return base::InvalidArgument(
            "give one of --watch UUID, --tag TAG or --project (what to silence)");
      }
      if (r.duration.has_value() == r.ends.has_value()) {
        return base::InvalidArgument(
            "give one of --duration (e.g. 2h) or --ends (e.g. 2026-11-25T10:00:00Z)");
      }
      json body = json::object();
      if (r.watch) {
        if (!base::Uuid::Parse(*r.watch)) {
          return base::InvalidArgument("--watch: \"" + *r.watch + "\": must be a watch's UUID");
        }
        body["watch"] = *r.watch;
      }
      if (r.tag) {
        if (r.tag->empty() || r.tag->find(' ') != std::string::npos) {
          return base::InvalidArgument("--tag: \"" + *r.tag + "\": must be one tag, no spaces");
        }
        body["tag"] = *r.tag;
      }
      if (r.duration) {
        auto s = ParseSecondsFlag("--duration", *r.duration);
        if (!s.ok()) return s.error();
        if (s.value() < 1) {
          return base::InvalidArgument("--duration: \"" + *r.duration + "\": must be at least 1s");
        }
        body["duration"] = s.value();
      }
      if (r.ends) {
        if (!base::ParseIso8601(*r.ends)) {
          return base::InvalidArgument("--ends: \"" + *r.ends +
                                       "\": must be an ISO 8601 time with an offset, e.g. "
                                       "2026-11-25T10:00:00Z");
        }
        body["ends"] = *r.ends;
      }
      if (r.reason) body["reason"] = *r.reason;
      c.method = "POST";
      c.path = "/api/v1/silences";
      c.body = std::move(body);
      c.what = "silences create";
      break;
    }
    case Verb::kSilencesDelete:
      c.method = "DELETE";
      c.path = "/api/v1/silences/" + r.id;
      c.what = "silence " + r.id;
      break;
  }
  return c;
}

// The array `key` of a list reply, or null after reporting its absence.
const json* ListOf(const json& reply, const char* key, const std::string& what, std::ostream& err) {
  const auto it = reply.find(key);
  if (it == reply.end() || !it->is_array()) {
    err << "overdue: " << what << ": the answer has no \"" << key << "\" array\n";
    return nullptr;
  }
  return &*it;
}

}  // namespace

std::string FormatIncidentsTable(const json& incidents, base::TimePoint now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "STATE", "WATCH", "CAUSE", "OPENED", "ACK BY"});
  if (incidents.is_array()) {
    for (const json& i : incidents) {
      if (!i.is_object()) continue;
      std::string watch = StringField(i, "watch_name");
      if (watch.empty()) watch = StringField(i, "watch");
      rows.push_back({OrDash(ScalarText(i, "id")), OrDash(StringField(i, "state")), OrDash(watch),
                      OrDash(StringField(i, "cause")),
                      FormatRelative(TimeField(i, "opened_at"), now),
                      OrDash(StringField(i, "acked_by"))});
    }
  }
  return Columns(rows);
}

std::string FormatIncidentDetails(const json& incident, base::TimePoint now) {
  if (!incident.is_object()) return "";
  std::vector<std::pair<std::string, std::string>> lines;
  auto add = [&](const char* label, std::string value) {
    if (!value.empty()) lines.emplace_back(label, std::move(value));
  };
  add("incident", ScalarText(incident, "id"));
  const std::string watch_id = StringField(incident, "watch");
  const std::string watch_name = StringField(incident, "watch_name");
  add("watch",
      watch_name.empty() ? watch_id : watch_name + (watch_id.empty() ? "" : " (" + watch_id + ")"));
  add("state", StringField(incident, "state"));
  const std::string detail = StringField(incident, "cause_detail");
  add("cause", StringField(incident, "cause") + (detail.empty() ? "" : ": " + detail));
  add("opened", WhenField(incident, "opened_at", now));
  if (const std::string acked = WhenField(incident, "acked_at", now); !acked.empty()) {
    const std::string by = StringField(incident, "acked_by");
    add("acknowledged", acked + (by.empty() ? "" : " by " + by));
  }
  if (const std::string resolved = WhenField(incident, "resolved_at", now); !resolved.empty()) {
    const std::string by = StringField(incident, "resolved_by");
    add("resolved", resolved + (by.empty() ? "" : " by " + by));
    add("reason", StringField(incident, "resolve_reason"));
  }
  if (incident.contains("policy")) {
    const std::string policy = StringField(incident, "policy");
    add("policy", policy.empty() ? "(implicit)" : policy);
  }
  const auto esc = incident.find("escalation");
  if (esc != incident.end() && esc->is_object()) {
    const json& escalation = *esc;
    const auto steps = escalation.find("steps");
    const size_t n_steps = steps != escalation.end() && steps->is_array() ? steps->size() : 0;
    const auto step = IntField(incident, "step");
    const auto round = IntField(incident, "round");
    const auto repeat = IntField(escalation, "repeat");
    if (step && n_steps > 0) {
      std::string text = "step " + std::to_string(*step) + " of " + std::to_string(n_steps);
      if (round && repeat) {
        text += ", round " + std::to_string(*round) + " of " + std::to_string(*repeat);
      }
      add("escalation", text);
    }
    if (const std::string every = Seconds(escalation, "remind_every"); !every.empty()) {
      add("reminders", "every " + every + " after the last round");
    }
    add("ack timeout", Seconds(escalation, "ack_timeout"));
  }
  if (const std::string next = WhenField(incident, "next_escalation_at", now); !next.empty()) {
    const auto [label, what] = NextTimer(incident);
    add(label.c_str(), next + what);
  }
  add("url", StringField(incident, "url"));

  size_t width = 0;
  for (const auto& [label, value] : lines) width = std::max(width, label.size());
  std::string out;
  for (const auto& [label, value] : lines) {
    out += label + ":" + std::string(width - label.size() + 1, ' ') + value + "\n";
  }

  const auto timeline = incident.find("timeline");
  if (timeline != incident.end() && timeline->is_array() && !timeline->empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const json& e : *timeline) {
      if (!e.is_object()) continue;
      rows.push_back({ShortTime(e, "at"), OrDash(StringField(e, "kind")),
                      OrDash(StringField(e, "actor")), StringField(e, "message")});
    }
    out += "\ntimeline (UTC):\n" + Columns(rows, "  ");
  }
  const auto notifications = incident.find("notifications");
  if (notifications != incident.end() && notifications->is_array() && !notifications->empty()) {
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"ID", "EVENT", "CHANNEL", "STATUS", "ATTEMPTS", "LAST ERROR"});
    for (const json& n : *notifications) {
      if (!n.is_object()) continue;
      rows.push_back({OrDash(ScalarText(n, "id")), OrDash(StringField(n, "event")),
                      OrDash(ChannelLabel(n)), OrDash(StringField(n, "status")),
                      OrDash(ScalarText(n, "attempts")), StringField(n, "last_error")});
    }
    out += "\nnotifications:\n" + Columns(rows, "  ");
  }
  return out;
}

std::string FormatChannelsTable(const json& channels) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "NAME", "KIND", "CREATED"});
  if (channels.is_array()) {
    for (const json& c : channels) {
      if (!c.is_object()) continue;
      rows.push_back({OrDash(StringField(c, "id")), OrDash(StringField(c, "name")),
                      OrDash(StringField(c, "kind")), OrDash(ShortTime(c, "created"))});
    }
  }
  return Columns(rows);
}

std::string FormatSilencesTable(const json& silences, base::TimePoint now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "SCOPE", "STARTS", "ENDS", "REASON"});
  if (silences.is_array()) {
    for (const json& s : silences) {
      if (!s.is_object()) continue;
      rows.push_back({OrDash(StringField(s, "id")), SilenceScope(s),
                      FormatRelative(TimeField(s, "starts"), now),
                      FormatRelative(TimeField(s, "ends"), now), StringField(s, "reason")});
    }
  }
  return Columns(rows);
}

int RunIncidents(const IncidentsRequest& request, std::ostream& out, std::ostream& err) {
  if (auto st = RequireApiKey(request.client, request.config_path); !st.ok()) {
    err << "overdue: " << st.error().message << "\n";
    return kExitUsage;
  }
  auto call = BuildCall(request);
  if (!call.ok()) {
    err << "overdue: " << call.error().message << "\n";
    return kExitUsage;
  }
  const Call& c = call.value();

  const ApiClient client(request.client.url, request.client.api_key);
  auto r = client.Send(c.method, c.path, c.body.is_null() ? std::string() : base::JsonText(c.body));
  if (!r.ok()) {
    if (r.error().code == base::ErrorCode::kUnavailable) return ReportUnreachable(r.error(), err);
    err << "overdue: " << r.error().message << "\n";
    return kExitError;
  }
  if (r->status < 200 || r->status >= 300) {
    const int code = ReportHttpError(r.value(), c.what, err);
    if (r->status == 401 && !request.client.api_key_source.empty()) {
      err << "overdue: the API key came from " << request.client.api_key_source << "\n";
    }
    if (r->status == 403 && c.method != "GET") {
      err << "overdue: a read-only key may list and show only; use a read-write key\n";
    }
    return code;
  }
  if (request.json) {
    out << r->body;
    if (!r->body.empty() && r->body.back() != '\n') out << "\n";
    return kExitOk;
  }
  const json reply = json::parse(r->body, nullptr, false);
  if (!reply.is_object()) {
    err << "overdue: " << c.what << ": the server's answer (HTTP " << r->status
        << ") is not a JSON object: is " << request.client.url
        << " an overdue server with incidents (/api/v1)?\n";
    return kExitError;
  }
  const base::TimePoint now =
      std::chrono::time_point_cast<base::Duration>(std::chrono::system_clock::now());
  switch (request.verb) {
    case Verb::kIncidentsList: {
      const json* list = ListOf(reply, "incidents", c.what, err);
      if (list == nullptr) return kExitError;
      out << (list->empty() ? "no incidents\n" : FormatIncidentsTable(*list, now));
      break;
    }
    case Verb::kIncidentsShow:
      out << FormatIncidentDetails(reply, now);
      break;
    case Verb::kIncidentsAck: {
      const std::string by = StringField(reply, "acked_by");
      out << "acknowledged " << IncidentLabel(reply, request.id) << (by.empty() ? "" : " by " + by)
          << "\n";
      break;
    }
    case Verb::kIncidentsUnack:
      out << IncidentLabel(reply, request.id) << " is open again\n";
      break;
    case Verb::kIncidentsNote:
      out << "added a note to incident " << request.id << "\n";
      break;
    case Verb::kIncidentsResolve:
      out << "resolved " << IncidentLabel(reply, request.id) << "\n";
      break;
    case Verb::kChannelsList: {
      const json* list = ListOf(reply, "channels", c.what, err);
      if (list == nullptr) return kExitError;
      out << (list->empty() ? "no channels\n" : FormatChannelsTable(*list));
      break;
    }
    case Verb::kChannelsTest: {
      const std::string id = ScalarText(reply, "notification");
      out << "queued test notification" << (id.empty() ? "" : " " + id) << " for channel "
          << request.id << "\n";
      break;
    }
    case Verb::kSilencesList: {
      const json* list = ListOf(reply, "silences", c.what, err);
      if (list == nullptr) return kExitError;
      out << (list->empty() ? "no silences\n" : FormatSilencesTable(*list, now));
      break;
    }
    case Verb::kSilencesCreate: {
      out << "created silence " << OrDash(StringField(reply, "id")) << " for "
          << SilenceScope(reply);
      const auto ends = TimeField(reply, "ends");
      if (ends)
        out << " until " << ShortTime(reply, "ends") << " UTC (" << FormatRelative(ends, now)
            << ")";
      out << "\n";
      break;
    }
    case Verb::kSilencesDelete:
      out << "deleted silence " << request.id << "\n";
      break;
  }
  return kExitOk;
}

}  // namespace overdue::cli
