#include "api/api.h"

#include <cmath>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/ping_path.h"
#include "model/state_machine.h"

namespace overdue::api {
namespace {

using json = nlohmann::ordered_json;

// Django's HttpResponse default; healthchecks' plain answers ("OK", "not found") carry it.
constexpr const char* kDjangoContentType = "text/html; charset=utf-8";
constexpr const char* kJsonContentType = "application/json";

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
  r.body = j.dump();
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
  }

  ApiDeps deps;
  ApiOptions options;
  base::Counter* checkins[5] = {};
  base::Counter* not_durable = nullptr;
  base::Counter* http_requests = nullptr;

  // ---- /ping ----------------------------------------------------------------------------

  http::Response PingOk(bool created) const {
    http::Response r = Text(created ? 201 : 200, created ? "Created" : "OK");
    r.headers.emplace_back("Ping-Body-Limit", std::to_string(options.ping_body_limit));
    r.headers.emplace_back("Access-Control-Allow-Origin", "*");
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

  // ---- /api/v3 (read endpoints of issue 2; the full management API is issue 3) -----------

  std::optional<Principal> Authorize(const http::Request& req, http::Response* error) const {
    const std::string* key = req.Header("x-api-key");
    if (!key || key->size() != 32) {
      *error = JsonError(401, "missing api key");
      return std::nullopt;
    }
    auto p = deps.keys.Authenticate(*key);
    if (!p) *error = JsonError(401, "wrong api key");
    return p;
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
        {"subject", ""},
        {"subject_fail", ""},
        {"start_kw", w.spec.start_kw},
        {"success_kw", w.spec.success_kw},
        {"failure_kw", w.spec.failure_kw},
        {"filter_subject", false},
        {"filter_body", false},
        {"filter_http_body", w.spec.filter_http_body},
        {"filter_default_fail", w.spec.filter_default_fail},
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
      j["channels"] = "";
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

  // healthchecks' unique_key: sha1 of the first 16 hex digits of the UUID.
  static std::string UniqueKey(const base::Uuid& id) {
    std::string hex = id.ToString();
    hex.erase(std::remove(hex.begin(), hex.end(), '-'), hex.end());
    return Sha1Hex(hex.substr(0, 16));
  }
  static std::string Sha1Hex(std::string_view data);

  std::optional<model::Watch> LoadOwned(const base::Uuid& id, const Principal& p,
                                        http::Response* error) const {
    auto w = deps.store.GetWatch(id);
    if (!w.ok()) {
      *error = JsonError(503, "store unavailable: " + w.error().message);
      return std::nullopt;
    }
    if (!w.value()) {
      *error = JsonError(404, "not found");
      return std::nullopt;
    }
    if (w.value()->spec.project_id != p.project_id) {
      *error = Text(403, "");
      return std::nullopt;
    }
    return std::move(*w.value());
  }

  http::Response ChecksApi(const http::Request& req, std::string_view path) {
    http::Response err;
    if (req.method != "GET" && req.method != "HEAD") {
      return JsonError(405, "method not allowed (this server's v3 API is read-only for now)");
    }
    auto p = Authorize(req, &err);
    if (!p) return err;
    constexpr std::string_view kChecks = "/api/v3/checks/";
    std::string_view rest = path.substr(kChecks.size());
    if (rest.empty()) {
      auto watches = deps.store.ListWatches(p->project_id);
      if (!watches.ok()) return JsonError(503, "store unavailable: " + watches.error().message);
      json list = json::array();
      for (const auto& w : watches.value()) {
        list.push_back(CheckJson(w, deps.engine.View(w.spec.id), p->read_only));
      }
      return Json(200, json{{"checks", list}});
    }
    const size_t slash = rest.find('/');
    const auto id = base::Uuid::Parse(rest.substr(0, slash), true);
    if (!id) return JsonError(404, "not found");
    auto w = LoadOwned(*id, *p, &err);
    if (!w) return err;
    const std::string_view sub = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (sub.empty()) return Json(200, CheckJson(*w, deps.engine.View(*id), p->read_only));
    if (sub == "/pings/") return Pings(*w, *p);
    if (sub == "/flips/") return Flips(req, *w);
    constexpr std::string_view kPings = "/pings/";
    if (sub.substr(0, kPings.size()) == kPings && sub.size() > kPings.size() + 5 &&
        sub.substr(sub.size() - 5) == "/body") {
      const std::string n_text(sub.substr(kPings.size(), sub.size() - kPings.size() - 5));
      if (n_text.empty() || n_text.size() > 18 ||
          n_text.find_first_not_of("0123456789") != std::string::npos) {
        return JsonError(404, "not found");
      }
      auto ci = deps.store.GetCheckIn(*id, std::stoll(n_text));
      if (!ci.ok()) return JsonError(503, "store unavailable: " + ci.error().message);
      if (!ci.value()) return JsonError(404, "not found");
      http::Response r;
      r.content_type = "text/plain; charset=utf-8";
      r.body = ci.value()->body;
      return r;
    }
    return JsonError(404, "not found");
  }

  http::Response Pings(const model::Watch& w, const Principal& p) {
    if (p.read_only) return Text(403, "");
    auto list = deps.store.ListCheckIns(w.spec.id, 1000, /*with_bodies=*/false);
    if (!list.ok()) return JsonError(503, "store unavailable: " + list.error().message);
    json out = json::array();
    const std::string base_url =
        options.public_url + "/api/v3/checks/" + w.spec.id.ToString() + "/pings/";
    for (const model::CheckIn& ci : list.value()) {
      json j = {
          {"type", std::string(model::SignalName(ci.signal)) == "success"
                       ? "success"
                       : std::string(model::SignalName(ci.signal))},
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
      if (ci.duration) {
        j["duration"] = std::round(static_cast<double>(ci.duration->count()) / 1e4) / 100.0;
      }
      out.push_back(std::move(j));
    }
    return Json(200, json{{"pings", out}});
  }

  http::Response Flips(const http::Request& req, const model::Watch& w) {
    base::TimePoint since{};
    if (auto seconds = req.QueryParam("seconds")) {
      char* end = nullptr;
      const long long s = std::strtoll(seconds->c_str(), &end, 10);
      if (seconds->empty() || *end != '\0' || s < 0) {
        return JsonError(400, "invalid query parameter: seconds");
      }
      since = deps.clock.Now() - std::chrono::seconds(s);
    }
    auto list = deps.store.ListFlips(w.spec.id, since, 1000);
    if (!list.ok()) return JsonError(503, "store unavailable: " + list.error().message);
    json out = json::array();
    for (const model::Flip& f : list.value()) {
      // `grace` is overdue's own durable state; healthchecks derives it and has no such flip.
      if (f.new_status == model::Status::kGrace) continue;
      if (f.old_status == model::Status::kGrace && f.new_status == model::Status::kUp) continue;
      out.push_back({{"timestamp", Iso(f.at)}, {"up", f.new_status == model::Status::kUp ? 1 : 0}});
    }
    return Json(200, json{{"flips", out}});
  }

  // ---- operations -----------------------------------------------------------------------

  void Handle(http::Request&& req, http::Reply reply) {
    http_requests->Inc();
    std::optional<std::string> path = DecodePath(req.path);
    if (!path) return reply(Text(400, "bad request: malformed percent-encoding in path"));
    if (path->rfind("/ping/", 0) == 0) return Ping(req, *path, std::move(reply));
    if (path->rfind("/api/v3/checks/", 0) == 0) return reply(ChecksApi(req, *path));
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

Api::Api(ApiDeps deps, ApiOptions options)
    : impl_(std::make_unique<Impl>(std::move(deps), std::move(options))) {}

Api::~Api() = default;

void Api::SetPublicUrl(std::string url) { impl_->options.public_url = std::move(url); }

void Api::Handle(http::Request&& request, http::Reply reply) {
  impl_->Handle(std::move(request), std::move(reply));
}

}  // namespace overdue::api
