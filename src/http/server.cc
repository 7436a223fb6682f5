// Design note. Each I/O thread runs its own io_context (shard-per-thread, as Dragonfly does):
// a connection is accepted onto one of them round-robin and lives there, so a connection's
// state is touched by one thread only and needs neither strand nor lock. A connection is one
// coroutine that reads a request, hands it to the handler, waits for the Reply, writes the
// response and loops; a second request is read only after the first is answered, and bytes
// the client pipelined meanwhile wait in the connection's buffer.
//
// Timeouts use one lazy timer per connection (the "watchdog"): moving the deadline later only
// stores a time; when the timer fires early it re-arms itself for the stored deadline. Only a
// deadline earlier than the armed one costs a timer operation, so a busy keep-alive connection
// touches its timer about once per timeout period, not once per request.
//
// Lifetimes. Reply holds shared_ptrs to the connection and to the Worker that owns the
// io_context, so a late reply posts into a live (if stopped) io_context; the connection never
// owns the Core or the Worker, so a posted-but-never-run reply cannot form a cycle. Connection
// bookkeeping (counters, the worker's set) happens when its coroutine ends, never in its
// destructor, which may run inside the io_context's destructor.
#include "http/server.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <future>
#include <limits>
#include <optional>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/mutex.h"
#include "base/thread_name.h"

namespace overdue::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

// Bytes asked of the socket per read: a whole typical request (or a burst of pipelined ones)
// in one system call, while an idle connection's buffer stays small.
constexpr size_t kReadChunk = 4096;
// Header fields per request; more is a header flood (each field costs two strings even when
// the section is under max_header_bytes) and gets 431.
constexpr size_t kMaxHeaderFields = 100;
// Body bytes reserved up front from Content-Length. Reserving the whole declared length would
// let idle clients pin max_body_bytes each by announcing bodies they never send.
constexpr size_t kMaxBodyReserve = 64 * 1024;
// After an error response we shut down our sending side and discard what the client still
// sends for up to this long (or this many bytes), so the kernel does not answer unread bytes
// with an RST that destroys the response before the client reads it (nginx's lingering close).
constexpr std::chrono::milliseconds kLingerTimeout{2000};
constexpr size_t kLingerMaxBytes = 1024 * 1024;
// Pause after accept() fails (usually out of file descriptors) instead of spinning on it.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

// Single-writer counter: only the owning worker's thread bumps it; others only read it.
void Bump(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool IContains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (IEquals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

void AppendNumber(std::string& out, uint64_t n) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), n);
  (void)ec;
  out.append(digits, end);
}

