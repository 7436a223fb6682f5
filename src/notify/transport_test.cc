#include "notify/transport.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

namespace overdue::notify {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Generous: only reached when something is broken, so it costs nothing in a passing run.
constexpr auto kWait = seconds(30);

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A listening socket on 127.0.0.1, port 0, with one thread per accepted connection running
// `handle` once Start() is called (by the subclass, once its members exist). Stop() (and the
// destructor) interrupts accept, blocked reads and scripted delays.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<void(int fd)> handle) : handle_(std::move(handle)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 64), 0);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  virtual ~LoopbackServer() { Stop(); }

  void Start() {
    acceptor_ = std::thread([this] { Accept(); });
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (int fd : open_) shutdown(fd, SHUT_RDWR);
    }
    stop_cv_.notify_all();
    shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    if (acceptor_.joinable()) acceptor_.join();
    for (std::thread& t : workers_) t.join();
    close(listen_fd_);
  }

  int port() const { return port_; }
  int connections() {
    std::lock_guard lock(mu_);
    return connections_;
  }

 protected:
  // Waits `d` unless the server stops first; false when stopping.
  bool Delay(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !stop_cv_.wait_for(lock, d, [this] { return stopping_; });
  }

 private:
  void Accept() {
    while (true) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      std::lock_guard lock(mu_);
      if (fd < 0 || stopping_) {
        if (fd >= 0) close(fd);
        return;
      }
      ++connections_;
      open_.push_back(fd);
      workers_.emplace_back([this, fd] {
        handle_(fd);
        std::lock_guard inner(mu_);
        open_.erase(std::find(open_.begin(), open_.end(), fd));
        close(fd);
      });
    }
  }

  std::function<void(int)> handle_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  int connections_ = 0;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
};

// Reads CRLF-terminated lines from a socket.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line without its CRLF; false at EOF.
  bool Next(std::string* line) {
    while (true) {
      const size_t end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        *line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return true;
      }
      if (!Fill()) return false;
    }
  }
  // Exactly `n` bytes after the lines read so far.
  bool Bytes(size_t n, std::string* out) {
    while (buffer_.size() < n) {
      if (!Fill()) return false;
    }
    *out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return true;
  }

 private:
  bool Fill() {
    char chunk[4096];
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  std::string buffer_;
};

struct HttpRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct HttpScript {
  int status = 200;
  std::string body = "ok";
  std::vector<std::string> extra_headers;  // "Name: value"
  milliseconds delay{0};                   // before answering
};

// The next request on a connection; false at EOF or when it is cut short.
bool ReadRequest(LineReader& reader, HttpRequest* request) {
  std::string line;
  if (!reader.Next(&line)) return false;
  std::istringstream first(line);
  first >> request->method >> request->target;
  while (reader.Next(&line) && !line.empty()) {
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    request->headers[name] = value;
  }
  if (auto it = request->headers.find("content-length"); it != request->headers.end()) {
    if (!reader.Bytes(std::stoul(it->second), &request->body)) return false;
  }
  return true;
}

HttpScript Answer(int status, std::string body = "", std::vector<std::string> headers = {}) {
  HttpScript s;
  s.status = status;
  s.body = std::move(body);
  s.extra_headers = std::move(headers);
  return s;
}

HttpScript Delayed(milliseconds delay) {
  HttpScript s;
  s.delay = delay;
  return s;
}

// Answers every request with `script` (Connection: close) and records what arrived.
class HttpResponder : public LoopbackServer {
 public:
  explicit HttpResponder(HttpScript script)
      : LoopbackServer([this](int fd) { Serve(fd); }), script_(std::move(script)) {
    Start();
  }
  ~HttpResponder() override { Stop(); }

  std::string url(std::string_view path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }
  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int max_concurrent() {
    std::lock_guard lock(mu_);
    return max_concurrent_;
  }
  bool WaitForRequests(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return requests_.size() >= n; });
  }

 private:
  void Serve(int fd) {
    LineReader reader(fd);
    HttpRequest request;
    if (!ReadRequest(reader, &request)) return;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
      max_concurrent_ = std::max(max_concurrent_, ++unanswered_);
    }
    cv_.notify_all();
    const bool answer = script_.delay.count() == 0 || Delay(script_.delay);
    {
      // Before the answer: once it is sent, the client may start its next request.
      std::lock_guard lock(mu_);
      --unanswered_;
    }
    if (!answer) return;
    std::string response = "HTTP/1.1 " + std::to_string(script_.status) + " Scripted\r\n";
    for (const std::string& h : script_.extra_headers) response += h + "\r\n";
    response += "Content-Length: " + std::to_string(script_.body.size()) + "\r\n";
    response += "Connection: close\r\n\r\n" + script_.body;
    SendAll(fd, response);
  }

  HttpScript script_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HttpRequest> requests_;
  int unanswered_ = 0;
  int max_concurrent_ = 0;
};

// Answers every request on a connection and keeps it open (HTTP/1.1 keep-alive): the n-th
// request overall gets scripts[n], later ones the last script, after the script's `delay`.
// The body goes out in `pieces` parts `piece_gap` apart, so that the client reads it in parts.
// With `close_after_answer` it closes each connection after its first answer, without saying
// so in the response, as a receiver dropping idle connections does.
class KeepAliveResponder : public LoopbackServer {
 public:
  explicit KeepAliveResponder(std::vector<HttpScript> scripts, int pieces = 1,
                              milliseconds piece_gap = milliseconds(0),
                              bool close_after_answer = false)
      : LoopbackServer([this](int fd) { Serve(fd); }),
        scripts_(std::move(scripts)),
        pieces_(pieces),
        piece_gap_(piece_gap),
        close_after_answer_(close_after_answer) {
    Start();
  }
  ~KeepAliveResponder() override { Stop(); }

