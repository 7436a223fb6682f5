// Design note. One thread (the loop) owns everything in progress: a libcurl multi handle with
// one easy handle per HTTP or SMTP attempt, and one child process per command attempt. Each
// turn of the loop it
//   1. moves queued attempts into flight while fewer than max_parallel are running,
//   2. lets curl make progress (curl_multi_perform) and completes finished transfers,
//   3. supervises commands: writes stdin, reads output, reaps exited children, kills
//      (SIGKILL, whole process group) those past their deadline,
//   4. sleeps in curl_multi_poll on curl's sockets plus every command's stdin pipe, output
//      pipe and pidfd, until one is ready, the nearest command deadline or curl's own timer.
// Nothing else runs per attempt, except the short-lived thread libcurl's threaded resolver
// starts for each name lookup. Send() only appends to a mutex-guarded queue and calls
// curl_multi_wakeup, so callers never wait on the network. Stop() sets a flag and wakes the loop,
// which abandons everything in flight and everything queued (each `done` once, with "transport
// stopped"), then exits.
//
// curl_multi_poll copies only POLLIN/POLLOUT into curl_waitfd::revents (a pipe's POLLHUP and
// POLLERR are dropped), so after every wake-up every command's fds are tried non-blocking
// rather than trusting revents; a pipe that reports EOF or an error is closed at once so that
// it cannot keep waking the loop.
#include "notify/transport.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "base/check.h"
#include "base/mutex.h"

extern char** environ;

namespace overdue::notify {
namespace {

using Done = std::function<void(Outcome)>;
using SteadyClock = std::chrono::steady_clock;

// Upper bound on one curl_multi_poll sleep. Every event that needs the loop wakes it anyway
// (sockets, pipes, pidfds, curl_multi_wakeup, deadlines); this only bounds the damage of a
// wake-up we did not foresee (e.g. a kernel without pidfd_open, where exits are polled).
constexpr int kMaxPollMs = 1000;
// Without pidfd_open (Linux < 5.3) an exited child wakes nothing: look this often.
constexpr int kNoPidfdPollMs = 20;
// Bytes read from a command's output per read(2); the excess beyond max_response_bytes is
// read and dropped so that a chatty command never blocks on a full pipe.
constexpr size_t kReadChunk = 16 * 1024;
constexpr char kStoppedDetail[] = "transport stopped";

Outcome StoppedOutcome(base::Duration elapsed = base::Duration{0}) {
  Outcome o;
  o.reason = FailureReason::kProtocol;
  o.detail = kStoppedDetail;
  o.duration = elapsed;
  return o;
}

base::Duration Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<base::Duration>(SteadyClock::now() - start);
}

// In curl's option type, at least 1 ms: curl reads 0 as "no timeout".
long Millis(base::Duration d) {
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<long>(std::max<int64_t>(1, ms));
}

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it is not valid (overlong
// forms and surrogates included).
size_t Utf8Length(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;
}

// `raw` made safe to store and show on one line: valid UTF-8 kept, other bytes as '?', runs of
// control characters and spaces folded to one space, trimmed, at most `max` bytes. Outcome
// details end up in JSON and the timeline, where a stray byte would break serialisation.
std::string Printable(std::string_view raw, size_t max) {
  std::string out;
  bool pending_space = false;
  size_t i = 0;
  while (i < raw.size()) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c <= 0x20 || c == 0x7F) {
      pending_space = true;
      ++i;
      continue;
    }
    size_t len = Utf8Length(raw.substr(i));
    const std::string_view piece = len ? raw.substr(i, len) : std::string_view("?");
    if (len == 0) len = 1;
    const size_t space = pending_space && !out.empty() ? 1 : 0;
    if (out.size() + space + piece.size() > max) break;
    if (space) out += ' ';
    out += piece;
    pending_space = false;
    i += len;
  }
  return out;
}

