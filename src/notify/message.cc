#include "notify/message.h"

#include <cctype>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>

#include "base/json_text.h"
#include "base/time.h"

namespace overdue::notify {
namespace {

namespace mustache = kainjow::mustache;
using json = nlohmann::json;

// Deeper context values render as nothing. Contexts are built by our code and are three
// levels deep; the bound only keeps the conversion's recursion finite on any input.
constexpr int kMaxContextDepth = 32;
// message.excerpt: how much of the last check-in's body a default message shows.
constexpr int kExcerptLines = 5;
constexpr size_t kExcerptLineBytes = 200;

// ---- template checks ---------------------------------------------------------------------

// "line 2, column 5" of byte offset `pos` (both 1-based).
std::string Where(std::string_view text, size_t pos) {
  if (pos > text.size()) pos = text.size();
  size_t line = 1;
  size_t column = 1;
  for (size_t i = 0; i < pos; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// kainjow's messages ("Unclosed section \"watch\" at 0") with a lower-case start and the byte
// offset turned into a line and column.
std::string DescribeParseError(std::string_view text, std::string message) {
  const size_t at = message.rfind(" at ");
  if (at != std::string::npos && at + 4 < message.size()) {
    const std::string digits = message.substr(at + 4);
    bool numeric = digits.size() <= 9;
    for (char c : digits) numeric = numeric && c >= '0' && c <= '9';
    if (numeric) message = message.substr(0, at) + " at " + Where(text, std::stoul(digits));
  }
  if (!message.empty()) {
    message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
  }
  return message;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// What kainjow's parser cannot be asked to refuse: partials and deep nesting. Walks the tags
// exactly as kainjow's parser finds them (including set-delimiter tags), so a template cannot
// hide a section from this scan; syntax errors are left to kainjow.
base::Status ScanTags(std::string_view text) {
  std::string open = "{{";
  std::string close = "}}";
  int depth = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (text.compare(pos, open.size(), open) != 0) {
      ++pos;
      continue;
    }
    const bool braces = open == "{{" && close == "}}";
    size_t start = pos + open.size();
    const bool triple = braces && pos + 2 != text.size() && text[start] == '{';
    if (triple) ++start;
    const std::string_view end = triple ? std::string_view("}}}") : std::string_view(close);
    const size_t stop = text.find(end, start);
    if (stop == std::string_view::npos) return {};  // kainjow reports the unclosed tag
    const std::string_view tag = Trim(text.substr(start, stop - start));
    if (!tag.empty() && tag.front() == '=') {
      // "{{=<% %>=}}": kainjow's rules; an invalid one is its error to report.
      if (tag.size() < 5 || tag.back() != '=') return {};
      const std::string_view inner = Trim(tag.substr(1, tag.size() - 2));
      const size_t space = inner.find(' ');
      if (space == std::string_view::npos) return {};
      const std::string_view new_open = inner.substr(0, space);
      const std::string_view new_close = Trim(inner.substr(space + 1));
      for (std::string_view d : {new_open, new_close}) {
        for (char c : d) {
          if (c == '=' || std::isspace(static_cast<unsigned char>(c))) return {};
        }
      }
      open = std::string(new_open);
      close = std::string(new_close);
    } else if (!triple && !tag.empty()) {
      if (tag.front() == '#' || tag.front() == '^') {
        if (++depth > kMaxSectionDepth) {
          return base::InvalidArgument("sections nested deeper than " +
                                       std::to_string(kMaxSectionDepth) + " at " +
                                       Where(text, pos));
        }
      } else if (tag.front() == '/') {
        if (depth > 0) --depth;
      } else if (tag.front() == '>') {
        return base::InvalidArgument("partials ({{> name}}) are not supported, at " +
                                     Where(text, pos));
      }
    }
    pos = stop + end.size();
  }
  return {};
}

// ---- rendering ---------------------------------------------------------------------------

mustache::data ToData(const json& j, int depth) {
  if (depth > kMaxContextDepth) return mustache::data(false);
  switch (j.type()) {
    case json::value_t::object: {
      mustache::data d(mustache::data::type::object);
      for (const auto& [key, value] : j.items()) d.set(key, ToData(value, depth + 1));
      return d;
    }
    case json::value_t::array: {
      mustache::data d(mustache::data::type::list);
      for (const json& item : j) d.push_back(ToData(item, depth + 1));
      return d;
    }
    case json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      // "" is false, as in JavaScript mustache: {{#x}} then means "x is set".
      if (s.empty()) return mustache::data(false);
      return mustache::data(s);
    }
    case json::value_t::boolean:
      return mustache::data(j.get<bool>());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return mustache::data(base::JsonText(j));
    case json::value_t::null:
    case json::value_t::binary:
    case json::value_t::discarded:
      break;
  }
  return mustache::data(false);
}

std::string JsonEscape(const std::string& s) {
  // nlohmann escapes quotes, backslashes and control characters and replaces invalid UTF-8,
  // so the result is always valid inside a JSON string literal.
  const std::string quoted = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

std::string SlackEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// ---- derived fields ----------------------------------------------------------------------

std::string Text(const json& j, std::string_view object, std::string_view key) {
  if (!j.is_object()) return "";
  auto o = j.find(object);
  if (o == j.end() || !o->is_object()) return "";
  auto v = o->find(key);
  if (v == o->end()) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number()) return v->dump();
  return "";
}

std::string Label(std::string_view event) {
  if (event == "recovery") return "RESOLVED";
  if (event.empty()) return "NOTICE";
  std::string out;
  for (char c : event) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string WatchName(const json& context) {
  for (const char* key : {"name", "slug", "id"}) {
    std::string s = Text(context, "watch", key);
    if (!s.empty()) return s;
  }
  return "(unnamed watch)";
}

std::string CauseText(const json& context, std::string_view event) {
  const std::string cause = Text(context, "incident", "cause");
  if (cause == "timeout") return "missed its deadline";
  if (cause == "fail") return "reported a failure";
  if (cause == "exit") {
    const std::string status = Text(context, "last_check_in", "exit_status");
    return status.empty() ? "exited with a non-zero status" : "exited with status " + status;
  }
  if (cause == "sos") return "sent an SOS";
  if (cause == "duress") return "sent a duress signal";
  if (!cause.empty()) return cause;
  if (event == "late") return "has not checked in by its deadline";
  return "";
}

// A recovery whose watch is not up again: a person resolved the incident while the watch is
// still down, or the watch was paused. Its status then, else "".
std::string NotRecovered(const json& context, std::string_view event) {
  if (event != "recovery") return "";
  std::string status = Text(context, "watch", "status");
  if (status == "grace") status = "down";
  return status == "down" || status == "paused" ? status : "";
}

std::string StillText(std::string_view not_recovered) {
  if (not_recovered == "down") return "The watch is still DOWN.";
  if (not_recovered == "paused")
    return "The watch is PAUSED: nothing is watched until it is resumed.";
  return "";
}

std::string Headline(std::string_view event, const std::string& name, const std::string& cause,
                     std::string_view not_recovered) {
  const std::string why = cause.empty() ? "" : " (" + cause + ")";
  if (event == "down") return "DOWN: " + name + why;
  if (event == "late") {
    return "LATE: " + name + " (no check-in by its deadline, grace period running)";
  }
  if (event == "escalation") return "ESCALATION: " + name + " still down, not acknowledged" + why;
  if (event == "reminder") return "REMINDER: " + name + " still down" + why;
  if (event == "reopened") return "REOPENED: " + name + " still down after acknowledgement";
  if (event == "recovery") {
    if (not_recovered == "down") return "RESOLVED: " + name + " (by hand; the watch is still down)";
    if (not_recovered == "paused") return "RESOLVED: " + name + " (the watch is paused)";
    return "RESOLVED: " + name;
  }
  if (event == "test") return "TEST: a test message from overdue";
  return Label(event) + ": " + name + why;
}

// A time of the context ("2026-11-25T09:58:00.123456+00:00") as people read it
// ("2026-11-25 09:58:00 UTC"); "" when absent, the text as it is when it is not such a time.
std::string PeopleTime(const json& context, const char* object, const char* key) {
  const std::string text = Text(context, object, key);
  const std::optional<base::TimePoint> t = base::ParseIso8601(text);
  return t ? base::FormatForPeople(*t) : text;
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string Excerpt(const json& context) {
  const std::string body = Text(context, "last_check_in", "body");
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < body.size()) {
    size_t nl = body.find('\n', start);
    if (nl == std::string::npos) nl = body.size();
    std::string_view line = std::string_view(body).substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string clean;
    const std::string_view cut = CutUtf8(line, kExcerptLineBytes);
    for (char c : cut) {
      const auto u = static_cast<unsigned char>(c);
      clean += (u < 0x20 && c != '\t') || u == 0x7f ? ' ' : c;
    }
    if (cut.size() < line.size()) clean += "…";
    lines.push_back(std::move(clean));
    start = nl + 1;
  }
  while (!lines.empty() && Trim(lines.back()).empty()) lines.pop_back();
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == static_cast<size_t>(kExcerptLines)) {
      out += "\n  | …";
      break;
    }
    if (i > 0) out += '\n';
    out += "  | " + lines[i];
  }
  return out;
}

// ---- default texts -----------------------------------------------------------------------

constexpr std::string_view kSubject = "[overdue] {{message.headline}}";

// How the defaults are written: an optional line is "{{#x}}\ntext{{/x}}" appended to the
// line before it, and blank lines hold no tags. kainjow drops a line holding only section
// tags (and its newline), so a section alone on its line would either leave an empty line
// behind or take a wanted blank line with it.
constexpr std::string_view kIncidentFacts =
    "Down since: {{message.opened_at}} (incident #{{incident.id}})"
    "{{#incident.cause_detail}}\nDetail: {{incident.cause_detail}}{{/incident.cause_detail}}";

constexpr std::string_view kWatchFacts =
    "{{#watch.tags}}\nTags: {{watch.tags}}{{/watch.tags}}"
    "{{#watch.desc}}\nDescription: {{watch.desc}}{{/watch.desc}}\n";

constexpr std::string_view kLastCheckIn =
    "\n"
    "{{#last_check_in}}Last check-in: {{message.last_check_in_at}} ({{last_check_in.signal}}"
    "{{#last_check_in.exit_status}}, exit status {{last_check_in.exit_status}}"
    "{{/last_check_in.exit_status}}"
    "{{#last_check_in.remote_addr}}, from {{last_check_in.remote_addr}}"
    "{{/last_check_in.remote_addr}})"
    "{{#message.excerpt}}\n{{message.excerpt}}{{/message.excerpt}}"
    "{{/last_check_in}}"
    "{{^last_check_in}}No check-in received yet.{{/last_check_in}}\n";

constexpr std::string_view kLinks =
    "\n"
    "{{#incident.ack_url}}Acknowledge: {{incident.ack_url}}{{/incident.ack_url}}"
    "{{#incident.url}}\nIncident: {{incident.url}}{{/incident.url}}\n";

constexpr std::string_view kIncidentLink =
    "\n"
    "{{#incident.url}}Incident: {{incident.url}}{{/incident.url}}\n";

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

std::string DefaultBody(std::string_view event) {
  if (event == "down") {
    return Join(
        {"{{message.watch}} is DOWN{{#message.cause}}: it {{message.cause}}{{/message.cause}}.\n",
         kIncidentFacts, kWatchFacts, kLastCheckIn, kLinks});
  }
  if (event == "escalation") {
    return Join(
        {"{{message.watch}} is still DOWN and nobody has acknowledged it (escalation step "
         "{{incident.step}}, round {{incident.round}}){{#message.cause}}: it "
         "{{message.cause}}{{/message.cause}}.\n",
         kIncidentFacts, kWatchFacts, kLastCheckIn, kLinks});
  }
  if (event == "reminder") {
    return Join(
        {"{{message.watch}} is still DOWN and not acknowledged{{#message.cause}}: it "
         "{{message.cause}}{{/message.cause}}.\n",
         kIncidentFacts, kWatchFacts, kLastCheckIn, kLinks});
  }
  if (event == "reopened") {
    return Join(
        {"{{message.watch}} is still DOWN after its incident was acknowledged"
         "{{#incident.acked_by}} by {{incident.acked_by}}{{/incident.acked_by}}, so the "
         "incident is open again{{#message.cause}}: it {{message.cause}}{{/message.cause}}.\n",
         kIncidentFacts, kWatchFacts, kLastCheckIn, kLinks});
  }
  if (event == "late") {
    return Join(
        {"{{message.watch}} is LATE: it has not checked in by its deadline. It goes DOWN "
         "when its grace period ends{{#message.grace_ends_at}} at "
         "{{message.grace_ends_at}}{{/message.grace_ends_at}} without a check-in.",
         kWatchFacts, kLastCheckIn,
         "\n{{#watch.ping_url}}Ping URL: {{watch.ping_url}}{{/watch.ping_url}}\n"});
  }
  if (event == "recovery") {
    return Join(
        {"{{message.watch}}{{^message.still}} is back UP{{/message.still}}: incident "
         "#{{incident.id}} is resolved"
         "{{#incident.resolved_by}} by {{incident.resolved_by}}{{/incident.resolved_by}}"
         "{{#incident.resolve_reason}} ({{incident.resolve_reason}})"
         "{{/incident.resolve_reason}}.{{#message.still}} {{message.still}}{{/message.still}}\n"
         "It was down since {{message.opened_at}}{{#message.cause}}: it "
         "{{message.cause}}{{/message.cause}}.",
         kWatchFacts, kLastCheckIn, kIncidentLink});
  }
  if (event == "test") {
    return "This is a test message from overdue{{#channel.name}} to the channel "
           "\"{{channel.name}}\"{{/channel.name}}. If you can read it, the channel works.\n"
           "\n"
           "{{#server.url}}Server: {{server.url}}{{/server.url}}\n";
  }
  return Join({"{{message.headline}}", kWatchFacts, kLastCheckIn, kLinks});
}

// A rendered body ends with exactly one newline.
std::string EndWithNewline(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text + "\n";
}

std::string OneLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u == 0x7f ? ' ' : c;
  }
  return std::string(Trim(out));
}

}  // namespace