  std::string url(std::string_view path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }
  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve(int fd) {
    LineReader reader(fd);
    while (true) {
      HttpRequest request;
      if (!ReadRequest(reader, &request)) return;
      HttpScript script;
      {
        std::lock_guard lock(mu_);
        script = scripts_[std::min(requests_.size(), scripts_.size() - 1)];
        requests_.push_back(request);
      }
      if (script.delay.count() > 0 && !Delay(script.delay)) return;
      std::string head = "HTTP/1.1 " + std::to_string(script.status) + " Scripted\r\n";
      for (const std::string& h : script.extra_headers) head += h + "\r\n";
      head += "Content-Length: " + std::to_string(script.body.size()) + "\r\n\r\n";
      if (!SendAll(fd, head)) return;
      const size_t piece = script.body.size() / static_cast<size_t>(pieces_) + 1;
      const size_t body_size = request.method == "HEAD" ? 0 : script.body.size();
      for (size_t at = 0; at < body_size; at += piece) {
        if (at > 0 && piece_gap_.count() > 0 && !Delay(piece_gap_)) return;
        if (!SendAll(fd, std::string_view(script.body).substr(at, piece))) return;
      }
      if (close_after_answer_) return;
    }
  }

  std::vector<HttpScript> scripts_;
  int pieces_;
  milliseconds piece_gap_;
  bool close_after_answer_;
  std::mutex mu_;
  std::vector<HttpRequest> requests_;
};

struct Mail {
  std::string from;             // MAIL FROM argument, angle brackets included
  std::vector<std::string> to;  // RCPT TO arguments
  std::string data;             // after un-stuffing, CRLF line ends, without the final "."
};

enum class SmtpMode { kAccept, kRejectRecipients, kTempFailData };

// Speaks enough SMTP for curl: greeting, EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
class SmtpResponder : public LoopbackServer {
 public:
  explicit SmtpResponder(SmtpMode mode)
      : LoopbackServer([this](int fd) { Serve(fd); }), mode_(mode) {
    Start();
  }
  ~SmtpResponder() override { Stop(); }

  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port()); }
  std::vector<Mail> mails() {
    std::lock_guard lock(mu_);
    return mails_;
  }

 private:
  void Serve(int fd) {
    LineReader reader(fd);
    Mail mail;
    std::string line;
    SendAll(fd, "220 test ESMTP\r\n");
    while (reader.Next(&line)) {
      std::string verb = line.substr(0, 4);
      std::transform(verb.begin(), verb.end(), verb.begin(),
                     [](unsigned char c) { return std::toupper(c); });
      if (verb == "EHLO" || verb == "HELO") {
        SendAll(fd, "250 test\r\n");
      } else if (verb == "MAIL") {
        mail = Mail{};
        mail.from = line.substr(line.find(':') + 1);
        SendAll(fd, "250 OK\r\n");
      } else if (verb == "RCPT") {
        if (mode_ == SmtpMode::kRejectRecipients) {
          SendAll(fd, "550 5.1.1 no such mailbox\r\n");
        } else {
          mail.to.push_back(line.substr(line.find(':') + 1));
          SendAll(fd, "250 OK\r\n");
        }
      } else if (verb == "DATA") {
        SendAll(fd, "354 go ahead\r\n");
        while (reader.Next(&line) && line != ".") {
          if (!line.empty() && line[0] == '.') line.erase(0, 1);  // RFC 5321 §4.5.2
          mail.data += line + "\r\n";
        }
        if (mode_ == SmtpMode::kTempFailData) {
          SendAll(fd, "451 4.3.0 try again later\r\n");
        } else {
          {
            std::lock_guard lock(mu_);
            mails_.push_back(mail);
          }
          SendAll(fd, "250 OK queued\r\n");
        }
      } else if (verb == "RSET" || verb == "NOOP") {
        SendAll(fd, "250 OK\r\n");
      } else if (verb == "QUIT") {
        SendAll(fd, "221 bye\r\n");
        return;
      } else {
        SendAll(fd, "502 not implemented\r\n");
      }
    }
  }

  SmtpMode mode_;
  std::mutex mu_;
  std::vector<Mail> mails_;
};