// Whether connecting to `addr` is refused without allow_private: loopback, RFC 1918 private,
// link-local (cloud metadata lives at 169.254.169.254), "this network" (0.0.0.0 reaches the
// local host on Linux), CGNAT, and their IPv6 counterparts and IPv4-in-IPv6 forms.
bool IsPrivateV4(uint32_t a) {  // host byte order
  const auto in = [a](uint32_t net, int bits) {
    return (a >> (32 - bits)) == (net >> (32 - bits));
  };
  return in(0x00000000, 8)                                                 // 0.0.0.0/8
         || in(0x7F000000, 8)                                              // 127.0.0.0/8
         || in(0x0A000000, 8) || in(0xAC100000, 12) || in(0xC0A80000, 16)  // RFC 1918
         || in(0xA9FE0000, 16)                                             // 169.254.0.0/16
         || in(0x64400000, 10);                                            // 100.64.0.0/10
}

uint32_t LoadV4(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

bool IsPrivateV6(const in6_addr& addr) {
  const uint8_t* b = addr.s6_addr;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  static constexpr uint8_t kZero[12] = {};
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible; covers :: and ::1, which fall in
  // 0.0.0.0/8) and 64:ff9b::a.b.c.d (NAT64) reach the embedded IPv4 address.
  if (std::memcmp(b, kMapped, 12) == 0 || std::memcmp(b, kZero, 12) == 0 ||
      std::memcmp(b, kNat64, 12) == 0) {
    return IsPrivateV4(LoadV4(b + 12));
  }
  if ((b[0] & 0xFE) == 0xFC) return true;                  // fc00::/7 unique local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return true;  // fe80::/10 link-local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) return true;  // fec0::/10 old site-local
  return false;
}

// The address as text when it must be refused, "" when it may be connected to.
std::string BlockedAddress(const sockaddr* sa) {
  char text[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, sa, sizeof v4);
    if (!IsPrivateV4(ntohl(v4.sin_addr.s_addr))) return "";
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    return text;
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, sa, sizeof v6);
    if (!IsPrivateV6(v6.sin6_addr)) return "";
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    return text;
  }
  return "(address family " + std::to_string(sa->sa_family) + ")";  // unix sockets and the like
}

FailureReason ClassifyCurlError(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return FailureReason::kTimeout;
    case CURLE_COULDNT_CONNECT:
      return FailureReason::kRefused;
    case CURLE_COULDNT_RESOLVE_HOST:
      return FailureReason::kDns;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:  // the SMTP server offers no STARTTLS although it is required
      return FailureReason::kTls;
    default:
      return FailureReason::kProtocol;
  }
}

// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
std::optional<base::Duration> ParseRetryAfter(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec == std::errc() && end == v.data() + v.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  const std::string date(v);
  const time_t at = curl_getdate(date.c_str(), nullptr);
  if (at == -1) return std::nullopt;
  return std::chrono::seconds(std::max<int64_t>(0, at - std::time(nullptr)));
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// An HTTP or SMTP attempt: the easy handle and everything its callbacks point into.
struct CurlAttempt {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* recipients = nullptr;
  bool is_mail = false;
  bool allow_private = false;
  size_t max_response = 0;
  std::string body;  // request body or mail message; curl reads it without copying
  size_t read_offset = 0;
  std::string response;  // the first max_response bytes of the response body
  std::string blocked;   // the refused address, when the open-socket callback refused one
  char error[CURL_ERROR_SIZE] = {};
  SteadyClock::time_point start;
  Done done;

  CurlAttempt() = default;
  CurlAttempt(const CurlAttempt&) = delete;
  CurlAttempt& operator=(const CurlAttempt&) = delete;
  ~CurlAttempt() {
    if (easy) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    curl_slist_free_all(recipients);
  }
};

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
  auto* a = static_cast<CurlAttempt*>(user);
  const size_t len = size * count;
  const size_t room = a->max_response - std::min(a->max_response, a->response.size());
  a->response.append(data, std::min(len, room));
  return len;  // the rest is read and dropped, not an error
}

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* a = static_cast<CurlAttempt*>(user);
  const size_t n = std::min(size * count, a->body.size() - a->read_offset);
  std::memcpy(buffer, a->body.data() + a->read_offset, n);
  a->read_offset += n;
  return n;
}