// RFC 9110's IMF-fixdate, formatted once per second per thread.
std::string_view HttpDate() {
  thread_local time_t cached_second = -1;
  thread_local char text[64];
  thread_local size_t length = 0;
  const time_t now = ::time(nullptr);
  if (now != cached_second) {
    struct tm tm;
    ::gmtime_r(&now, &tm);
    length = ::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {text, length};
}

std::string_view ReasonPhrase(int status) {
  const bhttp::status s = bhttp::int_to_status(static_cast<unsigned>(status));
  if (s == bhttp::status::unknown) return "";
  const auto r = bhttp::obsolete_reason(s);
  return {r.data(), r.size()};
}

// What a 400 says about a parse error, in words a client developer can act on.
std::string_view DescribeParseError(const beast::error_code& ec) {
  if (ec == bhttp::error::bad_method) return "invalid method";
  if (ec == bhttp::error::bad_target) return "invalid request-target";
  if (ec == bhttp::error::bad_version) return "invalid HTTP version";
  if (ec == bhttp::error::bad_line_ending) return "invalid line ending";
  if (ec == bhttp::error::bad_field) return "invalid header name";
  if (ec == bhttp::error::bad_value) return "invalid header value";
  if (ec == bhttp::error::bad_content_length) return "invalid Content-Length";
  if (ec == bhttp::error::bad_transfer_encoding) return "invalid Transfer-Encoding";
  if (ec == bhttp::error::bad_chunk) return "invalid chunk";
  if (ec == bhttp::error::bad_chunk_extension) return "invalid chunk extension";
  if (ec == bhttp::error::bad_obs_fold) return "obsolete header line folding";
  return "malformed request";
}

// Feeds Beast's HTTP/1 parser straight into our Request: no intermediate beast::http::message
// and its per-field allocations.
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  explicit RequestParser(Request* request) : request_(request) {}
  bool expects_continue() const { return expects_continue_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target,
                       int version, beast::error_code&) override {
    request_->method.assign(method.data(), method.size());
    request_->target.assign(target.data(), target.size());
    request_->version = version;
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(bhttp::field field, beast::string_view name, beast::string_view value,
                     beast::error_code& ec) override {
    if (request_->headers.size() >= kMaxHeaderFields) {
      ec = bhttp::error::header_limit;
      return;
    }
    auto& [lower_name, field_value] = request_->headers.emplace_back();
    lower_name.resize(name.size());
    std::transform(name.begin(), name.end(), lower_name.begin(), AsciiLower);
    field_value.assign(value.data(), value.size());
    if (field == bhttp::field::expect && IEquals(field_value, "100-continue")) {
      expects_continue_ = true;
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length) request_->body.reserve(std::min<uint64_t>(*length, kMaxBodyReserve));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    request_->body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    request_->body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  Request* request_;
  bool expects_continue_ = false;
};

// path and query from the request-target; absolute-form ("http://host/p?q", sent to proxies
// and allowed to servers) loses its scheme and authority.
void SplitTarget(Request& request) {
  std::string_view t = request.target;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (t.size() >= scheme.size() && IEquals(t.substr(0, scheme.size()), scheme)) {
      t.remove_prefix(scheme.size());
      const size_t start = t.find_first_of("/?");
      t = start == std::string_view::npos ? std::string_view() : t.substr(start);
      break;
    }
  }
  const size_t q = t.find('?');
  request.path.assign(t.substr(0, q));
  if (request.path.empty() && !request.target.empty() && request.target != "*") {
    request.path = "/";
  }
  if (q == std::string_view::npos) {
    request.query.clear();
  } else {
    request.query.assign(t.substr(q + 1));
  }
}

Response PlainResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = kPlainText;
  r.body = std::move(body);
  return r;
}

}  // namespace

namespace detail {

// One per I/O thread. Shared with Replies so a late reply can still post into it.
struct Worker : std::enable_shared_from_this<Worker> {
  net::io_context ioc{1};
  // Live connections of this worker, for Stop(). Touched only on this worker's thread.
  std::unordered_set<Connection*> connections;
  // Written only by this worker's thread; read by GetStats().
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> requests_total{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> timeouts{0};
  std::thread thread;
};

struct Core {
  Core(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {}

  const ServerOptions options;
  const Handler handler;
  std::vector<std::shared_ptr<Worker>> workers;
  // Declared after workers: destroyed before the io_contexts they use.
  std::optional<tcp::acceptor> acceptor;  // on workers[0]
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_guards;
  size_t next_worker = 0;  // acceptor's thread only
  std::atomic<uint64_t> connections_open{0};
  std::atomic<bool> stopping{false};
  // Stop() waits here for connections_open to reach 0; signalled only while stopping.
  base::Mutex mu;
  base::CondVar drained;
};

// The connection a handler is being called for on this thread, so a Reply called inside the
// handler completes in place instead of posting (the common, synchronous case).
thread_local Connection* t_in_handler = nullptr;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Core& core, Worker& worker, tcp::socket socket)
      : core_(core),
        worker_(worker),
        socket_(std::move(socket)),
        watchdog_(worker.ioc),
        reply_signal_(worker.ioc, SteadyTime::max()) {}

  // The connection's whole life. `overflow`: over max_connections, answer 503 and close.
  net::awaitable<void> Run(bool overflow) {
    worker_.connections.insert(this);
    beast::error_code ec;
    const tcp::endpoint peer = socket_.remote_endpoint(ec);
    if (!ec) {
      net::ip::address address = peer.address();
      if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
      }
      remote_addr_ = address.to_string();
    }
    socket_.set_option(tcp::no_delay(true), ec);
    if (overflow) {
      Bump(worker_.rejected_connections);
      co_await Reject(503, "too many connections");
    } else {
      Bump(worker_.connections_total);
      co_await Serve();
    }
    Close();
    worker_.connections.erase(this);
    if (!overflow && core_.connections_open.fetch_sub(1) == 1 && core_.stopping.load()) {
      base::MutexLock lock(&core_.mu);
      core_.drained.SignalAll();
    }
  }

