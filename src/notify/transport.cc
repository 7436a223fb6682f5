// Design note. One thread (the loop) owns everything in progress: a libcurl multi handle driven
// by its socket interface (curl_multi_socket_action) over an epoll set, a pool of easy handles
// (one per HTTP or SMTP attempt in flight), and one child process per command attempt. Each
// turn of the loop it
//   1. moves queued attempts into flight while fewer than max_parallel are running,
//   2. runs curl's due timers (a newly added transfer is due at once), completes finished
//      transfers (every one curl reports, in one batch),
//   3. supervises commands: writes stdin, reads output, reaps exited children, kills
//      (SIGKILL, whole process group) those past their deadline,
//   4. sleeps in epoll_wait on the sockets curl asked for, every command's stdin pipe, output
//      pipe and pidfd, and an eventfd that Send and Stop write to, until one is ready, the
//      nearest command deadline or curl's own timer; a ready curl socket is handed to
//      curl_multi_socket_action, which runs only the transfer(s) on that socket.
// Nothing else runs per attempt, except the short-lived thread libcurl's threaded resolver
// starts for each name lookup. Send() only appends to a mutex-guarded queue and writes to the
// eventfd when the loop has not been woken already, so callers never wait on the network.
// Stop() sets a flag and wakes the loop, which abandons everything in flight and everything
// queued (each `done` once, with "transport stopped"), then exits.
//
// Why this shape: the cost of one attempt must not grow with the number in flight. With
// curl_multi_perform and curl_multi_poll every turn visited every transfer (and curl polled each
// one's socket once more on its own), so during a storm of 256 parallel webhooks each response
// paid for 256 sockets. Now a ready socket costs its own transfer only; curl's sockets stay
// registered while their connection idles in the cache (CurlSockets), so a request on a kept
// connection costs no epoll_ctl; and Send writes the eventfd only when the loop is not already
// due to look at the queue.
//
// Easy handles come from a pool (CurlSlot) rather than being created per attempt, and every
// pointer curl holds (callback data, error buffer, header list) points into the slot. A handle
// is reset to curl's defaults before each attempt, unless its previous attempt was a POST of
// the same kind (with or without credentials), the common case in a storm: then only what
// differs per delivery is set again (URL, headers, body, credentials), so nothing of another
// kind of attempt (a method, credentials, SMTP settings) carries over. Connections stay in the
// multi handle's cache (as many idle ones as max_parallel) for the next attempt to the same
// receiver. A reused connection was checked against private addresses when it was opened.
//
// Command pipes and pidfds are level-triggered in the epoll set and, after every wake-up, every
// command's fds are tried non-blocking; a pipe that reports EOF or an error is closed (and
// removed from the set) at once so that it cannot keep waking the loop.
#include "notify/transport.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "base/check.h"
#include "base/mutex.h"
#include "base/thread_name.h"

extern char** environ;