curl_socket_t OnOpenSocket(void* user, curlsocktype /*purpose*/, curl_sockaddr* address) {
  auto* a = static_cast<CurlAttempt*>(user);
  if (!a->allow_private) {
    std::string blocked = BlockedAddress(&address->addr);
    if (!blocked.empty()) {
      a->blocked = std::move(blocked);
      return CURL_SOCKET_BAD;  // curl reports CURLE_COULDNT_CONNECT; `blocked` says why
    }
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

// A command attempt: the child (its own process group) and our ends of its pipes.
struct CommandAttempt {
  pid_t pid = -1;
  int pidfd = -1;      // readable once the child exited; -1 without pidfd_open
  int stdin_fd = -1;   // write end, non-blocking; closed when written or refused (EPIPE)
  int output_fd = -1;  // read end of stdout+stderr, non-blocking; closed at EOF or reaping
  std::string input;
  size_t input_offset = 0;
  std::string output;  // the first max_response bytes of stdout+stderr
  size_t max_output = 0;
  SteadyClock::time_point start;
  SteadyClock::time_point deadline;
  base::Duration timeout{0};
  bool killed = false;  // the deadline passed and the group got SIGKILL
  Done done;

  CommandAttempt() = default;
  CommandAttempt(const CommandAttempt&) = delete;
  CommandAttempt& operator=(const CommandAttempt&) = delete;
  ~CommandAttempt() { CloseAll(); }

  void CloseAll() {
    for (int* fd : {&pidfd, &stdin_fd, &output_fd}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }
};

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Writes what the pipe takes now. A command that does not read stdin closes the pipe: the
// EPIPE is expected and the rest of the input dropped. SIGPIPE is blocked on the loop thread,
// so the signal raised by that write stays pending on it; take it back so none accumulates.
void WriteInput(CommandAttempt& c) {
  while (c.stdin_fd >= 0 && c.input_offset < c.input.size()) {
    const ssize_t n =
        write(c.stdin_fd, c.input.data() + c.input_offset, c.input.size() - c.input_offset);
    if (n > 0) {
      c.input_offset += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      if (errno == EPIPE) {
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        const timespec zero{};
        sigtimedwait(&pipe_set, nullptr, &zero);
      }
      CloseFd(c.stdin_fd);
    }
  }
  if (c.input_offset >= c.input.size()) CloseFd(c.stdin_fd);  // EOF for the command
}

void ReadOutput(CommandAttempt& c) {
  char buffer[kReadChunk];
  while (c.output_fd >= 0) {
    const ssize_t n = read(c.output_fd, buffer, sizeof buffer);
    if (n > 0) {
      const size_t room = c.max_output - std::min(c.max_output, c.output.size());
      c.output.append(buffer, std::min(static_cast<size_t>(n), room));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      CloseFd(c.output_fd);  // EOF, or an error that leaves nothing more to read
    }
  }
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

// "NAME=value" for the child: our environment with `extra` added or replacing.
std::vector<std::string> ChildEnvironment(const Headers& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    const bool replaced =
        std::any_of(extra.begin(), extra.end(), [&](const auto& kv) { return kv.first == name; });
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [name, value] : extra) {
    if (name.empty() || name.find_first_of(std::string_view("=\0", 2)) != std::string::npos) {
      continue;  // not a variable name execve can pass on
    }
    env.push_back(name + "=" + value);
  }
  return env;
}

}  // namespace

struct Transport::Impl {
  explicit Impl(TransportOptions o) : options(o) {
    static std::once_flag curl_init;
    std::call_once(curl_init, [] { OVERDUE_CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == 0); });
    multi = curl_multi_init();
    OVERDUE_CHECK(multi != nullptr);
    if (options.max_parallel == 0) options.max_parallel = 1;
  }
  ~Impl() { curl_multi_cleanup(multi); }

  struct Queued {
    Delivery delivery;
    Done done;
  };

  TransportOptions options;
  // Created once and used by Send (curl_multi_wakeup, documented thread-safe) and the loop.
  CURLM* multi = nullptr;
  base::Mutex thread_mu;  // Start's creation vs Stop's join, and concurrent Stops
  std::thread thread GUARDED_BY(thread_mu);

  mutable base::Mutex mu;
  std::deque<Queued> queue GUARDED_BY(mu);
  size_t running GUARDED_BY(mu) = 0;  // attempts taken from the queue and not yet done
  bool started GUARDED_BY(mu) = false;
  bool stopping GUARDED_BY(mu) = false;

  // Loop thread only.
  std::unordered_map<CURL*, std::unique_ptr<CurlAttempt>> transfers;
  std::list<std::unique_ptr<CommandAttempt>> commands;
  bool completed_this_turn = false;  // a slot was freed: look at the queue before sleeping

  static thread_local const Impl* current_loop;  // the Impl whose loop runs on this thread

  void Loop();
  void Begin(Queued q);
  void BeginCurl(Delivery& delivery, Done done, SteadyClock::time_point start);
  void BeginCommand(CommandDelivery& d, Done done, SteadyClock::time_point start);
  void FinishTransfers();
  void SuperviseCommands();
  int PollTimeoutMs() const;
  void AbandonAll();
  void Complete(Done& done, Outcome outcome);
  Outcome CurlOutcome(CurlAttempt& a, CURLcode result);
};

thread_local const Transport::Impl* Transport::Impl::current_loop = nullptr;

void Transport::Impl::Complete(Done& done, Outcome outcome) {
  {
    base::MutexLock lock(&mu);
    OVERDUE_DCHECK(running > 0);
    --running;
  }
  completed_this_turn = true;
  // Outside the lock: `done` may call Send.
  if (done) done(std::move(outcome));
}

void Transport::Impl::Loop() {
  current_loop = this;
  // Writing to the stdin pipe of a command that exited raises SIGPIPE; keep it off this thread
  // whatever the process disposition is (curl's own sockets use MSG_NOSIGNAL).
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

  while (true) {
    std::vector<Queued> starting;
    {
      base::MutexLock lock(&mu);
      if (stopping) break;
      while (!queue.empty() && running < options.max_parallel) {
        starting.push_back(std::move(queue.front()));
        queue.pop_front();
        ++running;
      }
    }
    completed_this_turn = false;
    for (Queued& q : starting) Begin(std::move(q));
    int still_running = 0;
    curl_multi_perform(multi, &still_running);
    FinishTransfers();
    SuperviseCommands();
    if (completed_this_turn) continue;  // freed slots may let queued attempts start now

    std::vector<curl_waitfd> fds;
    for (const auto& c : commands) {
      if (c->stdin_fd >= 0) fds.push_back({c->stdin_fd, CURL_WAIT_POLLOUT, 0});
      if (c->output_fd >= 0) fds.push_back({c->output_fd, CURL_WAIT_POLLIN, 0});
      if (c->pidfd >= 0) fds.push_back({c->pidfd, CURL_WAIT_POLLIN, 0});
    }
    curl_multi_poll(multi, fds.data(), static_cast<unsigned>(fds.size()), PollTimeoutMs(), nullptr);
  }
  AbandonAll();
}

int Transport::Impl::PollTimeoutMs() const {
  int timeout = kMaxPollMs;
  const auto now = SteadyClock::now();
  for (const auto& c : commands) {
    if (c->pidfd < 0) timeout = std::min(timeout, kNoPidfdPollMs);
    if (c->killed) continue;  // waiting for the exit, which the pidfd reports
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(c->deadline - now).count();
    timeout = std::min<int>(timeout, static_cast<int>(std::max<int64_t>(0, left)));
  }
  return timeout;
}

void Transport::Impl::Begin(Queued q) {
  const auto start = SteadyClock::now();
  if (auto* command = std::get_if<CommandDelivery>(&q.delivery)) {
    BeginCommand(*command, std::move(q.done), start);
  } else {
    BeginCurl(q.delivery, std::move(q.done), start);
  }
}

void Transport::Impl::BeginCurl(Delivery& delivery, Done done, SteadyClock::time_point start) {
  auto a = std::make_unique<CurlAttempt>();
  a->allow_private = options.allow_private;
  a->max_response = options.max_response_bytes;
  a->start = start;
  a->done = std::move(done);
  const auto fail = [&](FailureReason reason, std::string detail) {
    Outcome o;
    o.reason = reason;
    o.detail = std::move(detail);
    o.duration = Since(start);
    Complete(a->done, std::move(o));
  };

  a->easy = curl_easy_init();
  if (!a->easy) return fail(FailureReason::kProtocol, "curl_easy_init failed");
  CURL* e = a->easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, a.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->error);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  // Ending a transfer still resolving its name (timeout, Stop) would otherwise join curl's
  // resolver thread, i.e. block this loop until getaddrinfo returns; the thread is left to
  // finish on its own instead.
  curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, Millis(options.timeout));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, Millis(options.connect_timeout));
  // Proxies from the environment (http_proxy, ...) are ignored: through a proxy the private
  // address check would judge the proxy instead of the receiver.
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, a.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, a.get());

  if (auto* http = std::get_if<HttpDelivery>(&delivery)) {
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_URL, http->url.c_str());
    curl_easy_setopt(e, CURLOPT_USERAGENT, "overdue");
    // No "Expect: 100-continue" round trip (up to a second of waiting) for larger bodies.
    a->headers = curl_slist_append(a->headers, "Expect:");
    for (const auto& [name, value] : http->headers) {
      if (name.empty() || HasLineBreak(name) || HasLineBreak(value) ||
          name.find_first_of(": ") != std::string::npos) {
        return fail(FailureReason::kClientError, fmt::format("invalid header name \"{}\"", name));
      }
      // "Name;" is curl's spelling of a header with an empty value ("Name:" deletes it).
      const std::string line = value.empty() ? name + ";" : name + ": " + value;
      a->headers = curl_slist_append(a->headers, line.c_str());
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->headers);
    if (!http->username.empty()) {
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(e, CURLOPT_USERNAME, http->username.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, http->password.c_str());
    }
    if (http->method.empty() || http->method.find_first_of(" \r\n") != std::string::npos) {
      return fail(FailureReason::kClientError, "invalid HTTP method");
    }
    a->body = std::move(http->body);
    if (http->method == "GET" && a->body.empty()) {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (http->method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(a->body.size()));
      if (http->method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, http->method.c_str());
    }
    // The URL, username and password strings are copied by curl; `http` may go.
  } else {
    auto& mail = std::get<MailDelivery>(delivery);
    a->is_mail = true;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_URL, mail.smtp_url.c_str());
    if (mail.starttls) curl_easy_setopt(e, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    if (!mail.username.empty()) {
      curl_easy_setopt(e, CURLOPT_USERNAME, mail.username.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, mail.password.c_str());
    }
    if (HasLineBreak(mail.from)) return fail(FailureReason::kClientError, "invalid sender");
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, mail.from.c_str());
    for (const std::string& to : mail.to) {
      if (HasLineBreak(to)) return fail(FailureReason::kClientError, "invalid recipient");
      a->recipients = curl_slist_append(a->recipients, to.c_str());
    }
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, a->recipients);
    a->body = std::move(mail.message);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(e, CURLOPT_READDATA, a.get());
  }

  if (curl_multi_add_handle(multi, e) != CURLM_OK) {
    return fail(FailureReason::kProtocol, "curl_multi_add_handle failed");
  }
  transfers.emplace(e, std::move(a));
}