  // Called on this connection's thread with the handler's response. Dropped if the
  // connection stopped waiting for it (closed, aborted).
  void DeliverReply(Response&& response) {
    if (!awaiting_reply_) return;
    awaiting_reply_ = false;
    response_ = std::move(response);
    reply_ready_ = true;
    if (waiting_signal_) reply_signal_.cancel();
  }

  // Stop() began: a connection waiting for its next request (or lingering after an error
  // response) closes now; a busy one finishes its current exchange and then closes (Serve
  // checks core_.stopping).
  void OnStopping() {
    if (phase_ == Phase::kIdle || phase_ == Phase::kLinger) Abort();
  }

  // Ends the connection at once, whatever it is doing; a pending reply will be dropped.
  void Abort() {
    aborted_ = true;
    awaiting_reply_ = false;
    beast::error_code ec;
    socket_.close(ec);
    if (waiting_signal_) reply_signal_.cancel();
  }

 private:
  enum class Phase { kNone, kIdle, kRead, kWrite, kLinger };
  enum class ReadOutcome { kRequest, kClosed, kRejected };

  net::awaitable<void> Serve() {
    for (;;) {
      // Stopping: finish what the client already sent, start nothing new.
      if (core_.stopping.load(std::memory_order_relaxed) && buffer_.size() == 0) co_return;
      const ReadOutcome outcome = co_await ReadRequest();
      if (outcome == ReadOutcome::kClosed) co_return;
      if (outcome == ReadOutcome::kRejected) {
        if (reject_status_ == 408) {
          Bump(worker_.timeouts);
        } else {
          Bump(worker_.bad_requests);
        }
        co_await Reject(reject_status_, std::move(reject_message_));
        co_return;
      }
      const bool keep_alive = parser_->keep_alive();
      const bool head = request_.method == "HEAD";
      const int version = request_.version;
      Bump(worker_.requests_total);
      const int timed_class =
          core_.options.classify && core_.options.observe ? core_.options.classify(request_) : -1;
      const auto started = std::chrono::steady_clock::now();
      if (!co_await Dispatch()) co_return;
      if (response_.status < 200 || response_.status > 999) {
        spdlog::error("http: handler answered {} {} with status {}", request_.method, request_.path,
                      response_.status);
        response_ = PlainResponse(500, "internal error");
      }
      const bool close =
          !keep_alive || core_.stopping.load(std::memory_order_relaxed) || WantsClose(response_);
      if (!co_await Write(response_, head, close, version)) co_return;
      if (timed_class >= 0) {
        core_.options.observe(timed_class, std::chrono::steady_clock::now() - started);
      }
      if (close) co_return;
    }
  }

