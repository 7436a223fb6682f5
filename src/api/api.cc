#include "api/api.h"

#include <charconv>
#include <cmath>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/badges.h"
#include "api/check_spec.h"
#include "api/incidents_api.h"
#include "api/ping_path.h"
#include "base/json_text.h"
#include "base/mutex.h"
#include "model/state_machine.h"
#include "schedule/schedule.h"

namespace overdue::api {
namespace {

using json = nlohmann::ordered_json;

// Django's HttpResponse default; healthchecks' plain answers ("OK", "not found") carry it.
constexpr const char* kDjangoContentType = "text/html; charset=utf-8";
constexpr const char* kJsonContentType = "application/json";
// Django's never_cache.
constexpr const char* kNeverCache = "max-age=0, no-cache, no-store, must-revalidate, private";

http::Response Text(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.content_type = kDjangoContentType;
  r.body = std::move(body);
  return r;
}

http::Response Json(int status, const json& j) {
  http::Response r;
  r.status = status;
  r.content_type = kJsonContentType;
  r.body = base::JsonText(j);
  return r;
}

http::Response JsonError(int status, const std::string& message) {
  return Json(status, json{{"error", message}});
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a URL path as Django does before routing; nullopt on a bad escape.
std::optional<std::string> DecodePath(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    const int hi = HexDigit(in[i + 1]);
    const int lo = HexDigit(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool ValidIp(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                    c == '.' || c == ':';
    if (!ok) return false;
  }
  // "1.2.3.4:5678" (an IPv4 with a port, as Azure reports) is not a valid IP.
  const size_t dots = static_cast<size_t>(std::count(s.begin(), s.end(), '.'));
  return !(dots == 3 && s.find(':') != std::string_view::npos);
}

// healthchecks: X-Forwarded-For's first entry, else the peer; "a.b.c.d:port" loses the port.
std::string RemoteAddr(const http::Request& req) {
  std::string addr = req.remote_addr;
  if (const std::string* xff = req.Header("x-forwarded-for")) {
    addr = xff->substr(0, xff->find(','));
  }
  if (!ValidIp(addr)) {
    const size_t dots = static_cast<size_t>(std::count(addr.begin(), addr.end(), '.'));
    const size_t colon = addr.rfind(':');
    if (dots == 3 && colon != std::string::npos && colon > addr.rfind('.')) {
      addr.resize(colon);
    }
  }
  return addr;
}

std::string Iso(base::TimePoint t) { return base::FormatIso8601(t, /*seconds_only=*/true); }
json IsoOrNull(base::TimePoint t) {
  if (t == base::kNoTime || t == base::kNever) return nullptr;
  return Iso(t);
}

int64_t Seconds(base::Duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

}  // namespace

struct Api::Impl {
  Impl(ApiDeps d, ApiOptions o) : deps(std::move(d)), options(std::move(o)) {
    auto& m = deps.metrics;
    for (auto s : {model::Signal::kSuccess, model::Signal::kStart, model::Signal::kFail,
                   model::Signal::kLog, model::Signal::kIgnored}) {
      checkins[static_cast<int>(s)] =
          &m.AddCounter("overdue_checkins_total", "Check-ins received, by resolved signal.",
                        {{"signal", std::string(model::SignalName(s))}});
    }
    not_durable = &m.AddCounter("overdue_checkins_not_durable_total",
                                "Check-ins answered 503 because the store could not commit.");
    http_requests = &m.AddCounter("overdue_api_requests_total", "Requests routed by the API.");
    if (deps.desk) {
      incidents = std::make_unique<IncidentsApi>(
          *deps.desk, deps.store, deps.clock,
          IncidentsApiOptions{options.public_url, options.secret, options.ack_link_ttl});
    }
  }

  ApiDeps deps;
  ApiOptions options;
  std::unique_ptr<IncidentsApi> incidents;  // when deps.desk is set
  base::Counter* checkins[5] = {};
  base::Counter* not_durable = nullptr;
  base::Counter* http_requests = nullptr;
  // Serialises management writes (see WaitDurable).
  base::Mutex write_mu;

  // ---- /ping ----------------------------------------------------------------------------

  http::Response PingOk(bool created) const {
    http::Response r = Text(created ? 201 : 200, created ? "Created" : "OK");
    r.headers.emplace_back("Ping-Body-Limit", std::to_string(options.ping_body_limit));
    r.headers.emplace_back("Access-Control-Allow-Origin", "*");
    // healthchecks' ping view is @never_cache.
    r.headers.emplace_back("Cache-Control", kNeverCache);
    return r;
  }

  // Replies once the check-in is durable: 200/201, or 503 when the store could not commit.
  engine::Done ReplyAfterCommit(std::shared_ptr<http::Reply> reply, bool created) {
    return [this, reply, created](base::Status st) {
      if (st.ok()) {
        (*reply)(PingOk(created));
      } else {
        not_durable->Inc();
        (*reply)(Text(503, "store unavailable: check-in not saved, retry"));
      }
    };
  }

  // Applies the check-in; answers 404 at once if the watch is gone, else after the commit.
  void CheckInAndReply(const base::Uuid& id, engine::CheckInRequest&& ci, http::Reply reply,
                       bool created) {
    auto shared = std::make_shared<http::Reply>(std::move(reply));
    auto r = deps.engine.CheckIn(id, std::move(ci), ReplyAfterCommit(shared, created));
    if (!r.ok()) return (*shared)(Text(404, "not found"));
    checkins[static_cast<int>(r.value())]->Inc();
  }

  void Ping(const http::Request& req, std::string_view path, http::Reply reply) {
    std::optional<PingPath> pp = ParsePingPath(path);
    if (!pp) return reply(Text(404, "not found"));

    std::optional<base::Uuid> rid;
    bool rid_invalid = false;
    if (std::optional<std::string> rid_text = req.QueryParam("rid")) {
      rid = base::Uuid::Parse(*rid_text);
      rid_invalid = !rid.has_value();
    }

    engine::CheckInRequest ci;
    ci.url_signal = pp->signal;
    ci.exit_status = pp->exit_status;
    ci.rid = rid;
    ci.method = req.method;
    const std::string* proto = req.Header("x-forwarded-proto");
    ci.scheme = proto ? *proto : "http";
    ci.remote_addr = RemoteAddr(req);
    const std::string* ua = req.Header("user-agent");
    if (ua) ci.user_agent = ua->substr(0, model::kMaxUserAgent);
    ci.body = req.body.substr(0, options.ping_body_limit);

    auto& engine = deps.engine;
    if (pp->form == PingPath::Form::kUuid) {
      // healthchecks looks the check up first: an unknown UUID is 404 whatever else is wrong.
      if (pp->exit_status_too_large || rid_invalid) {
        if (!engine.View(pp->uuid)) return reply(Text(404, "not found"));
        return reply(
            Text(400, pp->exit_status_too_large ? "invalid url format" : "invalid uuid format"));
      }
      return CheckInAndReply(pp->uuid, std::move(ci), std::move(reply), false);
    }

    if (pp->slug_not_lowercase) return reply(Text(400, "invalid url format"));
    const std::optional<int64_t> project = engine.ProjectByPingKey(pp->ping_key);
    if (!project) return reply(Text(404, "not found"));
    const bool create = req.QueryParam("create") == std::optional<std::string>("1");
    auto found = engine.FindBySlug(*project, pp->slug);
    if (!found.ok() && found.error().code == base::ErrorCode::kConflict) {
      return reply(Text(409, "ambiguous slug"));
    }
    if (!found.ok() && !create) return reply(Text(404, "not found"));
    // Unlike healthchecks, a bad exit status or rid is refused before ?create=1 creates
    // anything: bad input changes nothing.
    if (pp->exit_status_too_large) return reply(Text(400, "invalid url format"));
    if (rid_invalid) return reply(Text(400, "invalid uuid format"));

    bool created = false;
    base::Uuid id;
    if (found.ok()) {
      id = found.value();
    } else {
      auto made = engine.CreateForSlug(*project, pp->slug);
      if (!made.ok()) return reply(Text(503, made.error().message));
      id = made.value();
      created = true;
    }
    CheckInAndReply(id, std::move(ci), std::move(reply), created);
  }

  // ---- /api/v3: healthchecks' Management API -------------------------------------------

  // healthchecks' @cors: OPTIONS answers 204, other methods not listed 405 (empty body).
  static void AddCors(http::Response& r, std::string_view methods) {
    r.headers.emplace_back("Access-Control-Allow-Origin", "*");
    r.headers.emplace_back("Access-Control-Allow-Headers", "X-Api-Key");
    r.headers.emplace_back("Access-Control-Allow-Methods", std::string(methods) + ", OPTIONS");
    r.headers.emplace_back("Access-Control-Max-Age", "600");
  }

  // healthchecks' @authorize (read-write key; for POST also `api_key` in the JSON body, which
  // is parsed first: a bad body is 400 before the key is looked at) and @authorize_read
  // (header only; read-only keys accepted).
  struct Auth {
    Principal principal;
    json body = json::object();
  };
  std::optional<Auth> Authorize(const http::Request& req, bool read, http::Response* error) const {
    Auth auth;
    if (!read && req.method != "GET" && !req.body.empty()) {
      auth.body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (auth.body.is_discarded()) {
        *error = JsonError(400, "could not parse request body");
        return std::nullopt;
      }
      if (!auth.body.is_object()) {
        *error = JsonError(400, "json validation error: value is not an object");
        return std::nullopt;
      }
    }
    std::string key;
    if (const std::string* h = req.Header("x-api-key")) {
      key = *h;
    } else if (!read && auth.body.contains("api_key")) {
      const json& k = auth.body["api_key"];
      key = k.is_string() ? k.get<std::string>() : base::JsonText(k);
    }
    if (CodePoints(key) != 32) {
      *error = JsonError(401, "missing api key");
      return std::nullopt;
    }
    auto p = deps.keys.Authenticate(key);
    if (!p || (!read && p->read_only)) {
      *error = JsonError(401, "wrong api key");
      return std::nullopt;
    }
    auth.principal = *p;
    return auth;
  }

  json CheckJson(const model::Watch& w, const std::optional<engine::WatchView>& view,
                 bool read_only) const {
    const model::WatchRuntime& rt = view ? view->runtime : w.runtime;
    const model::Deadlines d = view ? view->deadlines : model::Deadlines{};
    const base::TimePoint now = deps.clock.Now();
    const model::Schedule& sc = w.spec.schedule;
    // next_ping is healthchecks' get_grace_start(): the earlier of the schedule's next
    // expected check-in and a running job's start.
    base::TimePoint grace_start = d.late_at;
    if (rt.last_start != base::kNoTime && rt.status != model::Status::kDown) {
      grace_start = std::min(grace_start, rt.last_start);
    }
    json j = {
        {"name", w.spec.name},
        {"slug", w.spec.slug},
        {"tags", w.spec.tags},
        {"desc", w.spec.desc},
        {"grace", Seconds(sc.grace)},
        {"n_pings", rt.n_pings},
        {"status", std::string(model::DisplayStatus(rt, d, sc.grace, now, false))},
        {"started", rt.last_start != base::kNoTime},
        {"last_ping", IsoOrNull(rt.last_ping)},
        {"next_ping", IsoOrNull(grace_start)},
        {"manual_resume", w.spec.manual_resume},
        {"methods", w.spec.post_only ? "POST" : ""},
        {"subject", w.spec.filter_subject ? w.spec.success_kw : ""},
        {"subject_fail", w.spec.filter_subject ? w.spec.failure_kw : ""},
        {"start_kw", w.spec.start_kw},
        {"success_kw", w.spec.success_kw},
        {"failure_kw", w.spec.failure_kw},
        {"filter_subject", w.spec.filter_subject},
        {"filter_body", w.spec.filter_body},
        {"filter_http_body", w.spec.filter_http_body},
        {"filter_default_fail", w.spec.filter_default_fail},
        {"badge_url", options.public_url + "/b/2/" + w.spec.badge_key.ToString() + ".svg"},
        {"kind", std::string(model::WatchKindName(w.spec.kind))},
    };
    if (rt.last_duration && rt.last_duration->count() > 0) {
      j["last_duration"] = Seconds(*rt.last_duration);
    }
    if (read_only) {
      j["unique_key"] = UniqueKey(w.spec.id);
    } else {
      const std::string id = w.spec.id.ToString();
      j["uuid"] = id;
      j["ping_url"] = options.public_url + "/ping/" + id;
      const std::string update_url = options.public_url + "/api/v3/checks/" + id;
      j["update_url"] = update_url;
      j["pause_url"] = update_url + "/pause";
      j["resume_url"] = update_url + "/resume";
      j["channels"] = w.spec.channels;
    }
    switch (sc.kind) {
      case model::Schedule::Kind::kPeriod:
        j["timeout"] = Seconds(sc.period);
        break;
      case model::Schedule::Kind::kCron:
        j["schedule"] = sc.cron;
        j["tz"] = sc.tz;
        break;
      case model::Schedule::Kind::kOnce:
        j["once"] = Iso(sc.once_at);
        break;
    }
    return j;
  }
  json CheckJson(const model::Watch& w, bool read_only) const {
    return CheckJson(w, deps.engine.View(w.spec.id), read_only);
  }

  // healthchecks' unique_key: sha1 of the first 16 hex digits of the UUID.
  static std::string UniqueKey(const base::Uuid& id) {
    std::string hex = id.ToString();
    hex.erase(std::remove(hex.begin(), hex.end(), '-'), hex.end());
    return Sha1Hex(hex.substr(0, 16));
  }
  static std::string Sha1Hex(std::string_view data);

  static http::Response Forbidden() { return Text(403, ""); }
  static http::Response StoreDown(const base::Error& e) {
    return JsonError(503, "store unavailable: " + e.message);
  }

  // The check `id` if it belongs to the caller's project: 404 if absent, 403 if another
  // project's (healthchecks' get_object_or_404 + project check).
  std::optional<model::Watch> LoadOwned(const base::Uuid& id, const Principal& p,
                                        http::Response* error) const {
    auto w = deps.store.GetWatch(id);
    if (!w.ok()) {
      *error = StoreDown(w.error());
      return std::nullopt;
    }
    if (!w.value()) {
      *error = JsonError(404, "not found");
      return std::nullopt;
    }
    if (w.value()->spec.project_id != p.project_id) {
      *error = Forbidden();
      return std::nullopt;
    }
    return std::move(*w.value());
  }

  // Every `name=` value of the query string, decoded.
  static std::vector<std::string> QueryValues(const http::Request& req, std::string_view name) {
    std::vector<std::string> out;
    std::string_view rest = req.query;
    while (!rest.empty()) {
      const size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      const size_t eq = pair.find('=');
      if (http::DecodeQueryComponent(pair.substr(0, eq)) != name) continue;
      out.push_back(eq == std::string_view::npos ? std::string()
                                                 : http::DecodeQueryComponent(pair.substr(eq + 1)));
    }
    return out;
  }

  static std::vector<std::string> TagList(std::string_view tags) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < tags.size()) {
      const size_t sp = tags.find(' ', i);
      const std::string_view t = tags.substr(i, sp == std::string_view::npos ? sp : sp - i);
      if (!t.empty()) out.emplace_back(t);
      if (sp == std::string_view::npos) break;
      i = sp + 1;
    }
    return out;
  }

  // Runs a recorded engine write and waits until it is durable. Management writes are rare
  // and serialised (write_mu): waiting here keeps "read, decide, write" atomic per project,
  // so two racing creates with `unique` cannot both create.
  static base::Status WaitDurable(const std::function<base::Status(engine::Done)>& op) {
    auto promise = std::make_shared<std::promise<base::Status>>();
    std::future<base::Status> done = promise->get_future();
    if (auto st = op([promise](base::Status s) { promise->set_value(std::move(s)); }); !st.ok()) {
      return st;
    }
    return done.get();
  }

  // healthchecks resolves `channels` against the project's channels: "*" all, else
  // comma-separated ids or names, stored as the channels' ids. overdue stores "*" and "" as
  // "" — no own list: the watch's incidents then tell every channel of the project (unless an
  // escalation policy applies), so a check created without channels is never silent.
  base::Result<std::optional<std::string>> ResolveChannels(const CheckSpec& spec,
                                                           int64_t project_id) const {
    if (!spec.channels) return std::optional<std::string>();
    if (*spec.channels == "*" || spec.channels->empty()) return std::optional<std::string>("");
    const std::vector<model::Channel> channels =
        deps.desk ? deps.desk->Channels(project_id) : std::vector<model::Channel>{};
    std::string ids;
    std::string_view rest = *spec.channels;
    while (true) {
      const size_t comma = rest.find(',');
      std::string item(rest.substr(0, comma));
      while (!item.empty() && item.front() == ' ') item.erase(item.begin());
      while (!item.empty() && item.back() == ' ') item.pop_back();
      if (item.empty()) return base::InvalidArgument("empty channel identifier");
      const auto id = base::Uuid::Parse(item);
      const model::Channel* found = nullptr;
      for (const model::Channel& c : channels) {
        if ((id && c.id == *id) || (!id && c.name == item)) {
          if (found && !id) return base::InvalidArgument("non-unique channel identifier: " + item);
          found = &c;
        }
      }
      if (!found) return base::InvalidArgument("invalid channel identifier: " + item);
      const std::string text = found->id.ToString();
      if (ids.find(text) == std::string::npos) ids += (ids.empty() ? "" : ",") + text;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return std::optional<std::string>(ids);
  }

  // Creates (`existing` empty) or updates a check from a validated spec; waits for the commit.
  http::Response WriteCheck(const CheckSpec& spec, std::optional<model::Watch> existing,
                            const base::Uuid& new_id, const Principal& p, int status) {
    auto channels = ResolveChannels(spec, p.project_id);
    if (!channels.ok()) return JsonError(400, channels.error().message);
    model::Watch w;
    if (existing) {
      w = std::move(*existing);
    } else {
      w.spec.id = new_id;
      w.spec.project_id = p.project_id;
      w.spec.created = deps.clock.Now();
      w.spec.badge_key = base::Uuid::Random();
    }
    ApplyCheckSpec(spec, w.spec);
    if (channels.value()) w.spec.channels = *channels.value();
    if (auto st = schedule::Validate(w.spec.schedule, options.min_period); !st.ok()) {
      return JsonError(400, "json validation error: " + st.error().message);
    }
    auto st = WaitDurable([&](engine::Done done) -> base::Status {
      auto r = deps.engine.Put(w.spec, std::move(done));
      if (!r.ok()) return r.error();
      return {};
    });
    if (!st.ok()) {
      if (st.error().code == base::ErrorCode::kInvalidArgument) {
        return JsonError(400, "json validation error: " + st.error().message);
      }
      return StoreDown(st.error());
    }
    return Json(status, CheckJson(w, false));
  }

  bool LimitReached(int64_t project_id, http::Response* error) const {
    auto n = deps.store.CountWatches(project_id);
    if (!n.ok()) {
      *error = StoreDown(n.error());
      return true;
    }
    if (n.value() >= options.check_limit) {
      *error = Forbidden();
      return true;
    }
    return false;
  }

  http::Response CreateCheck(const Auth& auth) {
    auto spec = ParseCheckSpec(auth.body, CheckSpecLimits{options.min_period, true});
    if (!spec.ok()) return JsonError(400, spec.error().message);
    base::MutexLock lock(&write_mu);
    if (spec.value().unique && !spec.value().unique->empty()) {
      auto watches = deps.store.ListWatches(auth.principal.project_id);
      if (!watches.ok()) return StoreDown(watches.error());
      for (model::Watch& w : watches.value()) {
        if (MatchesUnique(spec.value(), w.spec)) {
          return WriteCheck(spec.value(), std::move(w), w.spec.id, auth.principal, 200);
        }
      }
    }
    http::Response err;
    if (LimitReached(auth.principal.project_id, &err)) return err;
    return WriteCheck(spec.value(), std::nullopt, base::Uuid::Random(), auth.principal, 201);
  }

  http::Response UpdateCheck(const Auth& auth, const base::Uuid& id) {
    base::MutexLock lock(&write_mu);
    http::Response err;
    auto w = LoadOwned(id, auth.principal, &err);
    if (!w) return err;
    auto spec = ParseCheckSpec(auth.body, CheckSpecLimits{options.min_period, true});
    if (!spec.ok()) return JsonError(400, spec.error().message);
    return WriteCheck(spec.value(), std::move(w), id, auth.principal, 200);
  }

  // overdue's PUT /api/v1/checks/<uuid>: create-or-update with a caller-chosen UUID, so that
  // a migration keeps every ping URL.
  http::Response PutCheck(const http::Request& req, const base::Uuid& id) {
    http::Response err;
    http::Request as_post = req;  // Authorize reads the body's api_key for non-GET requests
    auto auth = Authorize(as_post, /*read=*/false, &err);
    if (!auth) return err;
    auto spec = ParseCheckSpec(auth->body, CheckSpecLimits{options.min_period, false});
    if (!spec.ok()) return JsonError(400, spec.error().message);
    base::MutexLock lock(&write_mu);
    auto existing = deps.store.GetWatch(id);
    if (!existing.ok()) return StoreDown(existing.error());
    if (existing.value()) {
      if (existing.value()->spec.project_id != auth->principal.project_id) return Forbidden();
      return WriteCheck(spec.value(), std::move(*existing.value()), id, auth->principal, 200);
    }
    if (LimitReached(auth->principal.project_id, &err)) return err;
    return WriteCheck(spec.value(), std::nullopt, id, auth->principal, 201);
  }

  http::Response DeleteCheck(const Principal& p, const base::Uuid& id) {
    base::MutexLock lock(&write_mu);
    http::Response err;
    auto w = LoadOwned(id, p, &err);
    if (!w) return err;
    json j = CheckJson(*w, false);
    auto st =
        WaitDurable([&](engine::Done done) { return deps.engine.Delete(id, std::move(done)); });
    if (!st.ok()) {
      if (st.error().code == base::ErrorCode::kNotFound) return JsonError(404, "not found");
      return StoreDown(st.error());
    }
    return Json(200, j);
  }

  http::Response PauseOrResume(const Principal& p, const base::Uuid& id, bool pause) {
    base::MutexLock lock(&write_mu);
    http::Response err;
    auto w = LoadOwned(id, p, &err);
    if (!w) return err;
    auto view = deps.engine.View(id);
    if (!view) return JsonError(404, "not found");
    const bool paused = view->runtime.status == model::Status::kPaused;
    if (pause && paused) return Json(200, CheckJson(*w, view, false));  // no second flip
    if (!pause && !paused) return Text(409, "check is not paused");
    auto st = WaitDurable([&](engine::Done done) {
      return pause ? deps.engine.Pause(id, std::move(done))
                   : deps.engine.Resume(id, std::move(done));
    });
    if (!st.ok()) {
      if (st.error().code == base::ErrorCode::kConflict) return Text(409, "check is not paused");
      if (st.error().code == base::ErrorCode::kNotFound) return JsonError(404, "not found");
      return StoreDown(st.error());
    }
    return Json(200, CheckJson(*w, false));
  }

  http::Response ListChecks(const http::Request& req, const Principal& p) {
    auto watches = deps.store.ListWatches(p.project_id);
    if (!watches.ok()) return StoreDown(watches.error());
    const std::vector<std::string> tags = QueryValues(req, "tag");
    const std::optional<std::string> slug = req.QueryParam("slug");
    json list = json::array();
    for (const auto& w : watches.value()) {
      if (slug && !slug->empty() && w.spec.slug != *slug) continue;
      if (!tags.empty()) {
        const std::vector<std::string> have = TagList(w.spec.tags);
        const bool all = std::all_of(tags.begin(), tags.end(), [&](const std::string& t) {
          return std::find(have.begin(), have.end(), t) != have.end();
        });
        if (!all) continue;
      }
      list.push_back(CheckJson(w, p.read_only));
    }
    return Json(200, json{{"checks", std::move(list)}});
  }

  // healthchecks looks a unique key up among the project's checks.
  std::optional<model::Watch> FindByUniqueKey(const Principal& p, std::string_view key,
                                              http::Response* error) const {
    auto watches = deps.store.ListWatches(p.project_id);
    if (!watches.ok()) {
      *error = StoreDown(watches.error());
      return std::nullopt;
    }
    for (model::Watch& w : watches.value()) {
      if (UniqueKey(w.spec.id) == key) return std::move(w);
    }
    *error = Text(404, "");
    return std::nullopt;
  }

  // A ping key as `overdue keys set-ping-key` accepts it: 1–64 of [A-Za-z0-9_-].
  static bool IsPingKey(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
    });
  }