namespace overdue::notify {
namespace {

using Done = std::function<void(Outcome)>;
using SteadyClock = std::chrono::steady_clock;

// Upper bound on one epoll_wait sleep. Every event that needs the loop wakes it anyway
// (sockets, pipes, pidfds, the wake-up eventfd, deadlines); this only bounds the damage of a
// wake-up we did not foresee (e.g. a kernel without pidfd_open, where exits are polled).
constexpr int kMaxPollMs = 1000;
// Without pidfd_open (Linux < 5.3) an exited child wakes nothing: look this often.
constexpr int kNoPidfdPollMs = 20;
// Bytes read from a command's output per read(2); the excess beyond max_response_bytes is
// read and dropped so that a chatty command never blocks on a full pipe.
constexpr size_t kReadChunk = 16 * 1024;
constexpr char kStoppedDetail[] = "transport stopped";
// Ready fds taken from the kernel per epoll_wait; more simply wait for the next call.
constexpr int kMaxEvents = 256;
// Idle connections kept for reuse at least, when max_parallel is smaller: a few receivers
// served in turn keep theirs.
constexpr size_t kMinCachedConnections = 4;

// What an epoll event is about: the upper 32 bits of its data, the fd in the lower 32.
enum EventTag : uint32_t { kWakeTag = 1, kCommandTag = 2, kCurlTag = 3 };

uint64_t EventData(uint32_t tag, int fd) {
  return (uint64_t{tag} << 32) | static_cast<uint32_t>(fd);
}

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

constexpr int64_t kMaxRetryAfterSeconds = 86400;

// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
std::optional<base::Duration> ParseRetryAfter(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec == std::errc() && end == v.data() + v.size()) {
    if (seconds < 0) return std::nullopt;
    // A receiver may send any number; a day is already longer than any retry schedule.
    return std::chrono::seconds(std::min<int64_t>(seconds, kMaxRetryAfterSeconds));
  }
  const std::string date(v);
  const time_t at = curl_getdate(date.c_str(), nullptr);
  if (at == -1) return std::nullopt;
  return std::chrono::seconds(
      std::clamp<int64_t>(at - std::time(nullptr), 0, kMaxRetryAfterSeconds));
}

bool HasLineBreak(std::string_view s) {
  return s.find('\n') != std::string_view::npos || s.find('\r') != std::string_view::npos;
}

// The epoll registrations of curl's sockets (loop thread only). Curl says what it waits for
// through the socket callback (Want). A connection's socket then waits idle in the multi's
// cache, and the next attempt on it almost always waits for the same thing again (the
// response), so the sockets opened through OnOpenSocket stay registered while idle: no
// epoll_ctl per attempt. One that becomes ready while idle (the receiver closed it) is taken
// out of the set then (Ready), and every one is taken out when curl closes it (OnCloseSocket),
// so no registration outlives its socket. Other sockets (the threaded resolver's) are added
// and removed exactly as curl asks.
class CurlSockets {
 public:
  explicit CurlSockets(int epoll_fd) : epoll_fd_(epoll_fd) {}