base::Status CheckTemplate(std::string_view text) {
  if (text.size() > kMaxTemplateBytes) {
    return base::InvalidArgument("must be at most " + std::to_string(kMaxTemplateBytes) + " bytes");
  }
  if (auto st = ScanTags(text); !st.ok()) return st;
  try {
    const mustache::mustache tmpl{std::string(text)};
    if (!tmpl.is_valid()) {
      return base::InvalidArgument(DescribeParseError(text, tmpl.error_message()));
    }
  } catch (const std::exception& e) {
    return base::InvalidArgument(std::string("cannot parse the template: ") + e.what());
  }
  return {};
}

base::Result<std::string> Render(std::string_view text, const nlohmann::json& context,
                                 Escape escape) {
  if (auto st = CheckTemplate(text); !st.ok()) return st.error();
  try {
    mustache::mustache tmpl{std::string(text)};
    switch (escape) {
      case Escape::kNone:
        tmpl.set_custom_escape([](const std::string& s) { return s; });
        break;
      case Escape::kJson:
        tmpl.set_custom_escape(JsonEscape);
        break;
      case Escape::kSlack:
        tmpl.set_custom_escape(SlackEscape);
        break;
    }
    std::string out = tmpl.render(ToData(context, 0));
    if (!tmpl.is_valid()) {
      return base::InvalidArgument(DescribeParseError(text, tmpl.error_message()));
    }
    return out;
  } catch (const std::exception& e) {
    return base::Internal(std::string("cannot render the template: ") + e.what());
  }
}