Outcome Transport::Impl::CurlOutcome(CurlAttempt& a, CURLcode result) {
  Outcome o;
  o.duration = Since(a.start);
  long code = 0;
  curl_easy_getinfo(a.easy, CURLINFO_RESPONSE_CODE, &code);
  o.code = static_cast<int>(code);
  const size_t max = options.max_response_bytes;

  if (result != CURLE_OK && !a.blocked.empty()) {
    o.reason = FailureReason::kBlocked;
    o.detail =
        fmt::format("refused to connect to private address {} (allow_private is off)", a.blocked);
    return o;
  }
  const std::string curl_text = Printable(a.error[0] ? a.error : curl_easy_strerror(result), 512);

  if (a.is_mail) {
    // CURLINFO_RESPONSE_CODE holds the last SMTP reply. A 4xx says "try later", a 5xx that the
    // server will never take this mail; otherwise the curl error speaks (a timeout leaves the
    // 250 of an earlier command there).
    if (result == CURLE_OK) {
      o.ok = true;
    } else if (code >= 400 && code < 500) {
      o.reason = FailureReason::kServerError;
    } else if (code >= 500 && code < 600) {
      o.reason = FailureReason::kClientError;
    } else {
      o.reason = ClassifyCurlError(result);
    }
    if (!o.ok) o.detail = curl_text;
    return o;
  }

  if (result != CURLE_OK) {
    o.reason = ClassifyCurlError(result);
    o.detail = curl_text;
    return o;
  }
  o.detail = Printable(a.response, max);
  if (code >= 200 && code < 300) {
    o.ok = true;
  } else if (code == 429) {
    o.reason = FailureReason::kRateLimited;
    curl_header* h = nullptr;
    if (curl_easy_header(a.easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
      o.retry_after = ParseRetryAfter(h->value);
    }
  } else if (code == 408) {
    o.reason = FailureReason::kTimeout;  // the receiver timed out our request: worth a retry
  } else if (code >= 300 && code < 400) {
    o.reason = FailureReason::kProtocol;
    o.detail = "redirect not followed";
  } else if (code >= 400 && code < 500) {
    o.reason = FailureReason::kClientError;
  } else if (code >= 500 && code < 600) {
    o.reason = FailureReason::kServerError;
  } else {
    o.reason = FailureReason::kProtocol;
    if (o.detail.empty()) o.detail = fmt::format("unexpected HTTP status {}", code);
  }
  return o;
}

void Transport::Impl::FinishTransfers() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    auto it = transfers.find(msg->easy_handle);
    OVERDUE_CHECK(it != transfers.end());  // every handle in the multi is in `transfers`
    std::unique_ptr<CurlAttempt> a = std::move(it->second);
    transfers.erase(it);
    const CURLcode result = msg->data.result;  // `msg` dies with the removal below
    curl_multi_remove_handle(multi, a->easy);
    Outcome o = CurlOutcome(*a, result);
    Complete(a->done, std::move(o));
  }
}

