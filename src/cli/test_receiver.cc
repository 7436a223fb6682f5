#include "cli/test_receiver.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace overdue::cli {
namespace {

int BindLoopback(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("bind");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

uint16_t UnusedPort() {
  uint16_t port = 0;
  ::close(BindLoopback(&port));
  return port;
}

TestReceiver::TestReceiver() {
  listen_fd_ = BindLoopback(&port_);
  if (::listen(listen_fd_, 64) != 0 || ::pipe2(wake_, O_CLOEXEC) != 0) {
    throw std::runtime_error("listen");
  }
  thread_ = std::thread([this] { Serve(); });
}

TestReceiver::~TestReceiver() {
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void TestReceiver::QueueStatuses(const std::vector<int>& statuses) {
  std::lock_guard lock(mu_);
  for (int status : statuses) replies_.push_back({status, std::nullopt});
}

void TestReceiver::QueueReply(int status, std::string body) {
  std::lock_guard lock(mu_);
  replies_.push_back({status, std::move(body)});
}

void TestReceiver::SetPingBodyLimit(size_t limit) {
  std::lock_guard lock(mu_);
  ping_body_limit_ = limit;
}

std::vector<RecordedRequest> TestReceiver::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

bool TestReceiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void TestReceiver::Serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Handle(fd);
    ::close(fd);
  }
}

void TestReceiver::Handle(int fd) {
  // A client that stops mid-request must not hang the tests.
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string data;
  char buffer[16 * 1024];
  size_t header_end = std::string::npos;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return;
    data.append(buffer, static_cast<size_t>(n));
  }
  RecordedRequest r;
  const std::string head = data.substr(0, header_end);
  size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = request_line.find(' ', sp1 + 1);
  r.method = request_line.substr(0, sp1);
  r.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  while (line_end != std::string::npos && line_end < head.size()) {
    const size_t next = head.find("\r\n", line_end + 2);
    const std::string line = head.substr(line_end + 2, next - line_end - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[Lower(line.substr(0, colon))] = value;
    }
    line_end = next;
  }
  const size_t length =
      r.headers.contains("content-length") ? std::stoul(r.headers["content-length"]) : 0;
  r.body = data.substr(header_end + 4);
  while (r.body.size() < length) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return;
    r.body.append(buffer, static_cast<size_t>(n));
  }

  int status = 200;
  std::optional<std::string> body;
  std::string extra;
  {
    std::lock_guard lock(mu_);
    if (!replies_.empty()) {
      status = replies_.front().status;
      body = std::move(replies_.front().body);
      replies_.pop_front();
    }
    if (ping_body_limit_ && status / 100 == 2) {
      extra = "Ping-Body-Limit: " + std::to_string(*ping_body_limit_) + "\r\n";
    }
    requests_.push_back(std::move(r));
  }
  cv_.notify_all();
  if (!body) body = status / 100 == 2 ? "OK" : "error";
  const std::string reply = "HTTP/1.1 " + std::to_string(status) +
                            " X\r\nContent-Length: " + std::to_string(body->size()) +
                            "\r\nConnection: close\r\n" + extra + "\r\n" + *body;
  (void)!::write(fd, reply.data(), reply.size());
}

}  // namespace overdue::cli