  void Opened(int fd) { At(fd) = Entry{true, 0, 0}; }
  void Closed(int fd) {
    Entry& e = At(fd);
    Register(fd, e, 0);
    e = Entry{};
  }
  // `what`: CURL_POLL_IN, _OUT, _INOUT or _REMOVE.
  void Want(int fd, int what) {
    Entry& e = At(fd);
    e.wanted = what == CURL_POLL_REMOVE ? 0 : what & CURL_POLL_INOUT;
    uint32_t events = 0;
    if (e.wanted & CURL_POLL_IN) events |= EPOLLIN;
    if (e.wanted & CURL_POLL_OUT) events |= EPOLLOUT;
    if (events == 0 && e.ours) return;  // idle in curl's cache: stays registered
    Register(fd, e, events);
  }
  // The CURL_CSELECT_* bits to hand curl for `ready` (epoll events) on `fd`, or -1 when curl
  // waits for nothing there (the socket is idle; it is now out of the set).
  int Ready(int fd, uint32_t ready) {
    Entry& e = At(fd);
    if (e.wanted == 0) {
      Register(fd, e, 0);
      return -1;
    }
    // As curl's own poll would report it: an error or a hang-up makes the socket readable and
    // writable, and curl finds out which by reading (or finishing the connect).
    int action = 0;
    if ((e.wanted & CURL_POLL_IN) && (ready & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
      action |= CURL_CSELECT_IN;
    }
    if ((e.wanted & CURL_POLL_OUT) && (ready & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
      action |= CURL_CSELECT_OUT;
    }
    return action;
  }

 private:
  struct Entry {
    bool ours;        // opened by OnOpenSocket; OnCloseSocket sees it closed
    uint32_t events;  // registered in the set for these; 0: not in the set
    int wanted;       // what curl waits for (CURL_POLL_IN/OUT bits); 0: nothing
  };

  Entry& At(int fd) {
    const auto i = static_cast<size_t>(fd);
    if (i >= table_.size()) table_.resize(i + 1, Entry{false, 0, 0});
    return table_[i];
  }
  void Register(int fd, Entry& e, uint32_t events) {
    if (events == e.events) return;
    if (events == 0) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    } else {
      epoll_event ev{};
      ev.events = events;
      ev.data.u64 = EventData(kCurlTag, fd);
      // The table cannot be wrong about a socket it saw opened and closed; for any other the
      // second form covers it.
      const int op = e.events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
      if (epoll_ctl(epoll_fd_, op, fd, &ev) != 0) {
        epoll_ctl(epoll_fd_, op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
      }
    }
    e.events = events;
  }

  int epoll_fd_;
  std::vector<Entry> table_;  // by fd
};

// What an easy handle's options are set up for. An attempt of shape kPost or kPostWithAuth on a
// handle of the same shape keeps its options and sets only what differs per delivery; any
// other attempt (or a handle of another shape) resets the handle and sets every option.
enum class Shape { kOther, kPost, kPostWithAuth };

// An easy handle and everything its callbacks and options point into, reused attempt after
// attempt (only by the loop thread). Between attempts it is idle in the pool, holding no
// Delivery data and no `done`.
struct CurlSlot {
  CURL* easy = nullptr;
  CurlSockets* sockets = nullptr;  // the loop's, told of every socket opened
  bool busy = false;               // an attempt is in flight on it
  bool fresh = true;               // never used: no reset needed
  Shape shape = Shape::kOther;     // what the handle's options are set up for
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
  // The header lines (HTTP) or recipients (SMTP) as a curl_slist whose nodes and strings live
  // here, kept from one attempt to the next: building it allocates nothing once warm.
  std::string list_text;  // NUL-terminated entries, one after the other
  std::vector<size_t> list_offsets;
  std::vector<curl_slist> list_nodes;

  CurlSlot() = default;
  CurlSlot(const CurlSlot&) = delete;
  CurlSlot& operator=(const CurlSlot&) = delete;
  ~CurlSlot() {
    if (easy) curl_easy_cleanup(easy);
  }

  void ListClear() {
    list_text.clear();
    list_offsets.clear();
  }
  // Appends the entry a + b + c. Curl reads each entry up to its first NUL.
  void ListAdd(std::string_view a, std::string_view b = {}, std::string_view c = {}) {
    list_offsets.push_back(list_text.size());
    list_text += a;
    list_text += b;
    list_text += c;
    list_text += '\0';
  }
  // The list for CURLOPT_HTTPHEADER or CURLOPT_MAIL_RCPT, nullptr when empty. Valid until the
  // next ListClear.
  curl_slist* ListFinish() {
    const size_t n = list_offsets.size();
    list_nodes.resize(n);
    for (size_t i = 0; i < n; ++i) {
      list_nodes[i].data = list_text.data() + list_offsets[i];
      list_nodes[i].next = i + 1 < n ? &list_nodes[i + 1] : nullptr;
    }
    return n ? list_nodes.data() : nullptr;
  }
};

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
  auto* a = static_cast<CurlSlot*>(user);
  const size_t len = size * count;
  const size_t room = a->max_response - std::min(a->max_response, a->response.size());
  a->response.append(data, std::min(len, room));
  return len;  // the rest is read and dropped, not an error
}

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* a = static_cast<CurlSlot*>(user);
  const size_t n = std::min(size * count, a->body.size() - a->read_offset);
  std::memcpy(buffer, a->body.data() + a->read_offset, n);
  a->read_offset += n;
  return n;
}

curl_socket_t OnOpenSocket(void* user, curlsocktype /*purpose*/, curl_sockaddr* address) {
  auto* a = static_cast<CurlSlot*>(user);
  if (!a->allow_private) {
    std::string blocked = BlockedAddress(&address->addr);
    if (!blocked.empty()) {
      a->blocked = std::move(blocked);
      return CURL_SOCKET_BAD;  // curl reports CURLE_COULDNT_CONNECT; `blocked` says why
    }
  }
  const int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd >= 0) a->sockets->Opened(fd);
  return fd;
}

int OnCloseSocket(void* user, curl_socket_t fd) {
  static_cast<CurlSockets*>(user)->Closed(fd);
  return close(fd);
}