void Transport::Impl::BeginCommand(CommandDelivery& d, Done done, SteadyClock::time_point start) {
  auto c = std::make_unique<CommandAttempt>();
  c->done = std::move(done);
  c->start = start;
  c->timeout =
      d.timeout > base::Duration{0} ? std::min(d.timeout, options.timeout) : options.timeout;
  c->deadline = start + c->timeout;
  c->max_output = options.max_response_bytes;
  c->input = std::move(d.stdin_data);
  const auto fail = [&](const char* what, int err) {
    Outcome o;
    o.reason = FailureReason::kCommandFailed;
    o.detail = fmt::format("cannot run the command: {}: {}", what, std::strerror(err));
    o.duration = Since(start);
    Complete(c->done, std::move(o));
  };

  int in[2];
  int out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return fail("pipe", errno);
  if (pipe2(out, O_CLOEXEC) != 0) {
    const int err = errno;
    close(in[0]);
    close(in[1]);
    return fail("pipe", err);
  }

  // The child: stdin from our pipe, stdout and stderr into one pipe, nothing else open, its own
  // process group (so the timeout kills what it started too), default SIGPIPE and no blocked
  // signals whatever this process set up for itself.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<std::string> env = ChildEnvironment(d.env);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  char arg0[] = "sh";
  char arg1[] = "-c";
  char* argv[] = {arg0, arg1, d.command.data(), nullptr};

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    return fail("posix_spawn /bin/sh", rc);
  }
  c->pid = pid;
  c->stdin_fd = in[1];
  c->output_fd = out[0];
  fcntl(c->stdin_fd, F_SETFL, O_NONBLOCK);
  fcntl(c->output_fd, F_SETFL, O_NONBLOCK);
  c->pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));  // -1: exits are polled
  WriteInput(*c);
  commands.push_back(std::move(c));
}