MessageTemplate DefaultTemplate(std::string_view event) {
  return MessageTemplate{std::string(kSubject), DefaultBody(event)};
}

nlohmann::json TemplateContext(std::string_view event, const nlohmann::json& context) {
  json out = context.is_object() ? context : json::object();
  std::string ev(event);
  if (ev.empty()) {
    auto e = out.find("event");
    if (e != out.end() && e->is_string()) ev = e->get<std::string>();
  } else if (!out.contains("event")) {
    out["event"] = ev;
  }
  const std::string name = WatchName(out);
  const std::string cause = CauseText(out, ev);
  const std::string not_recovered = NotRecovered(out, ev);
  out["message"] = json{{"label", Label(ev)},
                        {"watch", name},
                        {"cause", cause},
                        {"headline", Headline(ev, name, cause, not_recovered)},
                        {"still", StillText(not_recovered)},
                        {"excerpt", Excerpt(out)},
                        {"opened_at", PeopleTime(out, "incident", "opened_at")},
                        {"last_check_in_at", PeopleTime(out, "last_check_in", "at")},
                        {"grace_ends_at", PeopleTime(out, "watch", "grace_ends_at")}};
  return out;
}

base::Result<MessageText> RenderMessage(std::string_view event, const nlohmann::json& context,
                                        const MessageTemplate& custom, Escape escape) {
  const json vars = TemplateContext(event, context);
  const auto e = vars.find("event");
  const MessageTemplate defaults =
      DefaultTemplate(event.empty() && e != vars.end() && e->is_string()
                          ? std::string_view(e->get_ref<const std::string&>())
                          : event);
  auto subject = Render(custom.subject.empty() ? defaults.subject : custom.subject, vars, escape);
  if (!subject.ok()) return subject.error();
  auto body = Render(custom.body.empty() ? defaults.body : custom.body, vars, escape);
  if (!body.ok()) return body.error();
  return MessageText{OneLine(subject.value()), EndWithNewline(std::move(body).value())};
}

}  // namespace overdue::notify