// A command attempt: the child (its own process group) and our ends of its pipes.
struct CommandAttempt {
  int epoll_fd = -1;  // the loop's set, which holds every fd below that is open
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

  // Out of the epoll set first: a child forked elsewhere in the process may still hold a copy
  // of the pipe, which would keep a closed number in the set.
  void Close(int& fd) {
    if (fd < 0) return;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    fd = -1;
  }
  void CloseAll() {
    for (int* fd : {&pidfd, &stdin_fd, &output_fd}) Close(*fd);
  }
};

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
      c.Close(c.stdin_fd);
    }
  }
  if (c.input_offset >= c.input.size()) c.Close(c.stdin_fd);  // EOF for the command
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
      c.Close(c.output_fd);  // EOF, or an error that leaves nothing more to read
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
    if (options.max_parallel == 0) options.max_parallel = 1;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    OVERDUE_CHECK(epoll_fd >= 0);
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    OVERDUE_CHECK(wake_fd >= 0);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = EventData(kWakeTag, wake_fd);
    OVERDUE_CHECK(epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev) == 0);
    sockets = std::make_unique<CurlSockets>(epoll_fd);
    multi = curl_multi_init();
    OVERDUE_CHECK(multi != nullptr);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, OnCurlSocket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    // By default curl's cache holds four connections per easy handle in the multi at the time,
    // so a lull with few attempts in flight closes most connections and the next burst opens
    // them again: keep as many as may be in flight, so a storm to one receiver opens its
    // connections once.
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
                      static_cast<long>(std::max(options.max_parallel, kMinCachedConnections)));
  }
  ~Impl() {
    slots.clear();              // none is in the multi any more: the loop removed them all
    curl_multi_cleanup(multi);  // closes the cached connections (through OnCloseSocket)
    close(wake_fd);
    close(epoll_fd);
  }

  struct Queued {
    Delivery delivery;
    Done done;
  };

  TransportOptions options;
  int epoll_fd = -1;  // the loop's sleep: curl's sockets, command fds, wake_fd
  int wake_fd = -1;   // eventfd: Send and Stop write to it to wake the loop
  // Set by whoever writes wake_fd, cleared by the loop when it sees the write: while set, the
  // loop is bound to look at the queue again, so Send need not write.
  std::atomic<bool> wake_pending{false};
  // Created once and used by the loop only (Send and Stop use wake_fd).
  CURLM* multi = nullptr;
  std::unique_ptr<CurlSockets> sockets;  // what of epoll_fd is curl's; loop only
  base::Mutex thread_mu;                 // Start's creation vs Stop's join, and concurrent Stops
  std::thread thread GUARDED_BY(thread_mu);

  mutable base::Mutex mu;
  std::deque<Queued> queue GUARDED_BY(mu);
  size_t running GUARDED_BY(mu) = 0;  // attempts taken from the queue and not yet done
  bool started GUARDED_BY(mu) = false;
  bool stopping GUARDED_BY(mu) = false;

  // Loop thread only.
  std::vector<std::unique_ptr<CurlSlot>> slots;  // every easy handle; at most max_parallel
  std::vector<CurlSlot*> idle;                   // the slots not in flight, last used last
  std::list<std::unique_ptr<CommandAttempt>> commands;
  std::vector<Queued> starting;      // the attempts one turn moves into flight
  bool completed_this_turn = false;  // a slot was freed: look at the queue before sleeping

  static thread_local const Impl* current_loop;  // the Impl whose loop runs on this thread

  void Wake();
  void Loop();
  void Begin(Queued q);
  void BeginCurl(Delivery& delivery, Done done, SteadyClock::time_point start);
  void BeginCommand(CommandDelivery& d, Done done, SteadyClock::time_point start);
  CurlSlot* Acquire();
  void Release(CurlSlot* slot);
  void FinishTransfers();
  void SuperviseCommands();
  int PollTimeoutMs() const;
  void AbandonAll();
  void Complete(Done& done, Outcome outcome);
  Outcome CurlOutcome(CurlSlot& a, CURLcode result);
  static int OnCurlSocket(CURL* easy, curl_socket_t s, int what, void* user, void* socketp);
};