// A port on 127.0.0.1 that is bound but not listening: connecting is refused.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A fresh directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "transport_test.XXXXXX");
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Read(const std::string& name) const {
    std::ifstream in(path_ + "/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string path_;
};

// Collects outcomes from the transport thread.
class Outcomes {
 public:
  std::function<void(Outcome)> Callback(std::string name) {
    return [this, name = std::move(name)](Outcome o) {
      std::lock_guard lock(mu_);
      order_.push_back(name);
      outcomes_[name] = std::move(o);
      ++calls_[name];
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return order_.size() >= n; });
  }
  Outcome Get(const std::string& name) {
    std::lock_guard lock(mu_);
    return outcomes_[name];
  }
  int Calls(const std::string& name) {
    std::lock_guard lock(mu_);
    return calls_[name];
  }
  std::vector<std::string> order() {
    std::lock_guard lock(mu_);
    return order_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> order_;
  std::map<std::string, Outcome> outcomes_;
  std::map<std::string, int> calls_;
};

TransportOptions LocalOptions() {
  TransportOptions o;
  o.allow_private = true;  // every receiver in these tests is on 127.0.0.1
  o.timeout = seconds(10);
  return o;
}

Outcome SendAndWait(Transport& transport, Delivery delivery) {
  auto promise = std::make_shared<std::promise<Outcome>>();
  std::future<Outcome> future = promise->get_future();
  transport.Send(std::move(delivery), [promise](Outcome o) { promise->set_value(std::move(o)); });
  if (future.wait_for(kWait) != std::future_status::ready) {
    ADD_FAILURE() << "no outcome within " << kWait.count() << " s";
    Outcome none;
    none.detail = "(test: no outcome)";
    return none;
  }
  return future.get();
}

HttpDelivery Post(const std::string& url, std::string body = "{}") {
  HttpDelivery d;
  d.url = url;
  d.headers = {{"Content-Type", "application/json"}};
  d.body = std::move(body);
  return d;
}

CommandDelivery Command(std::string command, base::Duration timeout = seconds(10)) {
  CommandDelivery d;
  d.command = std::move(command);
  d.timeout = timeout;
  return d;
}

// Whether the process `pid` ends within kWait (it may be a zombie nobody reaps: it ended).
bool ProcessEnds(pid_t pid) {
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  const int ready =
      poll(&p, 1, static_cast<int>(std::chrono::duration_cast<milliseconds>(kWait).count()));
  close(fd);
  return ready == 1;
}

TEST(TransportTest, HttpPostArrivesWithMethodHeadersBodyAndBasicAuth) {
  HttpResponder server(Answer(204));
  Transport transport(LocalOptions());
  transport.Start();
  HttpDelivery d = Post(server.url("/hooks/1?x=y"), R"({"event":"down"})");
  d.headers.emplace_back("X-Overdue-Signature", "sha256=abc");
  d.headers.emplace_back("X-Empty", "");
  d.username = "alice";
  d.password = "s3cret";

  const Outcome o = SendAndWait(transport, d);
  EXPECT_TRUE(o.ok) << o.detail;
  EXPECT_EQ(o.reason, FailureReason::kNone);
  EXPECT_EQ(o.code, 204);
  EXPECT_GT(o.duration.count(), 0);
  ASSERT_EQ(server.requests().size(), 1u);
  const HttpRequest r = server.requests()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hooks/1?x=y");
  EXPECT_EQ(r.body, R"({"event":"down"})");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.headers.at("x-overdue-signature"), "sha256=abc");
  EXPECT_EQ(r.headers.at("x-empty"), "");
  EXPECT_EQ(r.headers.at("authorization"), "Basic YWxpY2U6czNjcmV0");  // alice:s3cret
  EXPECT_EQ(r.headers.count("expect"), 0u);
}

TEST(TransportTest, HttpPutUsesTheGivenMethod) {
  HttpResponder server(HttpScript{});
  Transport transport(LocalOptions());
  transport.Start();
  HttpDelivery d = Post(server.url(), "body");
  d.method = "PUT";
  EXPECT_TRUE(SendAndWait(transport, d).ok);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].method, "PUT");
  EXPECT_EQ(server.requests()[0].body, "body");
}

TEST(TransportTest, Http500IsServerErrorWithTheBodyAsDetail) {
  HttpResponder server(Answer(500, "database\r\nis down"));
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.reason, FailureReason::kServerError);
  EXPECT_EQ(o.code, 500);
  EXPECT_EQ(o.detail, "database is down");
  EXPECT_TRUE(Retryable(o.reason));
}

TEST(TransportTest, Http404IsClientError) {
  HttpResponder server(Answer(404, "no such hook"));
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_EQ(o.reason, FailureReason::kClientError);
  EXPECT_EQ(o.code, 404);
  EXPECT_FALSE(Retryable(o.reason));
}

TEST(TransportTest, Http429IsRateLimitedWithRetryAfter) {
  HttpResponder server(Answer(429, "slow down", {"Retry-After: 7"}));
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_EQ(o.reason, FailureReason::kRateLimited);
  EXPECT_EQ(o.code, 429);
  ASSERT_TRUE(o.retry_after.has_value());
  EXPECT_EQ(*o.retry_after, seconds(7));
}

// A receiver's Retry-After is untrusted: a number too large for microseconds is capped at a
// day instead of overflowing.
TEST(TransportTest, HugeRetryAfterIsCappedAtADay) {
  HttpResponder server(Answer(429, "slow down", {"Retry-After: 36555555555555555"}));
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_EQ(o.reason, FailureReason::kRateLimited);
  ASSERT_TRUE(o.retry_after.has_value());
  EXPECT_EQ(*o.retry_after, hours(24));
}

TEST(TransportTest, HttpRedirectIsNotFollowed) {
  HttpResponder server(Answer(302, "", {"Location: /elsewhere"}));
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_EQ(o.reason, FailureReason::kProtocol);
  EXPECT_EQ(o.code, 302);
  EXPECT_EQ(o.detail, "redirect not followed");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(TransportTest, ResponseDetailIsCappedAndPrintable) {
  HttpResponder server(Answer(400, "bad\x01\x02 input\xff" + std::string(1000, 'x')));
  TransportOptions options = LocalOptions();
  options.max_response_bytes = 32;
  Transport transport(options);
  transport.Start();
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_EQ(o.reason, FailureReason::kClientError);
  EXPECT_LE(o.detail.size(), 32u);
  EXPECT_EQ(o.detail.rfind("bad input?xxx", 0), 0u) << o.detail;
}

TEST(TransportTest, SlowServerTimesOut) {
  HttpResponder server(Delayed(seconds(20)));
  TransportOptions options = LocalOptions();
  options.timeout = milliseconds(300);
  Transport transport(options);
  transport.Start();
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.reason, FailureReason::kTimeout) << o.detail;
}

TEST(TransportTest, ClosedPortIsRefused) {
  RefusingPort port;
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o =
      SendAndWait(transport, Post("http://127.0.0.1:" + std::to_string(port.port()) + "/"));
  EXPECT_EQ(o.reason, FailureReason::kRefused) << o.detail;
  EXPECT_FALSE(o.detail.empty());
}

