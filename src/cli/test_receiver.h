// TestReceiver: a real HTTP/1.1 server for the CLI's tests, listening on 127.0.0.1 with a
// port from the OS. It records every request and answers with queued statuses or canned replies
// (then 200 "OK"), one connection at a time, closing each after its reply. Test-only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace overdue::cli {

struct RecordedRequest {
  std::string method;
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class TestReceiver {
 public:
  TestReceiver();
  ~TestReceiver();
  TestReceiver(const TestReceiver&) = delete;
  TestReceiver& operator=(const TestReceiver&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The next requests get these statuses, in order (body "error"); later ones 200 "OK".
  void QueueStatuses(const std::vector<int>& statuses);
  // The next request (after those already queued) gets this status and body.
  void QueueReply(int status, std::string body);
  // Sent as a Ping-Body-Limit header on 2xx replies when set.
  void SetPingBodyLimit(size_t limit);

  std::vector<RecordedRequest> requests() const;
  // Waits until at least `n` requests were recorded; false on timeout.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // written to by the destructor to end Serve()
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<RecordedRequest> requests_;
  struct Reply {
    int status;
    std::optional<std::string> body;  // nullopt: "OK" or "error" by status
  };
  std::deque<Reply> replies_;
  std::optional<size_t> ping_body_limit_;
  std::thread thread_;
};

// A port on 127.0.0.1 where nothing listens (bound once, then released).
uint16_t UnusedPort();

}  // namespace overdue::cli