  // Reads one request into request_. kRejected leaves reject_status_/reject_message_ set.
  net::awaitable<ReadOutcome> ReadRequest() {
    ResetRequest();
    parser_.emplace(&request_);
    parser_->header_limit(static_cast<uint32_t>(
        std::min<size_t>(core_.options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    // The larger limit until the target is known; BodyLimitFor() narrows it after the header.
    parser_->body_limit(std::max(core_.options.max_body_bytes, core_.options.large_body_bytes));
    body_limit_ = core_.options.max_body_bytes;
    parser_->eager(true);
    bool begun = buffer_.size() > 0;
    if (begun) {
      SetDeadline(core_.options.read_timeout, Phase::kRead);
    } else {
      SetDeadline(core_.options.idle_timeout, Phase::kIdle);
    }
    bool header_checked = false;
    for (;;) {
      if (buffer_.size() > 0) {
        beast::error_code ec;
        const size_t n = parser_->put(buffer_.data(), ec);
        buffer_.consume(n);
        if (ec && ec != bhttp::error::need_more) co_return RejectParseError(ec);
        if (!header_checked && parser_->is_header_done()) {
          header_checked = true;
          // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
          if (request_.version >= 11 && request_.Header("host") == nullptr) {
            co_return SetReject(400, "bad request: missing Host header");
          }
          body_limit_ = BodyLimitFor(request_.target);
          parser_->body_limit(body_limit_);
          if (parser_->content_length() && *parser_->content_length() > body_limit_) {
            co_return SetReject(413, fmt::format("payload too large: limit {} bytes", body_limit_));
          }
          if (!parser_->is_done() && parser_->expects_continue() && request_.version >= 11) {
            if (!co_await WriteContinue()) co_return ReadOutcome::kClosed;
          }
        }
        if (parser_->is_done()) {
          if (request_.body.size() > body_limit_) {
            co_return SetReject(413, fmt::format("payload too large: limit {} bytes", body_limit_));
          }
          ClearDeadline();
          SplitTarget(request_);
          co_return ReadOutcome::kRequest;
        }
        if (!ec && n > 0) continue;  // progress without needing more: parse the rest
      }
      if (aborted_) co_return ReadOutcome::kClosed;
      beast::error_code ec;
      const size_t n = co_await socket_.async_read_some(
          buffer_.prepare(kReadChunk), net::redirect_error(net::use_awaitable, ec));
      if (aborted_) co_return ReadOutcome::kClosed;
      if (timed_out_) {
        if (!begun) co_return ReadOutcome::kClosed;  // idle keep-alive: close silently
        co_return SetReject(408, "request timeout");
      }
      // EOF or reset: the client left; with half a request there is no one to answer.
      if (ec) co_return ReadOutcome::kClosed;
      buffer_.commit(n);
      if (!begun) {
        begun = true;
        SetDeadline(core_.options.read_timeout, Phase::kRead);
      }
    }
  }

  size_t BodyLimitFor(std::string_view target) const {
    const std::string& large = core_.options.large_body_path;
    if (!large.empty() && target.substr(0, large.size()) == large) {
      return std::max(core_.options.max_body_bytes, core_.options.large_body_bytes);
    }
    return core_.options.max_body_bytes;
  }

  ReadOutcome SetReject(int status, std::string message) {
    ClearDeadline();
    reject_status_ = status;
    reject_message_ = std::move(message);
    return ReadOutcome::kRejected;
  }

  ReadOutcome RejectParseError(const beast::error_code& ec) {
    if (ec == bhttp::error::header_limit) {
      return SetReject(431, fmt::format("request header fields too large: limit {} bytes, {} "
                                        "fields",
                                        core_.options.max_header_bytes, kMaxHeaderFields));
    }
    if (ec == bhttp::error::body_limit) {
      // Beast may refuse a declared length while finishing the header, before our check.
      return SetReject(
          413, fmt::format("payload too large: limit {} bytes", BodyLimitFor(request_.target)));
    }
    return SetReject(400, fmt::format("bad request: {}", DescribeParseError(ec)));
  }

  // Hands request_ to the handler and waits for the reply. False if the connection was
  // aborted before a reply came.
  net::awaitable<bool> Dispatch() {
    awaiting_reply_ = true;
    reply_ready_ = false;
    t_in_handler = this;
    try {
      core_.handler(std::move(request_), Reply(worker_.shared_from_this(), shared_from_this()));
    } catch (const std::exception& e) {
      // The handler broke its contract; its Reply, destroyed by the unwinding, answered 500.
      spdlog::error("http: handler threw: {}", e.what());
    } catch (...) {
      spdlog::error("http: handler threw a non-exception");
    }
    t_in_handler = nullptr;
    if (!reply_ready_) {
      if (aborted_) co_return false;
      waiting_signal_ = true;
      beast::error_code ec;
      co_await reply_signal_.async_wait(net::redirect_error(net::use_awaitable, ec));
      waiting_signal_ = false;
    }
    co_return reply_ready_ && !aborted_;
  }

  static bool WantsClose(const Response& response) {
    for (const auto& [name, value] : response.headers) {
      if (IEquals(name, "connection") && IContains(value, "close")) return true;
    }
    return false;
  }

  void SerializeHead(const Response& r, bool close, int version) {
    head_.clear();
    head_.append("HTTP/1.1 ");
    AppendNumber(head_, static_cast<uint64_t>(r.status));
    head_.push_back(' ');
    head_.append(ReasonPhrase(r.status));
    head_.append("\r\n");
    if (!r.content_type.empty() && !HasLineBreak(r.content_type)) {
      head_.append("Content-Type: ");
      head_.append(r.content_type);
      head_.append("\r\n");
    }
    if (r.status != 204) {  // RFC 9110 §8.6: a 204 carries no Content-Length
      head_.append("Content-Length: ");
      AppendNumber(head_, r.body.size());
      head_.append("\r\n");
    }
    head_.append("Date: ");
    head_.append(HttpDate());
    head_.append("\r\n");
    if (close) {
      head_.append("Connection: close\r\n");
    } else if (version < 11) {
      head_.append("Connection: keep-alive\r\n");
    }
    for (const auto& [name, value] : r.headers) {
      if (name.empty() || HasLineBreak(name) || HasLineBreak(value) ||
          name.find_first_of(": \t") != std::string::npos) {
        spdlog::error("http: dropped an invalid response header {:?}", name);
        continue;
      }
      if (IEquals(name, "content-length") || IEquals(name, "transfer-encoding") ||
          IEquals(name, "date") || IEquals(name, "connection")) {
        continue;
      }
      head_.append(name);
      head_.append(": ");
      head_.append(value);
      head_.append("\r\n");
    }
    head_.append("\r\n");
  }

  // Writes a response; false if the connection must end (error, timeout, abort).
  net::awaitable<bool> Write(const Response& r, bool head_request, bool close, int version) {
    if (aborted_) co_return false;
    SerializeHead(r, close, version);
    const bool send_body = !head_request && r.status != 204 && r.status != 304;
    const std::array<net::const_buffer, 2> buffers = {
        net::buffer(head_), send_body ? net::buffer(r.body) : net::const_buffer()};
    SetDeadline(core_.options.write_timeout, Phase::kWrite);
    beast::error_code ec;
    co_await net::async_write(socket_, buffers, net::redirect_error(net::use_awaitable, ec));
    const bool timed_out = timed_out_;
    ClearDeadline();
    if (timed_out && !aborted_) {
      Bump(worker_.timeouts);
      spdlog::debug("http: {} did not read a {} response within {} ms; closing", remote_addr_,
                    r.status, core_.options.write_timeout.count());
      co_return false;
    }
    co_return !ec && !aborted_;
  }

  net::awaitable<bool> WriteContinue() {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    const Phase phase = phase_;
    const SteadyTime deadline = deadline_;
    SetDeadline(core_.options.write_timeout, Phase::kWrite);
    beast::error_code ec;
    co_await net::async_write(socket_, net::buffer(kContinue.data(), kContinue.size()),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec || timed_out_ || aborted_) co_return false;
    // Back to the request's own deadline: waiting for 100 Continue does not extend it.
    phase_ = phase;
    deadline_ = deadline;
    if (!watchdog_armed_ || deadline_ < watchdog_expiry_) ArmWatchdog();
    co_return true;
  }

  // Answers a request the handler must not see, then closes.
  net::awaitable<void> Reject(int status, std::string message) {
    spdlog::debug("http: {} {} {}: {}", remote_addr_.empty() ? "?" : remote_addr_, status,
                  request_.target, message);
    const Response r = PlainResponse(status, std::move(message));
    if (co_await Write(r, false, true, 11)) co_await LingeringClose();
  }

  net::awaitable<void> LingeringClose() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    SetDeadline(kLingerTimeout, Phase::kLinger);
    size_t discarded = 0;
    while (discarded < kLingerMaxBytes && !timed_out_ && !aborted_) {
      const size_t n = co_await socket_.async_read_some(
          buffer_.prepare(kReadChunk), net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
      discarded += n;
    }
    ClearDeadline();
  }

  void ResetRequest() {
    // clear() keeps capacity when the handler did not move a field away.
    request_.method.clear();
    request_.target.clear();
    request_.path.clear();
    request_.query.clear();
    request_.headers.clear();
    request_.body.clear();
    request_.remote_addr = remote_addr_;
    request_.version = 11;
  }

  // ---- watchdog -------------------------------------------------------------------------

  void SetDeadline(std::chrono::milliseconds timeout, Phase phase) {
    phase_ = phase;
    timed_out_ = false;
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (!watchdog_armed_ || deadline_ < watchdog_expiry_) ArmWatchdog();
  }

  void ClearDeadline() { phase_ = Phase::kNone; }

  void ArmWatchdog() {
    watchdog_armed_ = true;
    watchdog_expiry_ = deadline_;
    watchdog_.expires_at(deadline_);  // cancels a pending wait, whose handler then does nothing
    watchdog_.async_wait(
        [self = shared_from_this()](const beast::error_code& ec) { self->OnWatchdog(ec); });
  }

  void OnWatchdog(const beast::error_code& ec) {
    if (ec == net::error::operation_aborted || closed_) return;
    if (phase_ == Phase::kNone) {
      watchdog_armed_ = false;
      return;
    }
    if (std::chrono::steady_clock::now() < deadline_) {
      ArmWatchdog();  // the deadline moved later since this wait began
      return;
    }
    watchdog_armed_ = false;
    timed_out_ = true;
    beast::error_code ignored;
    socket_.cancel(ignored);  // the coroutine wakes with an error and reads timed_out_
  }

  void Close() {
    closed_ = true;
    awaiting_reply_ = false;
    phase_ = Phase::kNone;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    watchdog_.cancel();
    if (waiting_signal_) reply_signal_.cancel();
  }

  Core& core_;
  Worker& worker_;
  tcp::socket socket_;
  net::steady_timer watchdog_;
  net::steady_timer reply_signal_;  // never expires; cancelled to wake Dispatch()
  beast::flat_buffer buffer_;       // received, not yet parsed (pipelined requests wait here)
  std::optional<RequestParser> parser_;
  Request request_;
  Response response_;
  std::string head_;  // serialized status line and headers, reused across responses
  std::string remote_addr_;
  int reject_status_ = 0;
  std::string reject_message_;
  size_t body_limit_ = 0;  // of the request being read (BodyLimitFor its target)

  Phase phase_ = Phase::kNone;
  SteadyTime deadline_;         // of phase_
  SteadyTime watchdog_expiry_;  // when the armed wait fires
  bool watchdog_armed_ = false;
  bool timed_out_ = false;  // the watchdog fired during the current phase
  bool aborted_ = false;    // Stop() ended the connection
  bool closed_ = false;
  bool awaiting_reply_ = false;  // a Reply for the current request may still arrive
  bool reply_ready_ = false;     // response_ holds the reply
  bool waiting_signal_ = false;  // Dispatch() is suspended on reply_signal_
};

}  // namespace detail

// ---- Reply ------------------------------------------------------------------------------

Reply::Reply(Callback callback) : callback_(std::move(callback)) {}

Reply::Reply(std::shared_ptr<detail::Worker> worker, std::shared_ptr<detail::Connection> conn)
    : worker_(std::move(worker)), conn_(std::move(conn)) {}

Reply& Reply::operator=(Reply&& other) noexcept {
  if (this != &other) {
    if (*this) (*this)(PlainResponse(500, "internal error"));
    worker_ = std::move(other.worker_);
    conn_ = std::move(other.conn_);
    callback_ = std::move(other.callback_);
    other.callback_ = nullptr;
  }
  return *this;
}

Reply::~Reply() {
  if (*this) {
    spdlog::error("http: a Reply was dropped without an answer; sending 500");
    (*this)(PlainResponse(500, "internal error"));
  }
}

void Reply::operator()(Response response) {
  if (callback_) {
    Callback callback = std::move(callback_);
    callback_ = nullptr;
    callback(std::move(response));
    return;
  }
  if (!conn_) return;
  std::shared_ptr<detail::Connection> conn = std::move(conn_);
  std::shared_ptr<detail::Worker> worker = std::move(worker_);
  if (detail::t_in_handler == conn.get()) {
    conn->DeliverReply(std::move(response));
    return;
  }
  net::post(worker->ioc, [conn = std::move(conn), response = std::move(response)]() mutable {
    conn->DeliverReply(std::move(response));
  });
}

// ---- Server -----------------------------------------------------------------------------

namespace {

net::awaitable<void> AcceptLoop(detail::Core& core) {
  for (;;) {
    detail::Worker& worker = *core.workers[core.next_worker++ % core.workers.size()];
    beast::error_code ec;
    tcp::socket socket = co_await core.acceptor->async_accept(
        worker.ioc, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (core.stopping.load() || !core.acceptor->is_open()) co_return;
      spdlog::warn("http: accept failed: {}", ec.message());
      net::steady_timer pause(co_await net::this_coro::executor, kAcceptRetryDelay);
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    // Only this coroutine increments connections_open, so check-then-add is exact.
    const bool overflow = core.connections_open.load() >= core.options.max_connections;
    if (!overflow) core.connections_open.fetch_add(1);
    auto conn = std::make_shared<detail::Connection>(core, worker, std::move(socket));
    net::co_spawn(
        worker.ioc, [conn, overflow]() { return conn->Run(overflow); }, net::detached);
  }
}

}  // namespace

Server::Server(ServerOptions options, Handler handler)
    : core_(std::make_shared<detail::Core>(std::move(options), std::move(handler))) {
  int threads = core_->options.threads;
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  for (int i = 0; i < threads; ++i) core_->workers.push_back(std::make_shared<detail::Worker>());
}

Server::~Server() { Stop(std::chrono::milliseconds(0)); }

base::Result<uint16_t> Server::Listen(const std::string& host, uint16_t port) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost") h = "127.0.0.1";
  if (h.empty()) h = "0.0.0.0";
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(h, ec);
  if (ec) {
    return base::InvalidArgument(
        fmt::format("listen: host \"{}\": must be an IP address or localhost", host));
  }
  const tcp::endpoint endpoint(address, port);
  auto fail = [&](const char* step) {
    core_->acceptor.reset();
    return base::Unavailable(fmt::format("listen: {}:{}: {}: {}", host, port, step, ec.message()));
  };
  core_->acceptor.emplace(core_->workers[0]->ioc);
  tcp::acceptor& acceptor = *core_->acceptor;
  if (acceptor.open(endpoint.protocol(), ec)) return fail("open");
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec)) return fail("SO_REUSEADDR");
  if (acceptor.bind(endpoint, ec)) return fail("bind");
  if (acceptor.listen(net::socket_base::max_listen_connections, ec)) return fail("listen");
  const tcp::endpoint bound = acceptor.local_endpoint(ec);
  if (ec) return fail("getsockname");
  return bound.port();
}