TEST(TransportTest, LoopbackIsBlockedWithoutAllowPrivate) {
  HttpResponder server(HttpScript{});
  TransportOptions options = LocalOptions();
  options.allow_private = false;
  Transport transport(options);
  transport.Start();
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_EQ(o.reason, FailureReason::kBlocked);
  EXPECT_NE(o.detail.find("127.0.0.1"), std::string::npos) << o.detail;
  EXPECT_FALSE(Retryable(o.reason));
  EXPECT_EQ(server.connections(), 0);
}

TEST(TransportTest, NameResolvingToLoopbackIsBlocked) {
  HttpResponder server(HttpScript{});
  TransportOptions options = LocalOptions();
  options.allow_private = false;
  Transport transport(options);
  transport.Start();
  const Outcome o =
      SendAndWait(transport, Post("http://localhost:" + std::to_string(server.port()) + "/"));
  EXPECT_EQ(o.reason, FailureReason::kBlocked) << o.detail;
  EXPECT_EQ(server.connections(), 0);
}

TEST(TransportTest, Ipv4MappedLoopbackIsBlocked) {
  HttpResponder server(HttpScript{});
  TransportOptions options = LocalOptions();
  options.allow_private = false;
  Transport transport(options);
  transport.Start();
  const Outcome o = SendAndWait(
      transport, Post("http://[::ffff:127.0.0.1]:" + std::to_string(server.port()) + "/"));
  EXPECT_EQ(o.reason, FailureReason::kBlocked) << o.detail;
  EXPECT_NE(o.detail.find("::ffff:127.0.0.1"), std::string::npos) << o.detail;
  EXPECT_EQ(server.connections(), 0);
}

TEST(TransportTest, OnlyHttpSchemesForWebhooks) {
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o = SendAndWait(transport, Post("file:///etc/passwd"));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.reason, FailureReason::kProtocol) << o.detail;
}

TEST(TransportTest, SlowReceiverDoesNotDelayAFastOne) {
  HttpResponder slow(Delayed(seconds(2)));
  HttpResponder fast(HttpScript{});
  TransportOptions options = LocalOptions();
  options.timeout = seconds(5);
  Transport transport(options);
  transport.Start();
  Outcomes outcomes;
  transport.Send(Post(slow.url()), outcomes.Callback("slow"));
  ASSERT_TRUE(slow.WaitForRequests(1));  // the slow one is in flight
  transport.Send(Post(fast.url()), outcomes.Callback("fast"));
  ASSERT_TRUE(outcomes.WaitFor(2));
  EXPECT_EQ(outcomes.order(), (std::vector<std::string>{"fast", "slow"}));
  EXPECT_TRUE(outcomes.Get("fast").ok);
  EXPECT_TRUE(outcomes.Get("slow").ok);
}

TEST(TransportTest, AtMostMaxParallelAttemptsRunAndTheRestQueue) {
  HttpResponder server(Delayed(milliseconds(50)));
  TransportOptions options = LocalOptions();
  options.max_parallel = 2;
  Transport transport(options);
  transport.Start();
  Outcomes outcomes;
  for (int i = 0; i < 6; ++i)
    transport.Send(Post(server.url()), outcomes.Callback(std::to_string(i)));
  ASSERT_TRUE(outcomes.WaitFor(6));
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(outcomes.Get(std::to_string(i)).ok);
  EXPECT_LE(server.max_concurrent(), 2);
  EXPECT_EQ(server.requests().size(), 6u);
  EXPECT_EQ(transport.in_flight(), 0u);
}

TEST(TransportTest, MailArrivesWithEnvelopeAndDotStuffedLinesIntact) {
  SmtpResponder server(SmtpMode::kAccept);
  Transport transport(LocalOptions());
  transport.Start();
  MailDelivery d;
  d.smtp_url = server.url();
  d.from = "overdue@example.com";
  d.to = {"ops@example.com", "boss@example.com"};
  d.message =
      "From: overdue@example.com\r\n"
      "To: ops@example.com\r\n"
      "Subject: backup is DOWN\r\n"
      "\r\n"
      "The job did not check in.\r\n"
      ".starts with a dot\r\n"
      ".\r\n"
      "..two dots\r\n"
      "last line\r\n";
  const Outcome o = SendAndWait(transport, d);
  EXPECT_TRUE(o.ok) << o.detail;
  EXPECT_EQ(o.code, 250);
  ASSERT_EQ(server.mails().size(), 1u);
  const Mail m = server.mails()[0];
  EXPECT_EQ(m.from, "<overdue@example.com>");
  EXPECT_EQ(m.to, (std::vector<std::string>{"<ops@example.com>", "<boss@example.com>"}));
  EXPECT_EQ(m.data, d.message);
}

TEST(TransportTest, MailRejectedRecipientIsClientError) {
  SmtpResponder server(SmtpMode::kRejectRecipients);
  Transport transport(LocalOptions());
  transport.Start();
  MailDelivery d;
  d.smtp_url = server.url();
  d.from = "overdue@example.com";
  d.to = {"nobody@example.com"};
  d.message = "Subject: x\r\n\r\nbody\r\n";
  const Outcome o = SendAndWait(transport, d);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.reason, FailureReason::kClientError) << o.detail;
  EXPECT_EQ(o.code, 550);
  EXPECT_TRUE(server.mails().empty());
}

TEST(TransportTest, MailTemporaryFailureIsRetryableServerError) {
  SmtpResponder server(SmtpMode::kTempFailData);
  Transport transport(LocalOptions());
  transport.Start();
  MailDelivery d;
  d.smtp_url = server.url();
  d.from = "overdue@example.com";
  d.to = {"ops@example.com"};
  d.message = "Subject: x\r\n\r\nbody\r\n";
  const Outcome o = SendAndWait(transport, d);
  EXPECT_EQ(o.reason, FailureReason::kServerError) << o.detail;
  EXPECT_EQ(o.code, 451);
  EXPECT_TRUE(Retryable(o.reason));
}

