// Transport: sends Deliveries asynchronously and reports each Outcome. One thread runs a
// libcurl multi handle (HTTP and SMTP, no thread per request) and supervises local commands
// (fork/exec, stdin from a pipe, killed at the timeout), so a slow or unreachable receiver
// never blocks any other delivery.
//
// Outgoing connections to private, loopback and link-local addresses are refused
// (FailureReason::kBlocked) unless `allow_private` — checked on the address actually
// connected to, after DNS, so a public name resolving to 127.0.0.1 is refused too.
//
// Thread-safety: Send from any thread; `done` runs on the transport thread, must not block.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/time.h"
#include "notify/delivery.h"

namespace overdue::notify {

struct TransportOptions {
  base::Duration timeout = std::chrono::seconds(10);  // whole attempt, HTTP/SMTP/command
  base::Duration connect_timeout = std::chrono::seconds(5);
  bool allow_private = false;  // allow private/loopback targets (tests, internal webhooks)
  // PEM file of the CA certificates trusted for TLS, in place of the system's bundle
  // (CURLOPT_CAINFO); "" = the system's.
  std::string ca_file;
  // Attempts in flight at once (more wait in a queue); as many idle keep-alive connections are
  // kept for later attempts to the same receivers.
  size_t max_parallel = 256;
  size_t max_response_bytes = 4096;  // kept of a response body, for Outcome::detail
};

class Transport {
 public:
  explicit Transport(TransportOptions options);
  ~Transport();  // Stop()
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void Start();  // idempotent; no-op after Stop
  // Abandons attempts in flight and queued (each `done` is called once, on the transport
  // thread, with a kProtocol "transport stopped" outcome; without Start, on the caller's
  // thread), then joins the thread. Idempotent. From a `done` callback it only asks the loop
  // to stop (the join is left to a later Stop or the destructor); the Transport must not be
  // destroyed from a `done`.
  void Stop();

  // `done` is called exactly once. After Stop it is called at once, on the caller's thread.
  // A command is killed at the earlier of its own timeout and options.timeout.
  void Send(Delivery delivery, std::function<void(Outcome)> done);
  size_t in_flight() const;  // queued + running

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace overdue::notify