void Server::Start() {
  if (started_ || stopped_ || !core_->acceptor) return;
  started_ = true;
  for (const auto& worker : core_->workers) {
    core_->work_guards.push_back(net::make_work_guard(worker->ioc));
  }
  net::co_spawn(core_->workers[0]->ioc, AcceptLoop(*core_), net::detached);
  for (const auto& worker : core_->workers) {
    worker->thread = std::thread([w = worker.get()] {
      base::NameThisThread("od-http");
      w->ioc.run();
    });
  }
}

void Server::Stop(std::chrono::milliseconds drain) {
  if (stopped_) return;
  stopped_ = true;
  core_->stopping.store(true);
  if (!started_) {
    if (core_->acceptor) {
      beast::error_code ec;
      core_->acceptor->close(ec);
    }
    return;
  }
  // 1. Stop accepting, and wait for it: a connection accepted before the close is then
  //    already posted to its worker, ahead of the sweeps below.
  {
    std::promise<void> closed;
    net::post(core_->workers[0]->ioc, [this, &closed] {
      beast::error_code ec;
      core_->acceptor->close(ec);
      closed.set_value();
    });
    closed.get_future().wait();
  }
  // 2. Close connections waiting for their next request; busy ones close after their reply.
  for (const auto& worker : core_->workers) {
    net::post(worker->ioc, [w = worker.get()] {
      for (detail::Connection* c : w->connections) c->OnStopping();
    });
  }
  // 3. Wait up to `drain` for the busy ones.
  {
    const auto deadline = std::chrono::steady_clock::now() + drain;
    base::MutexLock lock(&core_->mu);
    while (core_->connections_open.load() > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      core_->drained.WaitFor(&core_->mu,
                             std::chrono::duration_cast<std::chrono::microseconds>(deadline - now));
    }
  }
  // 4. Close whatever is left; each coroutine then ends and every io_context runs dry.
  for (const auto& worker : core_->workers) {
    net::post(worker->ioc, [w = worker.get()] {
      for (detail::Connection* c : w->connections) c->Abort();
    });
  }
  core_->work_guards.clear();
  for (const auto& worker : core_->workers) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

Server::Stats Server::GetStats() const {
  Stats s{};
  s.connections_open = core_->connections_open.load();
  for (const auto& w : core_->workers) {
    s.connections_total += w->connections_total.load(std::memory_order_relaxed);
    s.requests_total += w->requests_total.load(std::memory_order_relaxed);
    s.rejected_connections += w->rejected_connections.load(std::memory_order_relaxed);
    s.bad_requests += w->bad_requests.load(std::memory_order_relaxed);
    s.timeouts += w->timeouts.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace overdue::http