TEST(TransportTest, MailToLoopbackIsBlockedWithoutAllowPrivate) {
  SmtpResponder server(SmtpMode::kAccept);
  TransportOptions options = LocalOptions();
  options.allow_private = false;
  Transport transport(options);
  transport.Start();
  MailDelivery d;
  d.smtp_url = server.url();
  d.from = "overdue@example.com";
  d.to = {"ops@example.com"};
  d.message = "Subject: x\r\n\r\nbody\r\n";
  EXPECT_EQ(SendAndWait(transport, d).reason, FailureReason::kBlocked);
  EXPECT_EQ(server.connections(), 0);
}

TEST(TransportTest, CommandGetsStdinAndEnvironment) {
  TempDir dir;
  Transport transport(LocalOptions());
  transport.Start();
  CommandDelivery d =
      Command(R"(cat > "$OUT/stdin" && printf %s "$OVERDUE_TEST_VALUE" > "$OUT/env")");
  d.stdin_data = "{\"event\":\"down\"}\nsecond line\n";
  d.env = {{"OUT", dir.path()}, {"OVERDUE_TEST_VALUE", "hello world"}};
  const Outcome o = SendAndWait(transport, d);
  EXPECT_TRUE(o.ok) << o.detail;
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(dir.Read("stdin"), d.stdin_data);
  EXPECT_EQ(dir.Read("env"), "hello world");
}

TEST(TransportTest, CommandInheritsTheEnvironmentAndEnvOverridesIt) {
  TempDir dir;
  setenv("OVERDUE_TRANSPORT_TEST_INHERITED", "inherited", 1);
  setenv("OVERDUE_TRANSPORT_TEST_REPLACED", "old", 1);
  Transport transport(LocalOptions());
  transport.Start();
  CommandDelivery d = Command(
      R"(printf '%s %s' "$OVERDUE_TRANSPORT_TEST_INHERITED" "$OVERDUE_TRANSPORT_TEST_REPLACED")"
      R"( > "$OUT/env")");
  d.env = {{"OUT", dir.path()}, {"OVERDUE_TRANSPORT_TEST_REPLACED", "new"}};
  EXPECT_TRUE(SendAndWait(transport, d).ok);
  EXPECT_EQ(dir.Read("env"), "inherited new");
}

TEST(TransportTest, CommandExitStatusIsTheCodeAndOutputTheDetail) {
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o = SendAndWait(transport, Command("echo 'disk full' >&2; exit 3"));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.reason, FailureReason::kCommandFailed);
  EXPECT_EQ(o.code, 3);
  EXPECT_EQ(o.detail, "disk full");
}

TEST(TransportTest, CommandKilledBySignalNamesTheSignal) {
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome o = SendAndWait(transport, Command("kill -TERM $$"));
  EXPECT_EQ(o.reason, FailureReason::kCommandFailed);
  EXPECT_NE(o.detail.find("SIGTERM"), std::string::npos) << o.detail;
}

TEST(TransportTest, CommandPastItsTimeoutIsKilledWithItsChildren) {
  TempDir dir;
  Transport transport(LocalOptions());
  transport.Start();
  CommandDelivery d = Command(R"(sleep 30 & echo $! > "$OUT/child"; echo $$ > "$OUT/shell"; wait)",
                              milliseconds(300));
  d.env = {{"OUT", dir.path()}};
  const Outcome o = SendAndWait(transport, d);
  EXPECT_EQ(o.reason, FailureReason::kTimeout) << o.detail;
  const pid_t shell = std::stoi(dir.Read("shell"));
  const pid_t child = std::stoi(dir.Read("child"));
  // The shell was our child: reaped before `done`, so it no longer exists at all.
  EXPECT_EQ(kill(shell, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  // Its child was in the same process group, so it got the SIGKILL too.
  EXPECT_TRUE(ProcessEnds(child));
}

TEST(TransportTest, CommandIgnoringALargeStdinHangsNothing) {
  HttpResponder server(HttpScript{});
  Transport transport(LocalOptions());
  transport.Start();
  Outcomes outcomes;
  CommandDelivery exits = Command("exit 0");
  exits.stdin_data = std::string(8 << 20, 'x');
  CommandDelivery sleeps = Command("sleep 1");
  sleeps.stdin_data = std::string(8 << 20, 'y');
  transport.Send(exits, outcomes.Callback("exits"));
  transport.Send(sleeps, outcomes.Callback("sleeps"));
  transport.Send(Post(server.url()), outcomes.Callback("http"));
  ASSERT_TRUE(outcomes.WaitFor(3));
  EXPECT_TRUE(outcomes.Get("exits").ok) << outcomes.Get("exits").detail;
  EXPECT_TRUE(outcomes.Get("sleeps").ok) << outcomes.Get("sleeps").detail;
  EXPECT_TRUE(outcomes.Get("http").ok);
  // The stdin that `sleep` never reads does not hold up the loop.
  EXPECT_EQ(outcomes.order().back(), "sleeps");
}

TEST(TransportTest, StopCallsEveryDoneExactlyOnce) {
  HttpResponder server(Delayed(seconds(60)));
  TransportOptions options = LocalOptions();
  options.max_parallel = 3;
  options.timeout = seconds(60);
  Transport transport(options);
  transport.Start();
  Outcomes outcomes;
  transport.Send(Post(server.url()), outcomes.Callback("http1"));
  transport.Send(Post(server.url()), outcomes.Callback("http2"));
  transport.Send(Command("sleep 60", seconds(60)), outcomes.Callback("command"));
  transport.Send(Post(server.url()), outcomes.Callback("queued1"));
  transport.Send(Command("true"), outcomes.Callback("queued2"));
  ASSERT_TRUE(server.WaitForRequests(2));  // two requests in flight, two attempts queued
  EXPECT_EQ(transport.in_flight(), 5u);
  transport.Stop();

  const std::vector<std::string> names = {"http1", "http2", "command", "queued1", "queued2"};
  EXPECT_EQ(outcomes.order().size(), names.size());
  for (const std::string& name : names) {
    EXPECT_EQ(outcomes.Calls(name), 1) << name;
    const Outcome o = outcomes.Get(name);
    EXPECT_FALSE(o.ok) << name;
    EXPECT_EQ(o.reason, FailureReason::kProtocol) << name;
    EXPECT_EQ(o.detail, "transport stopped") << name;
  }
  EXPECT_EQ(transport.in_flight(), 0u);

  // After Stop: refused at once, on this thread.
  bool called = false;
  transport.Send(Post(server.url()), [&](Outcome o) {
    called = true;
    EXPECT_EQ(o.detail, "transport stopped");
  });
  EXPECT_TRUE(called);
  transport.Stop();  // idempotent
}

TEST(TransportTest, StopWithoutStartAbandonsTheQueue) {
  Transport transport(LocalOptions());
  Outcomes outcomes;
  transport.Send(Command("true"), outcomes.Callback("queued"));
  EXPECT_EQ(transport.in_flight(), 1u);
  transport.Stop();
  EXPECT_EQ(outcomes.Calls("queued"), 1);
  EXPECT_EQ(outcomes.Get("queued").detail, "transport stopped");
}

size_t OpenDescriptors() {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                           std::filesystem::directory_iterator()));
}