void Transport::Impl::SuperviseCommands() {
  const auto now = SteadyClock::now();
  for (auto it = commands.begin(); it != commands.end();) {
    CommandAttempt& c = **it;
    WriteInput(c);
    ReadOutput(c);
    if (!c.killed && now >= c.deadline) {
      // The group first: the shell's children would otherwise keep running, and keep the
      // output pipe open.
      kill(-c.pid, SIGKILL);
      kill(c.pid, SIGKILL);  // in case it moved itself to another group
      c.killed = true;
    }
    int status = 0;
    const pid_t reaped = waitpid(c.pid, &status, WNOHANG);
    // ECHILD: reaped by someone else (SIGCHLD set to SIG_IGN, a waitpid(-1) elsewhere); it has
    // ended, its status is lost.
    const bool status_lost = reaped < 0 && errno == ECHILD;
    if (reaped != c.pid && !status_lost) {
      ++it;
      continue;
    }
    // Exited and reaped. What it wrote is in the pipe already; descendants that still hold
    // the pipe open are not waited for.
    ReadOutput(c);
    c.CloseAll();
    const std::string output = Printable(c.output, options.max_response_bytes);
    Outcome o;
    o.duration = Since(c.start);
    if (c.killed) {
      o.reason = FailureReason::kTimeout;
      o.detail =
          fmt::format("killed after {} ms",
                      std::chrono::duration_cast<std::chrono::milliseconds>(c.timeout).count());
      if (!output.empty()) o.detail += ": " + output;
    } else if (status_lost) {
      o.reason = FailureReason::kCommandFailed;
      o.detail = "exit status lost: the process was reaped elsewhere";
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      o.ok = true;
      o.detail = output;
    } else if (WIFEXITED(status)) {
      o.reason = FailureReason::kCommandFailed;
      o.code = WEXITSTATUS(status);
      o.detail = output;
    } else {
      o.reason = FailureReason::kCommandFailed;
      o.detail = "killed by " + SignalName(WTERMSIG(status));
      if (!output.empty()) o.detail += ": " + output;
    }
    std::unique_ptr<CommandAttempt> owned = std::move(*it);
    it = commands.erase(it);
    Complete(owned->done, std::move(o));
  }
}