  static bool IsSha1Key(std::string_view s) {
    return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) != 0;
           });
  }

  // Routes /api/v3/<rest> as healthchecks' api_urls do.
  http::Response V3(const http::Request& req, std::string_view rest) {
    const std::string& m = req.method;
    http::Response err;
    auto with_cors = [&](std::string_view methods, auto&& handler) -> http::Response {
      http::Response r;
      if (m == "OPTIONS") {
        r = Text(204, "");
      } else {
        bool listed = false;
        size_t i = 0;
        while (i <= methods.size()) {
          const size_t c = methods.find(", ", i);
          if (methods.substr(i, c == std::string_view::npos ? c : c - i) == m) listed = true;
          if (c == std::string_view::npos) break;
          i = c + 2;
        }
        r = listed ? handler() : Text(405, "");
      }
      AddCors(r, methods);
      return r;
    };
    auto read = [&](auto&& f) -> http::Response {
      auto a = Authorize(req, /*read=*/true, &err);
      return a ? f(a->principal) : err;
    };
    auto write = [&](auto&& f) -> http::Response {
      auto a = Authorize(req, /*read=*/false, &err);
      return a ? f(*a) : err;
    };

    if (rest == "status/") return Text(200, "OK");
    if (rest == "channels/") {
      return with_cors("GET", [&] {
        return write([&](const Auth& a) {
          json list = json::array();
          if (deps.desk) {
            for (const model::Channel& c : deps.desk->Channels(a.principal.project_id)) {
              list.push_back(json{{"id", c.id.ToString()}, {"name", c.name}, {"kind", c.kind}});
            }
          }
          return Json(200, json{{"channels", list}});
        });
      });
    }
    if (rest == "badges/") {
      return with_cors("GET", [&] { return read([&](const Principal& p) { return Badges(p); }); });
    }
    constexpr std::string_view kChecks = "checks/";
    if (rest.substr(0, kChecks.size()) != kChecks) return JsonError(404, "not found");
    rest.remove_prefix(kChecks.size());
    if (rest.empty()) {
      return with_cors("GET, POST", [&] {
        if (m == "POST") return write([&](const Auth& a) { return CreateCheck(a); });
        return read([&](const Principal& p) { return ListChecks(req, p); });
      });
    }
    const size_t slash = rest.find('/');
    const std::string_view id_text = rest.substr(0, slash);
    const std::string_view sub = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (IsSha1Key(id_text) && (sub.empty() || sub == "/flips/")) {
      return with_cors("GET", [&] {
        return read([&](const Principal& p) {
          auto w = FindByUniqueKey(p, id_text, &err);
          if (!w) return err;
          if (sub.empty()) return Json(200, CheckJson(*w, p.read_only));
          return Flips(req, *w);
        });
      });
    }
    const auto id = base::Uuid::Parse(id_text, /*lowercase_only=*/true);
    if (!id) return JsonError(404, "not found");
    if (sub.empty()) {
      return with_cors("POST, DELETE, GET", [&] {
        if (m == "POST") return write([&](const Auth& a) { return UpdateCheck(a, *id); });
        if (m == "DELETE") {
          return write([&](const Auth& a) { return DeleteCheck(a.principal, *id); });
        }
        return read([&](const Principal& p) {
          auto w = LoadOwned(*id, p, &err);
          return w ? Json(200, CheckJson(*w, p.read_only)) : err;
        });
      });
    }
    if (sub == "/pause" || sub == "/resume") {
      return with_cors("POST", [&] {
        return write(
            [&](const Auth& a) { return PauseOrResume(a.principal, *id, sub == "/pause"); });
      });
    }
    if (sub == "/pings/") {
      return with_cors("GET", [&] {
        return write([&](const Auth& a) {
          auto w = LoadOwned(*id, a.principal, &err);
          return w ? Pings(*w) : err;
        });
      });
    }
    if (sub == "/flips/") {
      return with_cors("GET", [&] {
        return read([&](const Principal& p) {
          auto w = LoadOwned(*id, p, &err);
          return w ? Flips(req, *w) : err;
        });
      });
    }
    constexpr std::string_view kPings = "/pings/";
    constexpr std::string_view kBody = "/body";
    if (sub.substr(0, kPings.size()) == kPings && sub.size() > kPings.size() + kBody.size() &&
        sub.substr(sub.size() - kBody.size()) == kBody) {
      const std::string n_text(
          sub.substr(kPings.size(), sub.size() - kPings.size() - kBody.size()));
      if (n_text.size() > 18 || n_text.find_first_not_of("0123456789") != std::string::npos) {
        return JsonError(404, "not found");
      }
      return with_cors("GET", [&] {
        return write([&](const Auth& a) {
          auto w = LoadOwned(*id, a.principal, &err);
          if (!w) return err;
          return PingBody(*w, std::stoll(n_text));
        });
      });
    }
    return JsonError(404, "not found");
  }

  http::Response PingBody(const model::Watch& w, int64_t n) {
    // Only the kept history: a check-in older than the last `history_limit` is gone.
    const auto view = deps.engine.View(w.spec.id);
    const int64_t n_pings = view ? view->runtime.n_pings : w.runtime.n_pings;
    if (n <= n_pings - options.history_limit) return Text(404, "");
    auto ci = deps.store.GetCheckIn(w.spec.id, n);
    if (!ci.ok()) return StoreDown(ci.error());
    if (!ci.value() || ci.value()->body.empty()) return Text(404, "");
    http::Response r;
    r.content_type = "text/plain";
    r.body = ci.value()->body;
    return r;
  }

  http::Response Pings(const model::Watch& w) {
    const size_t limit = static_cast<size_t>(std::min<int64_t>(options.history_limit, 1000));
    auto list = deps.store.ListCheckIns(w.spec.id, limit, /*with_bodies=*/false);
    if (!list.ok()) return StoreDown(list.error());
    json out = json::array();
    const std::string base_url =
        options.public_url + "/api/v3/checks/" + w.spec.id.ToString() + "/pings/";
    for (const model::CheckIn& ci : list.value()) {
      json j = {
          {"type", std::string(model::SignalName(ci.signal))},
          {"date", base::FormatIso8601(ci.at, /*seconds_only=*/false)},
          {"n", ci.n},
          {"scheme", ci.scheme},
          {"remote_addr", ci.remote_addr},
          {"method", ci.method},
          {"ua", ci.user_agent},
          {"rid", ci.rid ? json(ci.rid->ToString()) : json(nullptr)},
          {"body_url",
           ci.body_size == 0 ? json(nullptr) : json(base_url + std::to_string(ci.n) + "/body")},
      };
      if (ci.exit_status) j["exitstatus"] = *ci.exit_status;
      if (ci.duration) {
        j["duration"] = std::round(static_cast<double>(ci.duration->count()) / 1e4) / 100.0;
      }
      out.push_back(std::move(j));
    }
    return Json(200, json{{"pings", std::move(out)}});
  }

  // healthchecks' FlipsFiltersForm: start/end are UNIX timestamps in [0, 10^10], seconds an
  // integer in [0, 31536000]; anything else is an empty 400. Newest first.
  http::Response Flips(const http::Request& req, const model::Watch& w) {
    auto integer = [&](const char* name, int64_t max, std::optional<int64_t>* out) {
      std::optional<std::string> text = req.QueryParam(name);
      if (!text || text->empty()) return true;
      std::string_view t = *text;
      while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
      while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
      int64_t v = 0;
      auto [end, ec] =
          std::from_chars(t.data() + (!t.empty() && t[0] == '+' ? 1 : 0), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || end != t.data() + t.size() || v < 0 || v > max) {
        return false;
      }
      *out = v;
      return true;
    };
    std::optional<int64_t> start, end, seconds;
    if (!integer("start", 10'000'000'000, &start) || !integer("end", 10'000'000'000, &end) ||
        !integer("seconds", 31'536'000, &seconds)) {
      return Text(400, "");
    }
    base::TimePoint since{};
    if (start) since = base::FromMicros(*start * 1'000'000);
    if (seconds && *seconds > 0) {
      since = std::max(since, deps.clock.Now() - std::chrono::seconds(*seconds));
    }
    auto list = deps.store.ListFlips(w.spec.id, since, 100000);
    if (!list.ok()) return StoreDown(list.error());
    json out = json::array();
    for (auto it = list.value().rbegin(); it != list.value().rend(); ++it) {
      const model::Flip& f = *it;
      if (end && f.at >= base::FromMicros(*end * 1'000'000)) continue;
      // `grace` is overdue's own durable state; healthchecks derives it and has no such flip.
      if (f.new_status == model::Status::kGrace) continue;
      if (f.old_status == model::Status::kGrace && f.new_status == model::Status::kUp) continue;
      out.push_back({{"timestamp", Iso(f.at)}, {"up", f.new_status == model::Status::kUp ? 1 : 0}});
    }
    return Json(200, json{{"flips", std::move(out)}});
  }

  // ---- badges (healthchecks' URL scheme) --------------------------------------------------

  std::optional<store::Project> ProjectById(int64_t id) const {
    auto projects = deps.store.LoadProjects();
    if (!projects.ok()) return std::nullopt;
    for (store::Project& p : projects.value()) {
      if (p.id == id) return std::move(p);
    }
    return std::nullopt;
  }

  http::Response Badges(const Principal& p) {
    auto project = ProjectById(p.project_id);
    if (!project) return JsonError(503, "store unavailable");
    auto watches = deps.store.ListWatches(p.project_id);
    if (!watches.ok()) return StoreDown(watches.error());
    std::set<std::string> tags = {"*"};
    for (const model::Watch& w : watches.value()) {
      for (std::string& t : TagList(w.spec.tags)) tags.insert(std::move(t));
    }
    json badges = json::object();
    for (const std::string& tag : tags) {
      auto url = [&](std::string_view fmt, bool with_late) {
        return options.public_url +
               BadgeUrlPath(options.secret, project->badge_key, tag, fmt, with_late);
      };
      badges[tag] = {{"svg", url("svg", false)},         {"svg3", url("svg", true)},
                     {"json", url("json", false)},       {"json3", url("json", true)},
                     {"shields", url("shields", false)}, {"shields3", url("shields", true)}};
    }
    return Json(200, json{{"badges", std::move(badges)}});
  }

  // "up" | "grace" | "down" | "new" | "paused" as healthchecks' get_status() for badges.
  std::string BadgeStatusOf(const model::Watch& w) const {
    auto view = deps.engine.View(w.spec.id);
    const model::WatchRuntime& rt = view ? view->runtime : w.runtime;
    const model::Deadlines d = view ? view->deadlines : model::Deadlines{};
    return std::string(model::DisplayStatus(rt, d, w.spec.schedule.grace, deps.clock.Now(), false));
  }

  static http::Response BadgeResponse(std::string_view fmt, const std::string& label,
                                      const std::string& status, int total, int grace, int down) {
    http::Response r;
    if (fmt == "shields") {
      static const std::map<std::string, std::string> kColors = {
          {"up", "success"}, {"late", "important"}, {"down", "critical"}};
      r = Json(200, json{{"schemaVersion", 1},
                         {"label", label},
                         {"message", status},
                         {"color", kColors.at(status)}});
    } else if (fmt == "json") {
      r = Json(200, json{{"status", status}, {"total", total}, {"grace", grace}, {"down", down}});
    } else {
      r.content_type = "image/svg+xml";
      r.body = BadgeSvg(label, status);
    }
    r.headers.emplace_back("Cache-Control", kNeverCache);
    return r;
  }

  // /badge/<badge_key>/<signature>/<tag>.<fmt> and /badge/<badge_key>/<signature>.<fmt>;
  // `rest` is the raw (not percent-decoded) path after "/badge/".
  http::Response ProjectBadge(std::string_view rest) {
    const size_t dot = rest.rfind('.');
    if (dot == std::string_view::npos) return Text(404, "");
    const std::string_view fmt = rest.substr(dot + 1);
    rest = rest.substr(0, dot);
    const size_t s1 = rest.find('/');
    if (s1 == std::string_view::npos) return Text(404, "");
    const std::string badge_key(rest.substr(0, s1));
    const std::string_view sig_tag = rest.substr(s1 + 1);
    const size_t s2 = sig_tag.find('/');
    const std::string signature(sig_tag.substr(0, s2));
    std::string tag = "*";
    if (s2 != std::string_view::npos) {
      std::optional<std::string> decoded = BadgeTagFromPath(sig_tag.substr(s2 + 1));
      if (!decoded || decoded->empty()) return Text(404, "");
      tag = std::move(*decoded);
    }
    if (fmt != "svg" && fmt != "json" && fmt != "shields") return Text(404, "");
    const bool with_late = !(signature.size() == 10 && signature.substr(8) == "-2");
    if (!CheckBadgeSignature(options.secret, badge_key, tag, signature)) return Text(404, "");
    auto projects = deps.store.LoadProjects();
    if (!projects.ok()) return StoreDown(projects.error());
    const store::Project* project = nullptr;
    for (const store::Project& p : projects.value()) {
      if (p.badge_key == badge_key) project = &p;
    }
    if (!project) return Text(404, "");
    auto watches = deps.store.ListWatches(project->id);
    if (!watches.ok()) return StoreDown(watches.error());
    std::vector<std::string> statuses;
    for (const model::Watch& w : watches.value()) {
      if (tag != "*") {
        const auto tags = TagList(w.spec.tags);
        if (std::find(tags.begin(), tags.end(), tag) == tags.end()) continue;
      }
      statuses.push_back(BadgeStatusOf(w));
    }
    const BadgeCounts c = Aggregate(statuses, with_late);
    return BadgeResponse(fmt, tag == "*" ? "overdue" : tag, c.status, c.total, c.grace, c.down);
  }

  // /b/<states>/<badge_key>.<fmt>: one check's badge.
  http::Response CheckBadge(std::string_view rest) {
    const size_t slash = rest.find('/');
    const size_t dot = rest.rfind('.');
    if (slash == std::string_view::npos || dot == std::string_view::npos || dot < slash) {
      return Text(404, "");
    }
    const std::string_view states = rest.substr(0, slash);
    const std::string_view fmt = rest.substr(dot + 1);
    const auto key = base::Uuid::Parse(rest.substr(slash + 1, dot - slash - 1), true);
    if (states.empty() || states.find_first_not_of("0123456789") != std::string_view::npos ||
        !key) {
      return Text(404, "");
    }
    if (fmt != "svg" && fmt != "json" && fmt != "shields") return Text(404, "");
    auto projects = deps.store.LoadProjects();
    if (!projects.ok()) return StoreDown(projects.error());
    for (const store::Project& p : projects.value()) {
      auto watches = deps.store.ListWatches(p.id);
      if (!watches.ok()) return StoreDown(watches.error());
      for (const model::Watch& w : watches.value()) {
        if (w.spec.badge_key != *key) continue;
        const std::string st = BadgeStatusOf(w);
        std::string status = "up";
        if (st == "down") status = "down";
        if (st == "grace" && states == "3") status = "late";
        const std::string label = w.spec.name.empty() ? w.spec.id.ToString() : w.spec.name;
        return BadgeResponse(fmt, label, status, 1, st == "grace" ? 1 : 0, st == "down" ? 1 : 0);
      }
    }
    return JsonError(404, "not found");
  }

  // ---- /api/v1: overdue's own endpoints ----------------------------------------------------

  http::Response V1(const http::Request& req, std::string_view path) {
    constexpr std::string_view kChecks = "/api/v1/checks/";
    if (path.substr(0, kChecks.size()) == kChecks) {
      const auto id = base::Uuid::Parse(path.substr(kChecks.size()), /*lowercase_only=*/true);
      if (!id) return JsonError(404, "not found");
      if (req.method != "PUT") return JsonError(405, "method not allowed: use PUT");
      return PutCheck(req, *id);
    }
    http::Response err;
    if (path == "/api/v1/export") {
      if (req.method != "GET") return JsonError(405, "method not allowed: use GET");
      auto a = Authorize(req, /*read=*/false, &err);
      if (!a) return err;
      return Export(a->principal, req.QueryParam("history") == std::optional<std::string>("1"));
    }
    if (path == "/api/v1/import") {
      if (req.method != "POST") return JsonError(405, "method not allowed: use POST");
      auto a = Authorize(req, /*read=*/false, &err);
      if (!a) return err;
      return Import(a->principal, a->body);
    }
    return JsonError(404, "not found");
  }

  static json Micros(base::TimePoint t) { return base::ToMicros(t); }

  json WatchExport(const model::Watch& w) const {
    const model::WatchSpec& s = w.spec;
    const auto view = deps.engine.View(s.id);
    const model::WatchRuntime& rt = view ? view->runtime : w.runtime;
    json j = {
        {"uuid", s.id.ToString()},
        {"kind", std::string(model::WatchKindName(s.kind))},
        {"name", s.name},
        {"slug", s.slug},
        {"tags", s.tags},
        {"desc", s.desc},
        {"schedule",
         {{"kind", s.schedule.kind == model::Schedule::Kind::kCron   ? "cron"
                   : s.schedule.kind == model::Schedule::Kind::kOnce ? "once"
                                                                     : "period"},
          {"period_s", Seconds(s.schedule.period)},
          {"cron", s.schedule.cron},
          {"tz", s.schedule.tz},
          {"once_at_us", Micros(s.schedule.once_at)},
          {"grace_s", Seconds(s.schedule.grace)}}},
        {"manual_resume", s.manual_resume},
        {"methods", s.post_only ? "POST" : ""},
        {"start_kw", s.start_kw},
        {"success_kw", s.success_kw},
        {"failure_kw", s.failure_kw},
        {"filter_subject", s.filter_subject},
        {"filter_body", s.filter_body},
        {"filter_http_body", s.filter_http_body},
        {"filter_default_fail", s.filter_default_fail},
        {"badge_key", s.badge_key.ToString()},
        {"channels", s.channels},
        {"created_us", Micros(s.created)},
        {"runtime",
         {{"status", std::string(model::StatusName(rt.status))},
          {"last_ping_us", Micros(rt.last_ping)},
          {"last_start_us", Micros(rt.last_start)},
          {"last_start_rid", rt.last_start_rid ? json(rt.last_start_rid->ToString()) : json()},
          {"last_duration_us",
           rt.last_duration ? json(static_cast<int64_t>(rt.last_duration->count())) : json()},
          {"n_pings", rt.n_pings}}},
    };
    return j;
  }

  http::Response Export(const Principal& p, bool with_history) {
    auto project = ProjectById(p.project_id);
    if (!project) return JsonError(503, "store unavailable");
    auto keys = deps.store.LoadApiKeys();
    if (!keys.ok()) return StoreDown(keys.error());
    auto watches = deps.store.ListWatches(p.project_id);
    if (!watches.ok()) return StoreDown(watches.error());
    json doc = {{"format", kExportFormat},
                {"version", kExportVersion},
                {"exported_at", Iso(deps.clock.Now())},
                {"project",
                 {{"uuid", project->uuid.ToString()},
                  {"name", project->name},
                  {"ping_key", project->ping_key},
                  {"badge_key", project->badge_key},
                  {"created_us", Micros(project->created)}}}};
    json jkeys = json::array();
    for (const store::ApiKey& k : keys.value()) {
      if (k.project_id != p.project_id) continue;
      jkeys.push_back({{"prefix", k.prefix},
                       {"hash", k.hash},
                       {"read_only", k.read_only},
                       {"name", k.name},
                       {"created_us", Micros(k.created)}});
    }
    doc["api_keys"] = std::move(jkeys);
    json checks = json::array();
    json history = json::object();
    for (const model::Watch& w : watches.value()) {
      checks.push_back(WatchExport(w));
      if (!with_history) continue;
      auto cis = deps.store.ListCheckIns(w.spec.id, static_cast<size_t>(options.history_limit),
                                         /*with_bodies=*/true);
      if (!cis.ok()) return StoreDown(cis.error());
      auto flips = deps.store.ListFlips(w.spec.id, base::TimePoint{}, 1'000'000);
      if (!flips.ok()) return StoreDown(flips.error());
      json jc = json::array();
      for (auto it = cis.value().rbegin(); it != cis.value().rend(); ++it) {
        const model::CheckIn& c = *it;
        jc.push_back({{"n", c.n},
                      {"at_us", Micros(c.at)},
                      {"signal", std::string(model::SignalName(c.signal))},
                      {"exit_status", c.exit_status ? json(*c.exit_status) : json()},
                      {"rid", c.rid ? json(c.rid->ToString()) : json()},
                      {"remote_addr", c.remote_addr},
                      {"scheme", c.scheme},
                      {"method", c.method},
                      {"user_agent", c.user_agent},
                      {"body", c.body},
                      {"duration_us",
                       c.duration ? json(static_cast<int64_t>(c.duration->count())) : json()}});
      }
      json jf = json::array();
      for (const model::Flip& f : flips.value()) {
        jf.push_back({{"at_us", Micros(f.at)},
                      {"old_status", std::string(model::StatusName(f.old_status))},
                      {"new_status", std::string(model::StatusName(f.new_status))},
                      {"reason", f.reason},
                      {"detected_late", f.detected_late},
                      {"detected_at_us", Micros(f.detected_at)}});
      }
      history[w.spec.id.ToString()] = {{"check_ins", std::move(jc)}, {"flips", std::move(jf)}};
    }
    doc["checks"] = std::move(checks);
    // (IncidentsApi speaks nlohmann::json; this file's json keeps key order.)
    doc["channels"] =
        incidents ? json::parse(incidents->ExportChannels(p.project_id)
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                  : json::array();
    doc["policies"] =
        incidents ? json::parse(incidents->ExportPolicies(p.project_id)
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                  : json::array();
    if (with_history) doc["history"] = std::move(history);
    http::Response r = Json(200, doc);
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"overdue-export.json\"");
    return r;
  }

  static constexpr const char* kExportFormat = "overdue-export";
  static constexpr int kExportVersion = 1;

  // Reads one exported watch; the error names the field ("checks[2].schedule.cron: ...").
  base::Result<model::Watch> ParseExportedWatch(const json& j, const std::string& at,
                                                int64_t project_id) const {
    auto bad = [&](const std::string& field, const std::string& why) {
      return base::InvalidArgument(at + "." + field + ": " + why);
    };
    if (!j.is_object()) return base::InvalidArgument(at + ": must be an object");
    auto str = [&](const json& o, const char* k, std::string* out) -> base::Status {
      auto it = o.find(k);
      if (it == o.end() || !it->is_string()) return bad(k, "must be a string");
      *out = it->get<std::string>();
      return {};
    };
    auto num = [&](const json& o, const char* k, int64_t* out, bool nullable = false,
                   bool* is_null = nullptr) -> base::Status {
      auto it = o.find(k);
      if (nullable && it != o.end() && it->is_null()) {
        *is_null = true;
        return {};
      }
      if (it == o.end() || !it->is_number_integer()) return bad(k, "must be an integer");
      *out = it->get<int64_t>();
      return {};
    };
    auto boolean = [&](const json& o, const char* k, bool* out) -> base::Status {
      auto it = o.find(k);
      if (it == o.end() || !it->is_boolean()) return bad(k, "must be true or false");
      *out = it->get<bool>();
      return {};
    };
    model::Watch w;
    model::WatchSpec& s = w.spec;
    std::string text;
    if (auto st = str(j, "uuid", &text); !st.ok()) return st.error();
    auto id = base::Uuid::Parse(text);
    if (!id) return bad("uuid", "not a UUID");
    s.id = *id;
    s.project_id = project_id;
    if (auto st = str(j, "kind", &text); !st.ok()) return st.error();
    auto kind = model::ParseWatchKind(text);
    if (!kind) return bad("kind", "unknown kind \"" + text + "\"");
    s.kind = *kind;
    for (auto [k, out] : {std::pair{"name", &s.name},
                          {"slug", &s.slug},
                          {"tags", &s.tags},
                          {"desc", &s.desc},
                          {"start_kw", &s.start_kw},
                          {"success_kw", &s.success_kw},
                          {"failure_kw", &s.failure_kw},
                          {"channels", &s.channels}}) {
      if (auto st = str(j, k, out); !st.ok()) return st.error();
    }
    if (auto st = str(j, "methods", &text); !st.ok()) return st.error();
    if (text != "" && text != "POST") return bad("methods", "must be \"\" or \"POST\"");
    s.post_only = text == "POST";
    for (auto [k, out] : {std::pair{"manual_resume", &s.manual_resume},
                          {"filter_subject", &s.filter_subject},
                          {"filter_body", &s.filter_body},
                          {"filter_http_body", &s.filter_http_body},
                          {"filter_default_fail", &s.filter_default_fail}}) {
      if (auto st = boolean(j, k, out); !st.ok()) return st.error();
    }
    if (auto st = str(j, "badge_key", &text); !st.ok()) return st.error();
    s.badge_key = base::Uuid::Parse(text).value_or(base::Uuid::Random());
    int64_t v = 0;
    if (auto st = num(j, "created_us", &v); !st.ok()) return st.error();
    s.created = base::FromMicros(v);
    auto sched = j.find("schedule");
    if (sched == j.end() || !sched->is_object()) return bad("schedule", "must be an object");
    if (auto st = str(*sched, "kind", &text); !st.ok()) return st.error();
    if (text != "period" && text != "cron" && text != "once") {
      return bad("schedule.kind", "must be period, cron or once");
    }
    s.schedule.kind = text == "cron"   ? model::Schedule::Kind::kCron
                      : text == "once" ? model::Schedule::Kind::kOnce
                                       : model::Schedule::Kind::kPeriod;
    // Seconds are range-checked before they become microseconds, which could overflow.
    for (auto [k, out] :
         {std::pair{"period_s", &s.schedule.period}, {"grace_s", &s.schedule.grace}}) {
      if (auto st = num(*sched, k, &v); !st.ok()) return st.error();
      const int64_t max_s =
          std::chrono::duration_cast<std::chrono::seconds>(schedule::kMaxPeriod).count();
      if (v < 0 || v > max_s) {
        return bad(std::string("schedule.") + k, "must be between 0 and " + std::to_string(max_s));
      }
      *out = std::chrono::seconds(v);
    }
    if (auto st = num(*sched, "once_at_us", &v); !st.ok()) return st.error();
    s.schedule.once_at = base::FromMicros(v);
    if (auto st = str(*sched, "cron", &s.schedule.cron); !st.ok()) return st.error();
    if (auto st = str(*sched, "tz", &s.schedule.tz); !st.ok()) return st.error();
    if (auto st = schedule::Validate(s.schedule, options.min_period); !st.ok()) {
      return base::InvalidArgument(at + ".schedule: " + st.error().message);
    }
    auto rt = j.find("runtime");
    if (rt == j.end() || !rt->is_object()) return bad("runtime", "must be an object");
    if (auto st = str(*rt, "status", &text); !st.ok()) return st.error();
    auto status = model::ParseStatus(text);
    if (!status) return bad("runtime.status", "unknown status \"" + text + "\"");
    w.runtime.status = *status;
    if (auto st = num(*rt, "last_ping_us", &v); !st.ok()) return st.error();
    w.runtime.last_ping = base::FromMicros(v);
    if (auto st = num(*rt, "last_start_us", &v); !st.ok()) return st.error();
    w.runtime.last_start = base::FromMicros(v);
    if (auto st = num(*rt, "n_pings", &w.runtime.n_pings); !st.ok()) return st.error();
    bool is_null = false;
    if (auto st = num(*rt, "last_duration_us", &v, true, &is_null); !st.ok()) return st.error();
    if (!is_null) w.runtime.last_duration = base::Duration(v);
    auto rid = rt->find("last_start_rid");
    if (rid != rt->end() && rid->is_string()) {
      w.runtime.last_start_rid = base::Uuid::Parse(rid->get<std::string>());
    }
    return w;
  }

  // Restores an export into the caller's project: everything is validated before anything
  // is written. Watches keep their UUIDs (ping URLs survive); API keys are added by hash;
  // history is imported for watches this import creates (so a second run adds nothing).
  http::Response Import(const Principal& p, const json& doc) {
    if (!doc.is_object() || doc.value("format", json()) != kExportFormat) {
      return JsonError(400, "not an overdue export: \"format\" must be \"overdue-export\"");
    }
    const json& version = doc.value("version", json());
    if (!version.is_number_integer() || version.get<int64_t>() < 1) {
      return JsonError(400, "invalid export: \"version\" must be a positive integer");
    }
    if (version.get<int64_t>() > kExportVersion) {
      return JsonError(400, "this export has format version " + base::JsonText(version) +
                                ", newer than this server reads (" +
                                std::to_string(kExportVersion) + "): upgrade overdue first");
    }
    const json& checks = doc.value("checks", json::array());
    if (!checks.is_array()) return JsonError(400, "invalid export: \"checks\" must be an array");
    std::vector<model::Watch> watches;
    for (size_t i = 0; i < checks.size(); ++i) {
      auto w = ParseExportedWatch(checks[i], "checks[" + std::to_string(i) + "]", p.project_id);
      if (!w.ok()) return JsonError(400, "invalid export: " + w.error().message);
      watches.push_back(std::move(w.value()));
    }
    std::vector<store::ApiKey> keys;
    const json& jkeys = doc.value("api_keys", json::array());
    if (!jkeys.is_array()) return JsonError(400, "invalid export: \"api_keys\" must be an array");
    for (size_t i = 0; i < jkeys.size(); ++i) {
      const json& k = jkeys[i];
      const std::string at = "api_keys[" + std::to_string(i) + "]";
      if (!k.is_object() || !k.value("hash", json()).is_string() ||
          k["hash"].get<std::string>().size() != 64 || !k.value("prefix", json()).is_string() ||
          !k.value("read_only", json()).is_boolean()) {
        return JsonError(400, "invalid export: " + at +
                                  " needs \"hash\" (64 hex), \"prefix\" and \"read_only\"");
      }
      store::ApiKey key;
      key.project_id = p.project_id;
      key.hash = k["hash"].get<std::string>();
      key.prefix = k["prefix"].get<std::string>();
      key.read_only = k["read_only"].get<bool>();
      key.name = k.value("name", json("")).is_string() ? k.value("name", std::string()) : "";
      key.created = base::FromMicros(k.value("created_us", json(0)).is_number_integer()
                                         ? k.value("created_us", int64_t{0})
                                         : 0);
      keys.push_back(std::move(key));
    }
    const json& history = doc.value("history", json::object());
    IncidentsApi::ImportPlan notifications;
    if (incidents) {
      auto plan = incidents->PrepareImport(
          p.project_id,
          nlohmann::json::parse(doc.value("channels", json::array())
                                    .dump(-1, ' ', false, json::error_handler_t::replace)),
          nlohmann::json::parse(doc.value("policies", json::array())
                                    .dump(-1, ' ', false, json::error_handler_t::replace)));
      if (!plan.ok()) {
        return JsonError(plan.error().code == base::ErrorCode::kConflict ? 403 : 400,
                         "invalid export: " + plan.error().message);
      }
      notifications = std::move(plan.value());
    }
    const size_t channels_imported = notifications.channels.size();
    const size_t policies_imported = notifications.policies.size();

    base::MutexLock lock(&write_mu);
    // Ownership first: a UUID of another project is refused before anything changes.
    std::vector<bool> exists(watches.size(), false);
    for (size_t i = 0; i < watches.size(); ++i) {
      auto stored = deps.store.GetWatch(watches[i].spec.id);
      if (!stored.ok()) return StoreDown(stored.error());
      if (stored.value()) {
        if (stored.value()->spec.project_id != p.project_id) {
          return JsonError(403, "checks[" + std::to_string(i) + "]: " +
                                    watches[i].spec.id.ToString() + " belongs to another project");
        }
        exists[i] = true;
      }
    }
    auto count = deps.store.CountWatches(p.project_id);
    if (!count.ok()) return StoreDown(count.error());
    const int64_t new_ones = std::count(exists.begin(), exists.end(), false);
    if (count.value() + new_ones > options.check_limit) {
      return JsonError(403, "the import would exceed the project's check limit (" +
                                std::to_string(options.check_limit) + ")");
    }
    auto stored_keys = deps.store.LoadApiKeys();
    if (!stored_keys.ok()) return StoreDown(stored_keys.error());
    std::set<std::string> known_hashes;
    for (const store::ApiKey& k : stored_keys.value()) known_hashes.insert(k.hash);

    int64_t created = 0, updated = 0, keys_added = 0, check_ins = 0, flips = 0;
    std::vector<store::Mutation> extra;
    // The project's ping key (slug URLs) and badge key come back too, unless another project
    // of this server uses them. The server's key refresh applies a new ping key within ~1 s.
    bool ping_key_restored = false;
    const json& jproject = doc.value("project", json::object());
    if (jproject.is_object()) {
      auto projects = deps.store.LoadProjects();
      if (!projects.ok()) return StoreDown(projects.error());
      std::optional<store::Project> mine;
      for (const store::Project& pr : projects.value()) {
        if (pr.id == p.project_id) mine = pr;
      }
      auto taken = [&](std::string store::Project::*field, const std::string& v) {
        return std::any_of(
            projects.value().begin(), projects.value().end(),
            [&](const store::Project& pr) { return pr.id != p.project_id && pr.*field == v; });
      };
      const json& pk = jproject.value("ping_key", json());
      const json& bk = jproject.value("badge_key", json());
      if (mine) {
        store::Project updated_project = *mine;
        if (pk.is_string() && IsPingKey(pk.get<std::string>()) &&
            pk.get<std::string>() != mine->ping_key &&
            !taken(&store::Project::ping_key, pk.get<std::string>())) {
          updated_project.ping_key = pk.get<std::string>();
          ping_key_restored = true;
        }
        if (bk.is_string() && !bk.get<std::string>().empty() &&
            bk.get<std::string>().size() <= 64 &&
            !taken(&store::Project::badge_key, bk.get<std::string>())) {
          updated_project.badge_key = bk.get<std::string>();
        }
        if (updated_project.ping_key != mine->ping_key ||
            updated_project.badge_key != mine->badge_key) {
          extra.emplace_back(store::UpsertProject{updated_project});
        }
      }
    }
    for (store::ApiKey& k : keys) {
      if (!known_hashes.insert(k.hash).second) continue;
      extra.emplace_back(store::InsertApiKey{k});
      ++keys_added;
    }
    for (size_t i = 0; i < watches.size(); ++i) {
      const model::Watch& w = watches[i];
      auto st = WaitDurable([&](engine::Done done) -> base::Status {
        auto r = deps.engine.Restore(w.spec, w.runtime, std::move(done));
        if (!r.ok()) return r.error();
        return {};
      });
      if (!st.ok()) return StoreDown(st.error());
      (exists[i] ? updated : created) += 1;
      if (exists[i]) continue;
      auto h = history.find(w.spec.id.ToString());
      if (h == history.end() || !h->is_object()) continue;
      for (const json& c : h->value("check_ins", json::array())) {
        if (!c.is_object()) continue;
        model::CheckIn ci;
        ci.watch_id = w.spec.id;
        ci.n = c.value("n", int64_t{0});
        ci.at = base::FromMicros(c.value("at_us", int64_t{0}));
        ci.signal = model::ParseSignal(c.value("signal", std::string("success")))
                        .value_or(model::Signal::kSuccess);
        if (c.value("exit_status", json()).is_number_integer()) {
          ci.exit_status = c["exit_status"].get<int>();
        }
        if (c.value("rid", json()).is_string())
          ci.rid = base::Uuid::Parse(c["rid"].get<std::string>());
        ci.remote_addr = c.value("remote_addr", std::string());
        ci.scheme = c.value("scheme", std::string());
        ci.method = c.value("method", std::string());
        ci.user_agent = c.value("user_agent", std::string());
        ci.body = c.value("body", std::string());
        ci.body_size = ci.body.size();
        if (c.value("duration_us", json()).is_number_integer()) {
          ci.duration = base::Duration(c["duration_us"].get<int64_t>());
        }
        extra.emplace_back(store::InsertCheckIn{std::move(ci)});
        ++check_ins;
      }
      for (const json& f : h->value("flips", json::array())) {
        if (!f.is_object()) continue;
        model::Flip flip;
        flip.watch_id = w.spec.id;
        flip.at = base::FromMicros(f.value("at_us", int64_t{0}));
        flip.old_status = model::ParseStatus(f.value("old_status", std::string("new")))
                              .value_or(model::Status::kNew);
        flip.new_status = model::ParseStatus(f.value("new_status", std::string("new")))
                              .value_or(model::Status::kNew);
        flip.reason = f.value("reason", std::string());
        flip.detected_late = f.value("detected_late", false);
        flip.detected_at = base::FromMicros(f.value("detected_at_us", int64_t{0}));
        extra.emplace_back(store::InsertFlip{std::move(flip)});
        ++flips;
      }
    }
    if (!extra.empty()) {
      auto st = WaitDurable([&](engine::Done done) -> base::Status {
        deps.submit(std::move(extra), std::move(done));
        return {};
      });
      if (!st.ok()) return StoreDown(st.error());
      if (keys_added > 0) {
        for (const store::ApiKey& k : keys) deps.keys.Add(k);
      }
    }
    if (incidents) {
      if (auto st = incidents->Commit(std::move(notifications)); !st.ok()) {
        return StoreDown(st.error());
      }
    }
    return Json(200, json{{"checks_created", created},
                          {"channels_imported", channels_imported},
                          {"policies_imported", policies_imported},
                          {"checks_updated", updated},
                          {"api_keys_added", keys_added},
                          {"check_ins_imported", check_ins},
                          {"flips_imported", flips},
                          {"ping_key_restored", ping_key_restored}});
  }

  // ---- operations -----------------------------------------------------------------------

  void Handle(http::Request&& req, http::Reply reply) {
    http_requests->Inc();
    std::optional<std::string> path = DecodePath(req.path);
    if (!path) return reply(Text(400, "bad request: malformed percent-encoding in path"));
    if (path->rfind("/ping/", 0) == 0) return Ping(req, *path, std::move(reply));
    if (path->rfind("/api/v3/", 0) == 0) {
      return reply(V3(req, std::string_view(*path).substr(std::string_view("/api/v3/").size())));
    }
    if (incidents && IncidentsApi::Owns(*path)) {
      // overdue's own API tells a read-only key apart from a wrong one on a write (403).
      if (req.method != "GET") {
        const std::string* h = req.Header("x-api-key");
        auto p = h ? deps.keys.Authenticate(*h) : std::nullopt;
        if (p && p->read_only) return reply(JsonError(403, "this API key is read-only"));
      }
      http::Response err;
      auto a = Authorize(req, /*read=*/req.method == "GET", &err);
      if (!a) return reply(std::move(err));
      return incidents->Handle(req, *path, a->principal, std::move(a->body), std::move(reply));
    }
    if (incidents && path->rfind("/ack/", 0) == 0) {
      return incidents->Ack(req, std::string_view(*path).substr(5), std::move(reply));
    }
    if (path->rfind("/api/v1/", 0) == 0) return reply(V1(req, *path));
    if (path->rfind("/badge/", 0) == 0 || path->rfind("/b/", 0) == 0) {
      if (req.method != "GET" && req.method != "OPTIONS") {
        http::Response r = Text(405, "");
        AddCors(r, "GET");
        return reply(std::move(r));
      }
      if (req.method == "OPTIONS") {
        http::Response r = Text(204, "");
        AddCors(r, "GET");
        return reply(std::move(r));
      }
      const std::string_view p = *path;
      // The tag is read from the raw path: healthchecks decodes it twice (BadgeTagFromPath).
      http::Response r =
          p[1] == 'b' && p[2] == '/'
              ? CheckBadge(p.substr(3))
              : ProjectBadge(std::string_view(req.path).substr(std::string_view("/badge/").size()));
      AddCors(r, "GET");  // on every badge answer, 404s included (healthchecks' @cors)
      return reply(std::move(r));
    }
    if (*path == "/healthz") return reply(Text(200, "ok"));
    if (*path == "/readyz") {
      return reply(deps.ready() ? Text(200, "ready") : Text(503, "not ready"));
    }
    if (*path == "/metrics") {
      http::Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = deps.metrics.Render();
      return reply(std::move(r));
    }
    if (*path == "/") {
      return reply(Text(200,
                        "overdue: a dead man's switch for people and machines.\n"
                        "Ping URLs: /ping/<uuid>. API: /api/v3/checks/. Health: /healthz, "
                        "/readyz, /metrics.\n"));
    }
    reply(Text(404, "not found"));
  }
};