TEST(TransportTest, LeavesNoDescriptorsOrChildrenBehind) {
  const size_t before = OpenDescriptors();
  {
    HttpResponder server(HttpScript{});
    SmtpResponder mail_server(SmtpMode::kAccept);
    Transport transport(LocalOptions());
    transport.Start();
    EXPECT_TRUE(SendAndWait(transport, Post(server.url())).ok);
    MailDelivery mail;
    mail.smtp_url = mail_server.url();
    mail.from = "overdue@example.com";
    mail.to = {"ops@example.com"};
    mail.message = "Subject: x\r\n\r\nbody\r\n";
    EXPECT_TRUE(SendAndWait(transport, mail).ok);
    EXPECT_TRUE(SendAndWait(transport, Command("echo fine")).ok);
    EXPECT_EQ(SendAndWait(transport, Command("exit 1")).code, 1);
    EXPECT_EQ(SendAndWait(transport, Command("sleep 30", milliseconds(100))).reason,
              FailureReason::kTimeout);
    transport.Send(Command("sleep 30"), [](Outcome) {});
  }  // stops with the last command running
  EXPECT_EQ(OpenDescriptors(), before);
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);  // no child of ours, running or zombie
  EXPECT_EQ(errno, ECHILD);
}

TEST(TransportTest, DoneMaySendAgain) {
  HttpResponder server(HttpScript{});
  Transport transport(LocalOptions());
  transport.Start();
  auto second = std::make_shared<std::promise<Outcome>>();
  auto future = second->get_future();
  transport.Send(Post(server.url()), [&transport, &server, second](Outcome first) {
    EXPECT_TRUE(first.ok);
    transport.Send(Post(server.url()), [second](Outcome o) { second->set_value(std::move(o)); });
  });
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(future.get().ok);
  EXPECT_EQ(server.requests().size(), 2u);
}

// Attempts take easy handles from a pool and connections from curl's cache: each one must see
// only its own delivery's options and report only its own response.

MailDelivery SimpleMail(const std::string& url) {
  MailDelivery d;
  d.smtp_url = url;
  d.from = "overdue@example.com";
  d.to = {"ops@example.com"};
  d.message = "Subject: x\r\n\r\nbody\r\n";
  return d;
}

// CPU time (user + system) this process has used so far.
std::chrono::microseconds ProcessCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

TEST(TransportTest, ReusedHandleKeepsNoOptionOfAnEarlierAttempt) {
  KeepAliveResponder server({Answer(200, "ok")});
  SmtpResponder mail_server(SmtpMode::kAccept);
  TransportOptions options = LocalOptions();
  options.max_parallel = 1;  // one easy handle, reused by every attempt below
  Transport transport(options);
  transport.Start();

  HttpDelivery with_auth = Post(server.url("/1"), "first");
  with_auth.username = "alice";
  with_auth.password = "s3cret";
  with_auth.headers.emplace_back("X-Only-First", "1");
  EXPECT_TRUE(SendAndWait(transport, with_auth).ok);
  HttpDelivery put = Post(server.url("/2"), "second");
  put.method = "PUT";
  EXPECT_TRUE(SendAndWait(transport, put).ok);
  EXPECT_TRUE(SendAndWait(transport, Post(server.url("/3"), "third")).ok);
  const Outcome mail = SendAndWait(transport, SimpleMail(mail_server.url()));
  EXPECT_TRUE(mail.ok) << mail.detail;
  EXPECT_EQ(mail.code, 250);
  HttpDelivery get = Post(server.url("/4"), "");
  get.method = "GET";
  EXPECT_TRUE(SendAndWait(transport, get).ok);
  EXPECT_TRUE(SendAndWait(transport, Post(server.url("/5"), "fifth")).ok);
  HttpDelivery head = Post(server.url("/6"), "");
  head.method = "HEAD";
  EXPECT_TRUE(SendAndWait(transport, head).ok);
  const Outcome last = SendAndWait(transport, Post(server.url("/7"), "seventh"));
  EXPECT_TRUE(last.ok) << last.detail;

  const std::vector<HttpRequest> r = server.requests();
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[0].method, "POST");
  EXPECT_EQ(r[0].body, "first");
  EXPECT_EQ(r[0].headers.count("authorization"), 1u);
  EXPECT_EQ(r[0].headers.count("x-only-first"), 1u);
  EXPECT_EQ(r[1].method, "PUT");
  EXPECT_EQ(r[1].body, "second");
  EXPECT_EQ(r[1].headers.count("authorization"), 0u);
  EXPECT_EQ(r[1].headers.count("x-only-first"), 0u);
  EXPECT_EQ(r[2].method, "POST");  // not PUT again
  EXPECT_EQ(r[2].target, "/3");
  EXPECT_EQ(r[2].body, "third");
  EXPECT_EQ(r[3].method, "GET");
  EXPECT_EQ(r[3].body, "");
  EXPECT_EQ(r[3].headers.count("content-length"), 0u);
  EXPECT_EQ(r[4].method, "POST");
  EXPECT_EQ(r[4].body, "fifth");
  EXPECT_EQ(r[5].method, "HEAD");
  EXPECT_EQ(r[6].method, "POST");
  EXPECT_EQ(r[6].body, "seventh");
  for (const HttpRequest& each : r) {
    EXPECT_EQ(each.headers.at("user-agent"), "overdue");
    EXPECT_EQ(each.headers.count("expect"), 0u);
  }
  ASSERT_EQ(mail_server.mails().size(), 1u);
  EXPECT_EQ(mail_server.mails()[0].from, "<overdue@example.com>");
}