void Transport::Impl::AbandonAll() {
  for (auto& [easy, a] : transfers) {
    curl_multi_remove_handle(multi, easy);
    Complete(a->done, StoppedOutcome(Since(a->start)));
  }
  transfers.clear();
  for (auto& c : commands) {
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
    // SIGKILL cannot be caught: the wait is short (no zombie is left behind).
    while (waitpid(c->pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    c->CloseAll();
    Complete(c->done, StoppedOutcome(Since(c->start)));
  }
  commands.clear();
  std::deque<Queued> abandoned;
  {
    base::MutexLock lock(&mu);
    abandoned.swap(queue);  // Send refuses new work once `stopping` is set
  }
  for (Queued& q : abandoned) {
    if (q.done) q.done(StoppedOutcome());
  }
}

Transport::Transport(TransportOptions options) : impl_(std::make_unique<Impl>(options)) {}

Transport::~Transport() { Stop(); }

void Transport::Start() {
  if (Impl::current_loop == impl_.get()) return;  // from a `done`: running already
  base::MutexLock thread_lock(&impl_->thread_mu);
  {
    base::MutexLock lock(&impl_->mu);
    if (impl_->started || impl_->stopping) return;
    impl_->started = true;
  }
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

void Transport::Stop() {
  bool started = false;
  {
    base::MutexLock lock(&impl_->mu);
    impl_->stopping = true;
    started = impl_->started;
  }
  if (!started) {
    // No loop to hand the queue to: abandon it here, on the caller's thread.
    std::deque<Impl::Queued> abandoned;
    {
      base::MutexLock lock(&impl_->mu);
      abandoned.swap(impl_->queue);
    }
    for (Impl::Queued& q : abandoned) {
      if (q.done) q.done(StoppedOutcome());
    }
    return;
  }
  curl_multi_wakeup(impl_->multi);
  // From a `done` callback (the loop thread) the loop exits once the callback returns; the
  // join is left to a later Stop or the destructor.
  if (Impl::current_loop == impl_.get()) return;
  base::MutexLock lock(&impl_->thread_mu);
  if (impl_->thread.joinable()) impl_->thread.join();
}

void Transport::Send(Delivery delivery, std::function<void(Outcome)> done) {
  {
    base::MutexLock lock(&impl_->mu);
    if (!impl_->stopping) {
      impl_->queue.push_back(Impl::Queued{std::move(delivery), std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    done(StoppedOutcome());  // stopped: at once, on the caller's thread
    return;
  }
  curl_multi_wakeup(impl_->multi);
}

size_t Transport::in_flight() const {
  base::MutexLock lock(&impl_->mu);
  return impl_->queue.size() + impl_->running;
}

}  // namespace overdue::notify
