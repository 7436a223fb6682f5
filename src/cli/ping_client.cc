#include "cli/ping_client.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <curl/curl.h>

#include "cli/version.h"

namespace overdue::cli {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// A Location: chain longer than this is a misconfiguration, not a ping URL.
constexpr long kMaxRedirects = 3;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Exchange {
  std::string body;
  std::optional<size_t> ping_body_limit;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  const size_t room = kMaxResponseBytes - std::min(kMaxResponseBytes, ex->body.size());
  ex->body.append(data, std::min(n, room));
  return n;  // the rest is dropped, not an error
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  constexpr std::string_view kName = "ping-body-limit:";
  if (line.size() > kName.size()) {
    std::string lower(line.substr(0, kName.size()));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == kName) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      size_t limit = 0;
      size_t digits = 0;
      while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9' && digits < 18) {
        limit = limit * 10 + static_cast<size_t>(v[digits] - '0');
        ++digits;
      }
      if (digits > 0) ex->ping_body_limit = limit;
    }
  }
  return n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// One attempt. Returns the status and body, or the transport error's text.
base::Result<PingResponse> Attempt(const std::string& url, std::string_view body,
                                   milliseconds connect_timeout, milliseconds timeout) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return base::Internal("libcurl cannot create a handle");
  // "Expect:" stops curl from waiting for a 100-continue on larger bodies, which some
  // servers never send (the wait would eat the timeout).
  std::unique_ptr<curl_slist, SlistDeleter> headers(
      curl_slist_append(nullptr, "Content-Type: text/plain; charset=utf-8"));
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  const std::string user_agent = UserAgent();
  char error[CURL_ERROR_SIZE] = {0};
  Exchange ex;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(c, CURLOPT_POSTREDIR, static_cast<long>(CURL_REDIR_POST_ALL));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we may be threaded
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return base::Unavailable(error[0] != '\0' ? std::string(error)
                                              : std::string(curl_easy_strerror(rc)));
  }
  PingResponse r;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(ex.body);
  r.ping_body_limit = ex.ping_body_limit;
  return r;
}

bool Retryable(long status) { return status >= 500 || status == 429; }

}  // namespace

std::string UserAgent() { return std::string("overdue/") + Version(); }

std::string PingSignal::Suffix() const {
  switch (kind) {
    case Kind::kSuccess:
      return "";
    case Kind::kStart:
      return "start";
    case Kind::kFail:
      return "fail";
    case Kind::kLog:
      return "log";
    case Kind::kExit:
      return std::to_string(exit_status);
  }
  return "";
}

std::string PingUrl(std::string_view base, const PingSignal& signal,
                    const std::optional<base::Uuid>& rid) {
  const size_t fragment = base.find('#');
  if (fragment != std::string_view::npos) base = base.substr(0, fragment);
  const size_t q = base.find('?');
  std::string path(base.substr(0, q));
  std::string query(q == std::string_view::npos ? "" : base.substr(q + 1));
  while (!path.empty() && path.back() == '/') path.pop_back();
  const std::string suffix = signal.Suffix();
  if (!suffix.empty()) path += "/" + suffix;
  if (rid) {
    if (!query.empty()) query += '&';
    query += "rid=";
    query += rid->ToString();
  }
  if (!query.empty()) {
    path += '?';
    path += query;
  }
  return path;
}

base::Result<std::string> ResolvePingTarget(std::string_view target, std::string_view server) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    return std::string(target);
  }
  auto with_server = [&](std::string_view tail) -> base::Result<std::string> {
    if (!server.starts_with("http://") && !server.starts_with("https://")) {
      std::string message = "server: \"";
      message += server;
      message += "\": must start with http:// or https://";
      return base::InvalidArgument(std::move(message));
    }
    std::string s(server);
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s + "/ping/" + std::string(tail);
  };
  if (base::Uuid::Parse(target)) return with_server(target);
  // <ping-key>/<slug>: healthchecks' ping keys are 22 URL-safe base64 characters; slugs are
  // [a-z0-9-_]. Anything else would make a URL the server rejects, so say so here.
  const size_t slash = target.find('/');
  if (slash != std::string_view::npos && slash > 0 && slash + 1 < target.size()) {
    const std::string_view key = target.substr(0, slash);
    const std::string_view slug = target.substr(slash + 1);
    const bool key_ok = std::all_of(key.begin(), key.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    const bool slug_ok = std::all_of(slug.begin(), slug.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
    if (key_ok && slug_ok) return with_server(target);
  }
  std::string message = "\"";
  message += target;
  message += "\": must be a ping URL (http://… or https://…), a UUID or <ping-key>/<slug>";
  return base::InvalidArgument(std::move(message));
}

base::Result<PingResponse> SendPing(const std::string& url, std::string_view body,
                                    const RetryPolicy& policy, const RetryObserver& on_retry) {
  InitCurlOnce();
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + policy.max_total;
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  base::Duration delay = policy.first_delay;
  std::string last_error;
  for (int attempt = 1;; ++attempt) {
    const auto left = duration_cast<milliseconds>(deadline - Clock::now());
    const auto timeout = std::max(
        milliseconds(1), std::min(duration_cast<milliseconds>(policy.request_timeout), left));
    const auto connect = std::min(duration_cast<milliseconds>(policy.connect_timeout), timeout);
    auto r = Attempt(url, body, connect, timeout);
    if (r.ok()) {
      r->attempts = attempt;
      if (!Retryable(r->status)) return r;
      last_error = "HTTP " + std::to_string(r->status);
    } else {
      last_error = r.error().message;
    }
    const auto wait = duration_cast<base::Duration>(delay * jitter(rng));
    // Give up when out of attempts, or when the wait would leave no time for another try.
    if (attempt >= policy.max_attempts || Clock::now() + wait >= deadline) {
      if (r.ok()) return r;
      return base::Unavailable(last_error + " (after " + std::to_string(attempt) +
                               (attempt == 1 ? " attempt)" : " attempts)"));
    }
    if (on_retry) on_retry(last_error, wait);
    std::this_thread::sleep_for(wait);
    delay *= 2;
  }
}

}  // namespace overdue::cli