TEST(TransportTest, PostsWithAndWithoutCredentialsDoNotShareThem) {
  KeepAliveResponder server({Answer(204)});
  TransportOptions options = LocalOptions();
  options.max_parallel = 1;
  Transport transport(options);
  transport.Start();
  HttpDelivery alice = Post(server.url());
  alice.username = "alice";
  alice.password = "a";
  HttpDelivery bob = Post(server.url());
  bob.username = "bob";
  bob.password = "b";
  EXPECT_TRUE(SendAndWait(transport, alice).ok);
  EXPECT_TRUE(SendAndWait(transport, bob).ok);
  EXPECT_TRUE(SendAndWait(transport, Post(server.url())).ok);
  EXPECT_TRUE(SendAndWait(transport, alice).ok);
  const std::vector<HttpRequest> r = server.requests();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].headers.at("authorization"), "Basic YWxpY2U6YQ==");  // alice:a
  EXPECT_EQ(r[1].headers.at("authorization"), "Basic Ym9iOmI=");      // bob:b
  EXPECT_EQ(r[2].headers.count("authorization"), 0u);
  EXPECT_EQ(r[3].headers.at("authorization"), "Basic YWxpY2U6YQ==");
}

TEST(TransportTest, EachAttemptOnAKeptConnectionReportsItsOwnResponse) {
  KeepAliveResponder server({Answer(200, "first"), Answer(500, "second"),
                             Answer(429, "third", {"Retry-After: 3"}), Answer(404, "fourth"),
                             Answer(204)});
  Transport transport(LocalOptions());
  transport.Start();
  const Outcome first = SendAndWait(transport, Post(server.url()));
  const Outcome second = SendAndWait(transport, Post(server.url()));
  const Outcome third = SendAndWait(transport, Post(server.url()));
  const Outcome fourth = SendAndWait(transport, Post(server.url()));
  const Outcome fifth = SendAndWait(transport, Post(server.url()));
  EXPECT_TRUE(first.ok);
  EXPECT_EQ(first.code, 200);
  EXPECT_EQ(first.detail, "first");
  EXPECT_EQ(second.reason, FailureReason::kServerError);
  EXPECT_EQ(second.code, 500);
  EXPECT_EQ(second.detail, "second");
  EXPECT_EQ(third.reason, FailureReason::kRateLimited);
  EXPECT_EQ(third.code, 429);
  EXPECT_EQ(third.detail, "third");
  ASSERT_TRUE(third.retry_after.has_value());
  EXPECT_EQ(*third.retry_after, seconds(3));
  EXPECT_EQ(fourth.reason, FailureReason::kClientError);
  EXPECT_EQ(fourth.code, 404);
  EXPECT_EQ(fourth.detail, "fourth");
  EXPECT_FALSE(fourth.retry_after.has_value());
  EXPECT_TRUE(fifth.ok);
  EXPECT_EQ(fifth.code, 204);
  EXPECT_EQ(fifth.detail, "");
  EXPECT_EQ(server.connections(), 1);  // all five over one kept-alive connection
}