thread_local const Transport::Impl* Transport::Impl::current_loop = nullptr;

void Transport::Impl::Wake() {
  if (wake_pending.exchange(true)) return;  // the loop has yet to see an earlier write
  const uint64_t one = 1;
  while (write(wake_fd, &one, sizeof one) < 0) {
    if (errno == EAGAIN) {  // the counter is full (after 2^64 - 2 writes): empty it
      uint64_t count = 0;
      (void)!read(wake_fd, &count, sizeof count);
    } else if (errno != EINTR) {
      break;
    }
  }
}

int Transport::Impl::OnCurlSocket(CURL* /*easy*/, curl_socket_t s, int what, void* user,
                                  void* /*socketp*/) {
  static_cast<Impl*>(user)->sockets->Want(s, what);
  return 0;
}

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

  epoll_event events[kMaxEvents];
  int still_running = 0;
  while (true) {
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
    starting.clear();
    // Curl's timers: transfers just added are due at once, timeouts when they expire.
    long curl_ms = -1;
    curl_multi_timeout(multi, &curl_ms);
    if (curl_ms == 0) {
      curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &still_running);
      curl_multi_timeout(multi, &curl_ms);
    }
    FinishTransfers();
    if (!commands.empty()) SuperviseCommands();
    if (completed_this_turn) continue;  // freed slots may let queued attempts start now

    int timeout = PollTimeoutMs();
    if (curl_ms >= 0) timeout = static_cast<int>(std::min<long>(timeout, curl_ms));
    const int n = epoll_wait(epoll_fd, events, kMaxEvents, timeout);
    for (int i = 0; i < n; ++i) {
      const uint32_t tag = static_cast<uint32_t>(events[i].data.u64 >> 32);
      const int fd = static_cast<int>(static_cast<uint32_t>(events[i].data.u64));
      const uint32_t ready = events[i].events;
      switch (tag) {
        case kWakeTag:
          // Edge-triggered: every write is one event, so the counter is never read. A Send
          // after this writes again; one before it finds its delivery taken next turn.
          wake_pending.store(false);
          break;
        case kCurlTag: {
          const int action = sockets->Ready(fd, ready);
          if (action >= 0) curl_multi_socket_action(multi, fd, action, &still_running);
          break;
        }
        default:  // a command's fd: every command is supervised next turn
          break;
      }
    }
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

// An idle slot, its last attempt's results cleared (its options are BeginCurl's business), or
// nullptr if curl cannot make another handle.
CurlSlot* Transport::Impl::Acquire() {
  if (idle.empty()) {
    auto slot = std::make_unique<CurlSlot>();
    slot->sockets = sockets.get();
    slot->easy = curl_easy_init();
    if (!slot->easy) return nullptr;
    idle.push_back(slot.get());
    slots.push_back(std::move(slot));
  }
  CurlSlot* a = idle.back();
  idle.pop_back();
  a->busy = true;
  a->is_mail = false;
  a->read_offset = 0;
  a->response.clear();
  a->blocked.clear();
  a->error[0] = '\0';
  a->ListClear();
  return a;
}

// REQUIRES: the slot's handle is not in the multi.
void Transport::Impl::Release(CurlSlot* a) {
  a->busy = false;
  a->done = nullptr;
  a->body = std::string();  // a large mail is not kept alive by an idle slot
  idle.push_back(a);
}

