// Server: overdue's HTTP/1.1 server (Boost.Beast parser, Asio I/O, C++20 coroutines). It
// knows nothing about watches: it reads one request at a time per connection, enforces the
// limits and timeouts below, and hands each complete request to a Handler, which answers
// through a Reply, now or later, from any thread (ping replies wait for a database commit).
//
// Threads: `threads` I/O threads, each running its own io_context; a connection lives on one
// of them for its whole life, so its state needs no lock. The handler runs on that I/O thread
// and must not block. Reply::operator() from another thread posts the write to the
// connection's thread.
//
// Limits (each answers and closes the connection; the handler never sees the request):
//   malformed request → 400 "bad request: <what>"    header section too big/many → 431
//   body over max_body_bytes → 413 (from Content-Length, before the body is read)
//   request begun but not complete within read_timeout → 408 (slowloris)
//   idle keep-alive past idle_timeout → closed silently
//   more than max_connections open → 503 "too many connections"
//   peer not reading our reply within write_timeout → closed
//
// Keep-alive follows HTTP/1.1 (HTTP/1.0 needs "Connection: keep-alive"); every response has
// Content-Length; HEAD gets the headers of the response the handler gave, without its body.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "http/message.h"

namespace overdue::http {

namespace detail {
class Connection;
struct Core;
struct Worker;
}  // namespace detail

// Completes one request. Call it exactly once, from any thread; it is cheap to move. If it
// is destroyed without being called, the client gets 500 "internal error" (a forgotten reply
// must never hang a client). If the connection is gone by then (client closed, server
// stopped, even server destroyed) the response is dropped safely.
class Reply {
 public:
  using Callback = std::function<void(Response)>;

  Reply() = default;  // empty: calling it does nothing
  // For handler tests: a Reply that hands its response to `callback` (or a 500 to it if
  // destroyed without being called).
  explicit Reply(Callback callback);
  Reply(Reply&& other) noexcept = default;
  Reply& operator=(Reply&& other) noexcept;
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  ~Reply();

  void operator()(Response response);
  // True until called (or moved from).
  explicit operator bool() const { return conn_ != nullptr || callback_ != nullptr; }

 private:
  friend class detail::Connection;
  Reply(std::shared_ptr<detail::Worker> worker, std::shared_ptr<detail::Connection> conn);

  // Keeps the connection's io_context alive so a late post is safe. Declared before conn_ so
  // that the connection (its socket) is destroyed first.
  std::shared_ptr<detail::Worker> worker_;
  std::shared_ptr<detail::Connection> conn_;
  Callback callback_;
};

// Called on an I/O thread for every complete request that passed the limits. `request` is
// valid only during the call: move from it to keep it. Must not block.
using Handler = std::function<void(Request&& request, Reply reply)>;

struct ServerOptions {
  int threads = 0;  // I/O threads; 0 → std::thread::hardware_concurrency()
  // Open connections beyond this get 503 and are closed: each costs a socket, a buffer and a
  // coroutine frame, and the process's file descriptors are finite.
  size_t max_connections = 10000;
  // Request line plus headers. 8 KiB is nginx's and Beast's default; a larger header section
  // is a header flood, not a ping.
  size_t max_header_bytes = 8 * 1024;
  // The body is held in memory until the handler is done with it.
  size_t max_body_bytes = 1024 * 1024;
  // Requests whose target starts with `large_body_path` (e.g. a backup import) may carry up
  // to `large_body_bytes` instead. Empty: no such route.
  std::string large_body_path;
  size_t large_body_bytes = 0;
  // To receive one whole request once its first byte arrived (slowloris holds a connection
  // by trickling bytes).
  std::chrono::milliseconds read_timeout{10000};
  // Keep-alive wait for the next request's first byte.
  std::chrono::milliseconds idle_timeout{60000};
  // For the peer to take our whole response (a peer that does not read holds the buffer).
  std::chrono::milliseconds write_timeout{10000};
  // Request timing (e.g. a latency histogram per route): `classify` runs on the I/O thread
  // for every request the handler gets, before the handler; a class >= 0 is timed from then
  // until its whole response has been handed to the kernel, and `observe(class, duration)`
  // is called with it on that I/O thread. Neither may block. The time the request spent in
  // the socket before it was read is not included. Unset, or a class < 0: nothing is timed.
  std::function<int(const Request&)> classify;
  std::function<void(int, std::chrono::nanoseconds)> observe;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // Stop(0) if still running, then joins
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; returns the bound port (useful when port == 0). Call once, before
  // Start(). `host` is an IP address or "localhost".
  base::Result<uint16_t> Listen(const std::string& host, uint16_t port);
  // Runs the I/O threads. REQUIRES: Listen() succeeded; called once.
  void Start();
  // Graceful: stop accepting, close idle keep-alive connections, wait up to `drain` for
  // connections still busy (a request being read, a reply pending in the handler, a response
  // being written), then close everything and join the threads. Responses sent meanwhile
  // carry "Connection: close". Idempotent; call from any thread but an I/O thread.
  void Stop(std::chrono::milliseconds drain = std::chrono::milliseconds(10000));

  struct Stats {
    uint64_t connections_open;      // now, not counting 503-rejected ones
    uint64_t connections_total;     // accepted and served (not counting rejected)
    uint64_t requests_total;        // handed to the handler
    uint64_t rejected_connections;  // 503 "too many connections"
    uint64_t bad_requests;          // 400, 413, 431 answers
    uint64_t timeouts;              // 408 answers and write timeouts (idle closes not counted)
  };
  Stats GetStats() const;

 private:
  std::shared_ptr<detail::Core> core_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace overdue::http