TEST(TransportTest, ManySequentialAttemptsShareOneConnection) {
  KeepAliveResponder server({Answer(204)});
  Transport transport(LocalOptions());
  transport.Start();
  for (int i = 0; i < 300; ++i) {
    std::string path = "/";
    path += std::to_string(i);
    const Outcome o = SendAndWait(transport, Post(server.url(path)));
    ASSERT_TRUE(o.ok) << i << ": " << o.detail;
  }
  const std::vector<HttpRequest> r = server.requests();
  ASSERT_EQ(r.size(), 300u);
  for (int i = 0; i < 300; ++i) {
    std::string path = "/";
    path += std::to_string(i);
    EXPECT_EQ(r[i].target, path);
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST(TransportTest, ParallelAttemptsReuseTheirConnectionsNextTime) {
  KeepAliveResponder server({Delayed(milliseconds(50))});
  TransportOptions options = LocalOptions();
  options.max_parallel = 16;
  Transport transport(options);
  transport.Start();
  for (int round = 0; round < 3; ++round) {
    Outcomes outcomes;
    for (int i = 0; i < 16; ++i) {
      transport.Send(Post(server.url()), outcomes.Callback(std::to_string(i)));
    }
    ASSERT_TRUE(outcomes.WaitFor(16));
    for (int i = 0; i < 16; ++i) EXPECT_TRUE(outcomes.Get(std::to_string(i)).ok);
  }
  EXPECT_EQ(server.requests().size(), 48u);
  EXPECT_LE(server.connections(), 16);
}

TEST(TransportTest, ResponseReadInPiecesIsComplete) {
  KeepAliveResponder server({Answer(200, std::string(3000, 'x') + "end")}, /*pieces=*/5,
                            /*piece_gap=*/milliseconds(20));
  TransportOptions options = LocalOptions();
  options.max_response_bytes = 8192;
  Transport transport(options);
  transport.Start();
  for (int i = 0; i < 3; ++i) {
    const Outcome o = SendAndWait(transport, Post(server.url()));
    EXPECT_TRUE(o.ok) << o.detail;
    EXPECT_EQ(o.detail, std::string(3000, 'x') + "end");
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST(TransportTest, ConnectionClosedByTheReceiverWhileIdleIsReplaced) {
  KeepAliveResponder server({Answer(200, "ok")}, 1, milliseconds(0), /*close_after_answer=*/true);
  Transport transport(LocalOptions());
  transport.Start();
  EXPECT_TRUE(SendAndWait(transport, Post(server.url())).ok);
  // The receiver has closed the idle connection: the loop must neither spin on it nor send
  // the next request into it.
  const auto cpu_before = ProcessCpu();
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_LT(ProcessCpu() - cpu_before, milliseconds(150));
  const Outcome o = SendAndWait(transport, Post(server.url()));
  EXPECT_TRUE(o.ok) << o.detail;
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.connections(), 2);
}

TEST(TransportTest, NameWithSeveralAddressesConnectsToTheOneListening) {
  // The name goes through curl's threaded resolver (whose socket joins the epoll set for a
  // while) and, where it resolves to ::1 as well, through a refused socket to ::1; the
  // connection to 127.0.0.1 then serves every attempt.
  KeepAliveResponder server({Answer(204)});
  Transport transport(LocalOptions());
  transport.Start();
  std::string url = "http://localhost:";
  url += std::to_string(server.port());
  url += "/hook";
  for (int i = 0; i < 3; ++i) {
    const Outcome o = SendAndWait(transport, Post(url));
    EXPECT_TRUE(o.ok) << o.detail;
  }
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.connections(), 1);
}

TEST(TransportTest, BlockedAddressStaysBlockedAttemptAfterAttempt) {
  KeepAliveResponder server({Answer(204)});
  TransportOptions options = LocalOptions();
  options.allow_private = false;
  options.max_parallel = 1;
  Transport transport(options);
  transport.Start();
  for (int i = 0; i < 3; ++i) {
    const Outcome o = SendAndWait(transport, Post(server.url()));
    EXPECT_EQ(o.reason, FailureReason::kBlocked) << o.detail;
    EXPECT_NE(o.detail.find("127.0.0.1"), std::string::npos) << o.detail;
  }
  EXPECT_EQ(server.connections(), 0);
}

TEST(TransportTest, InvalidDeliveryLeavesTheHandleUsable) {
  KeepAliveResponder server({Answer(204)});
  TransportOptions options = LocalOptions();
  options.max_parallel = 1;
  Transport transport(options);
  transport.Start();
  EXPECT_TRUE(SendAndWait(transport, Post(server.url())).ok);
  HttpDelivery bad = Post(server.url(), "bad");
  bad.headers.emplace_back("X-Bad", "line\r\nbreak");
  EXPECT_EQ(SendAndWait(transport, bad).reason, FailureReason::kClientError);
  HttpDelivery bad_method = Post(server.url(), "bad");
  bad_method.method = "PO ST";
  EXPECT_EQ(SendAndWait(transport, bad_method).reason, FailureReason::kClientError);
  const Outcome o = SendAndWait(transport, Post(server.url(), "good"));
  EXPECT_TRUE(o.ok) << o.detail;
  const std::vector<HttpRequest> r = server.requests();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].body, "good");
  EXPECT_EQ(r[1].headers.count("x-bad"), 0u);
}

TEST(TransportTest, SendsFromManyThreadsAreAllDelivered) {
  KeepAliveResponder server({Answer(204)});
  TransportOptions options = LocalOptions();
  options.max_parallel = 8;
  Transport transport(options);
  transport.Start();
  constexpr int kThreads = 4;
  constexpr int kEach = 250;
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  std::promise<void> all;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        transport.Send(Post(server.url()), [&](Outcome o) {
          if (o.ok) ++ok;
          if (++done == kThreads * kEach) all.set_value();
        });
        if (i % 50 == 0) std::this_thread::sleep_for(milliseconds(1));
      }
    });
  }
  for (std::thread& t : senders) t.join();
  ASSERT_EQ(all.get_future().wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(ok.load(), kThreads * kEach);
  EXPECT_EQ(transport.in_flight(), 0u);
  EXPECT_LE(server.connections(), 8);
}

TEST(TransportTest, StopAbandonsAttemptsOnKeptConnections) {
  KeepAliveResponder server({Answer(204), Delayed(seconds(60))});
  TransportOptions options = LocalOptions();
  options.timeout = seconds(60);
  Transport transport(options);
  transport.Start();
  EXPECT_TRUE(SendAndWait(transport, Post(server.url())).ok);
  Outcomes outcomes;
  transport.Send(Post(server.url()), outcomes.Callback("waiting"));
  while (server.requests().size() < 2) std::this_thread::sleep_for(milliseconds(5));
  transport.Stop();
  EXPECT_EQ(outcomes.Calls("waiting"), 1);
  EXPECT_EQ(outcomes.Get("waiting").detail, "transport stopped");
}

}  // namespace
}  // namespace overdue::notify