std::string Api::Impl::Sha1Hex(std::string_view data) {
  // SHA-1 is not in libsodium; this tiny implementation only derives healthchecks'
  // compatibility `unique_key` (not used for security).
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string msg(data);
  const uint64_t bit_len = static_cast<uint64_t>(msg.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bit_len >> (i * 8)) & 0xFF));
  auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (size_t chunk = 0; chunk < msg.size(); chunk += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = (static_cast<uint32_t>(static_cast<uint8_t>(msg[chunk + 4 * i])) << 24) |
             (static_cast<uint32_t>(static_cast<uint8_t>(msg[chunk + 4 * i + 1])) << 16) |
             (static_cast<uint32_t>(static_cast<uint8_t>(msg[chunk + 4 * i + 2])) << 8) |
             static_cast<uint32_t>(static_cast<uint8_t>(msg[chunk + 4 * i + 3]));
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f;
      uint32_t k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      const uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h) {
    for (int i = 7; i >= 0; --i) out.push_back(kHex[(v >> (i * 4)) & 0xF]);
  }
  return out;
}

const std::vector<std::string>& Routes() {
  static const std::vector<std::string> kRoutes = [] {
    std::vector<std::string> r;
    for (const char* base : {"/ping/{uuid}", "/ping/{ping_key}/{slug}"}) {
      for (const char* suffix : {"", "/start", "/fail", "/log", "/{exit_status}"}) {
        r.push_back(std::string("ANY ") + base + suffix);
      }
    }
    const char* fixed[] = {
        "GET /api/v3/checks/",
        "POST /api/v3/checks/",
        "GET /api/v3/checks/{uuid}",
        "POST /api/v3/checks/{uuid}",
        "DELETE /api/v3/checks/{uuid}",
        "GET /api/v3/checks/{unique_key}",
        "POST /api/v3/checks/{uuid}/pause",
        "POST /api/v3/checks/{uuid}/resume",
        "GET /api/v3/checks/{uuid}/pings/",
        "GET /api/v3/checks/{uuid}/pings/{n}/body",
        "GET /api/v3/checks/{uuid}/flips/",
        "GET /api/v3/checks/{unique_key}/flips/",
        "GET /api/v3/channels/",
        "GET /api/v3/badges/",
        "GET /api/v3/status/",
        "PUT /api/v1/checks/{uuid}",
        "GET /api/v1/export",
        "POST /api/v1/import",
        "GET /badge/{badge_key}/{signature}/{tag}.{fmt}",
        "GET /badge/{badge_key}/{signature}.{fmt}",
        "GET /b/{states}/{badge_key}.{fmt}",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /",
    };
    r.insert(r.end(), std::begin(fixed), std::end(fixed));
    r.insert(r.end(), IncidentsApi::Routes().begin(), IncidentsApi::Routes().end());
    return r;
  }();
  return kRoutes;
}

Api::Api(ApiDeps deps, ApiOptions options)
    : impl_(std::make_unique<Impl>(std::move(deps), std::move(options))) {}

Api::~Api() = default;

void Api::SetPublicUrl(std::string url) {
  if (impl_->incidents) impl_->incidents->SetPublicUrl(url);
  impl_->options.public_url = std::move(url);
}

std::string Api::AckUrl(int64_t incident_id) const {
  return impl_->incidents ? impl_->incidents->AckUrl(incident_id) : "";
}

void Api::Handle(http::Request&& request, http::Reply reply) {
  impl_->Handle(std::move(request), std::move(reply));
}

}  // namespace overdue::api