void Transport::Impl::BeginCurl(Delivery& delivery, Done done, SteadyClock::time_point start) {
  CurlSlot* a = Acquire();
  const auto fail = [&](FailureReason reason, std::string detail) {
    if (a) Release(a);
    Outcome o;
    o.reason = reason;
    o.detail = std::move(detail);
    o.duration = Since(start);
    Complete(done, std::move(o));
  };
  if (!a) return fail(FailureReason::kProtocol, "curl_easy_init failed");
  a->allow_private = options.allow_private;
  a->max_response = options.max_response_bytes;
  a->start = start;
  CURL* e = a->easy;

  auto* http = std::get_if<HttpDelivery>(&delivery);
  Shape shape = Shape::kOther;
  if (http && http->method == "POST") {
    shape = http->username.empty() ? Shape::kPost : Shape::kPostWithAuth;
  }
  // The options every attempt of this shape sets alike are still in place from the last
  // attempt on this handle when it had the same shape; anything else starts from curl's
  // defaults, so that nothing of an earlier attempt (a method, credentials, SMTP settings)
  // carries over.
  const bool configured = shape != Shape::kOther && a->shape == shape;
  a->shape = Shape::kOther;  // until this attempt's options are all in place
  if (!configured) {
    if (!a->fresh) curl_easy_reset(e);
    a->fresh = false;
    curl_easy_setopt(e, CURLOPT_PRIVATE, a);
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
    if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, a);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, OnCloseSocket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, sockets.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnWrite);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    if (http) {
      curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
      curl_easy_setopt(e, CURLOPT_USERAGENT, "overdue");
    }
  }

  if (http) {
    curl_easy_setopt(e, CURLOPT_URL, http->url.c_str());
    // No "Expect: 100-continue" round trip (up to a second of waiting) for larger bodies.
    a->ListAdd("Expect:");
    for (const auto& [name, value] : http->headers) {
      const bool bad_name = name.empty() || std::any_of(name.begin(), name.end(), [](char c) {
                              return c == ':' || c == ' ' || c == '\r' || c == '\n';
                            });
      if (bad_name || HasLineBreak(value)) {
        return fail(FailureReason::kClientError, fmt::format("invalid header name \"{}\"", name));
      }
      // "Name;" is curl's spelling of a header with an empty value ("Name:" deletes it).
      if (value.empty()) {
        a->ListAdd(name, ";");
      } else {
        a->ListAdd(name, ": ", value);
      }
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->ListFinish());
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
    // The URL, username, password and method strings are copied by curl; `http` may go.
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
      a->ListAdd(to);
    }
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, a->ListFinish());
    a->body = std::move(mail.message);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(e, CURLOPT_READDATA, a);
  }

  if (curl_multi_add_handle(multi, e) != CURLM_OK) {
    return fail(FailureReason::kProtocol, "curl_multi_add_handle failed");
  }
  a->shape = shape;
  a->done = std::move(done);
}

Outcome Transport::Impl::CurlOutcome(CurlSlot& a, CURLcode result) {
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
    CURL* easy = msg->easy_handle;
    const CURLcode result = msg->data.result;  // `msg` dies with the removal below
    char* slot = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &slot);
    auto* a = reinterpret_cast<CurlSlot*>(slot);
    OVERDUE_CHECK(a != nullptr && a->busy);  // every handle in the multi is a busy slot
    curl_multi_remove_handle(multi, easy);
    Outcome o = CurlOutcome(*a, result);
    Done done = std::move(a->done);
    Release(a);
    Complete(done, std::move(o));
  }
}

void Transport::Impl::BeginCommand(CommandDelivery& d, Done done, SteadyClock::time_point start) {
  auto c = std::make_unique<CommandAttempt>();
  c->epoll_fd = epoll_fd;
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
  const auto watch = [&](int fd, uint32_t events) {
    if (fd < 0) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = EventData(kCommandTag, fd);
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  };
  watch(c->stdin_fd, EPOLLOUT);  // closed already when the input fitted into the pipe
  watch(c->output_fd, EPOLLIN);
  watch(c->pidfd, EPOLLIN);
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
  for (const auto& a : slots) {
    if (!a->busy) continue;
    curl_multi_remove_handle(multi, a->easy);
    Done done = std::move(a->done);
    const base::Duration elapsed = Since(a->start);
    Release(a.get());
    Complete(done, StoppedOutcome(elapsed));
  }
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
  impl_->thread = std::thread([impl = impl_.get()] {
    base::NameThisThread("od-transport");
    impl->Loop();
  });
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
  impl_->Wake();
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
  impl_->Wake();
}

size_t Transport::in_flight() const {
  base::MutexLock lock(&impl_->mu);
  return impl_->queue.size() + impl_->running;
}

}  // namespace overdue::notify
