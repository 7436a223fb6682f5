#include "http/server.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace overdue::http {
namespace {

using std::chrono::milliseconds;

// Polls `condition` until it holds or `timeout` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

struct RawResponse {
  int status = -1;  // -1: connection closed or timed out before a whole response
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A blocking client on plain sockets, so tests control every byte and every pause. Every
// receive gives up after 5 s so a broken server fails a test instead of hanging it.
class Client {
 public:
  explicit Client(uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response. `head`: the response to a HEAD request (no body follows).
  RawResponse Read(bool head = false) {
    RawResponse r;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    const std::string head_text = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    if (status_line.size() < 12) return r;
    const int status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head_text.find("\r\n", start);
      const std::string line = head_text.substr(start, line_end - start);
      const size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    size_t length = 0;
    if (!head && status >= 200 && r.headers.count("content-length")) {
      length = std::stoul(r.headers["content-length"]);
    }
    while (buffer_.size() < length) {
      if (!Fill()) return r;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    r.status = status;
    return r;
  }

  // True if the server closes the connection (EOF or reset) without sending anything more.
  bool ClosedSilently() {
    if (!buffer_.empty()) return false;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool Fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

// Replies "<method> <path> <query> <body>" at once.
void Echo(Request&& request, Reply reply) {
  Response r;
  r.content_type = "text/plain";
  r.body = request.method + " " + request.path + " " + request.query + " " + request.body;
  reply(std::move(r));
}

ServerOptions ShortTimeouts() {
  ServerOptions o;
  o.threads = 2;
  o.read_timeout = milliseconds(3000);
  o.idle_timeout = milliseconds(3000);
  o.write_timeout = milliseconds(3000);
  return o;
}

// A started server on 127.0.0.1:0 that counts handler calls.
class TestServer {
 public:
  TestServer(ServerOptions options, Handler handler)
      : server_(std::move(options),
                [this, handler = std::move(handler)](Request&& request, Reply reply) {
                  calls_.fetch_add(1);
                  handler(std::move(request), std::move(reply));
                }) {
    auto port = server_.Listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok());
    port_ = port.ok() ? port.value() : 0;
    server_.Start();
  }
  Server& server() { return server_; }
  uint16_t port() const { return port_; }
  int calls() const { return calls_.load(); }
  Server::Stats stats() const { return server_.GetStats(); }

 private:
  std::atomic<int> calls_{0};
  Server server_;
  uint16_t port_ = 0;
};

// Replies the test holds and completes later, from its own thread.
class HeldReplies {
 public:
  Handler handler() {
    return [this](Request&& request, Reply reply) {
      std::lock_guard<std::mutex> lock(mu_);
      paths_.push_back(request.path);
      replies_.push_back(std::move(reply));
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return replies_.size();
  }
  Reply Take(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(replies_[i]);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> paths_;
  std::vector<Reply> replies_;
};

Response Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/n/" + std::to_string(i) + "?x=1")));
    const RawResponse r = c.Read();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "GET /n/" + std::to_string(i) + " x=1 ");
    EXPECT_EQ(r.Header("content-length"), std::to_string(r.body.size()));
    EXPECT_EQ(r.Header("content-type"), "text/plain");
    EXPECT_EQ(r.Header("connection"), "");
    EXPECT_FALSE(r.Header("date").empty());
  }
  EXPECT_EQ(ts.stats().connections_total, 1u);
  EXPECT_EQ(ts.stats().requests_total, 3u);
}

TEST(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/a") + Get("/b") +
                     "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"));
  EXPECT_EQ(c.Read().body, "GET /a  ");
  EXPECT_EQ(c.Read().body, "GET /b  ");
  EXPECT_EQ(c.Read().body, "POST /c  xyz");
}

TEST(ServerTest, HeadGetsContentLengthAndNoBody) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + Get("/g")));
  const RawResponse head = c.Read(/*head=*/true);
  ASSERT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), std::to_string(std::string("HEAD /h  ").size()));
  // Had the HEAD response carried a body, its bytes would precede this status line.
  const RawResponse get = c.Read();
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "GET /g  ");
}

TEST(ServerTest, ConnectionCloseIsHonoured) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/", "Connection: close\r\n")));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_TRUE(c.ClosedSilently());
}

TEST(ServerTest, Http10ClosesUnlessKeepAliveAsked) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  const RawResponse r1 = c.Read();
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.Header("connection"), "keep-alive");
  ASSERT_TRUE(c.Send("GET /2 HTTP/1.0\r\n\r\n"));
  const RawResponse r2 = c.Read();
  EXPECT_EQ(r2.body, "GET /2  ");
  EXPECT_EQ(r2.Header("connection"), "close");
  EXPECT_TRUE(c.ClosedSilently());
}

TEST(ServerTest, ChunkedBodyReachesHandler) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(
      c.Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  EXPECT_EQ(c.Read().body, "POST /p  abcde");
}

TEST(ServerTest, ExpectContinueGets100BeforeTheBody) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(
      c.Send("PUT /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 100);
  ASSERT_TRUE(c.Send("hello"));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "PUT /e  hello");
}

TEST(ServerTest, RequestCarriesHeadersRemoteAddrAndDecodedQuery) {
  TestServer ts(ShortTimeouts(), [](Request&& request, Reply reply) {
    const std::string* ua = request.Header("user-agent");
    reply(Text(200, request.remote_addr + "|" + (ua ? *ua : "-") + "|" +
                        request.QueryParam("rid").value_or("none") + "|" + request.target));
  });
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/ping/x?create=1&rid=a%2Fb+c", "User-Agent: curl/8\r\n")));
  EXPECT_EQ(c.Read().body, "127.0.0.1|curl/8|a/b c|/ping/x?create=1&rid=a%2Fb+c");
}

TEST(ServerTest, HandlerMayReplyLaterFromAnotherThread) {
  HeldReplies held;
  TestServer ts(ShortTimeouts(), held.handler());
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/later")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 1; }));
  std::thread replier([reply = held.Take(0)]() mutable { reply(Text(201, "Created")); });
  replier.join();
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "Created");
  EXPECT_EQ(r.Header("content-type"), "text/html; charset=utf-8");
  // The connection stays usable after an asynchronous reply.
  ASSERT_TRUE(c.Send(Get("/again")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 2; }));
  held.Take(1)(Text(200, "OK"));
  EXPECT_EQ(c.Read().body, "OK");
}

TEST(ServerTest, ReplyAfterClientDisconnectIsDropped) {
  HeldReplies held;
  TestServer ts(ShortTimeouts(), held.handler());
  {
    Client c(ts.port());
    ASSERT_TRUE(c.Send(Get("/gone")));
    ASSERT_TRUE(WaitUntil([&] { return held.size() == 1; }));
  }
  std::thread([reply = held.Take(0)]() mutable { reply(Text(200, "OK")); }).join();
  EXPECT_TRUE(WaitUntil([&] { return ts.stats().connections_open == 0; }));
  Client next(ts.port());
  ASSERT_TRUE(next.Send(Get("/next")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 2; }));
  held.Take(1)(Text(200, "still here"));
  EXPECT_EQ(next.Read().body, "still here");
}

TEST(ServerTest, DroppedReplyAnswers500) {
  TestServer ts(ShortTimeouts(), [](Request&&, Reply) {});
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/forgotten")));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "internal error");
}

TEST(ServerTest, ReplyDroppedLaterOnAnotherThreadAnswers500) {
  HeldReplies held;
  TestServer ts(ShortTimeouts(), held.handler());
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/x")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 1; }));
  std::thread([reply = held.Take(0)]() mutable { Reply discard = std::move(reply); }).join();
  EXPECT_EQ(c.Read().status, 500);
}

TEST(ServerTest, InvalidStatusFromHandlerBecomes500) {
  TestServer ts(ShortTimeouts(), [](Request&&, Reply reply) { reply(Text(42, "?")); });
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/")));
  EXPECT_EQ(c.Read().status, 500);
}

TEST(ServerTest, ResponseHeadersWithLineBreaksAreDropped) {
  TestServer ts(ShortTimeouts(), [](Request&&, Reply reply) {
    Response r = Text(200, "ok");
    r.headers = {{"X-Good", "1"}, {"X-Bad", "a\r\nSet-Cookie: evil=1"}};
    reply(std::move(r));
  });
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/")));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.Header("x-good"), "1");
  EXPECT_EQ(r.headers.count("x-bad"), 0u);
  EXPECT_EQ(r.headers.count("set-cookie"), 0u);
}

TEST(ServerTest, CallbackReplyForHandlerTests) {
  std::optional<Response> got;
  {
    Reply reply([&](Response r) { got = std::move(r); });
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 500);
  Reply reply([&](Response r) { got = std::move(r); });
  EXPECT_TRUE(static_cast<bool>(reply));
  reply(Text(204, ""));
  EXPECT_FALSE(static_cast<bool>(reply));
  EXPECT_EQ(got->status, 204);
}

// ---- limits -------------------------------------------------------------------------------

TEST(ServerTest, HeaderSectionOverLimitGets431) {
  ServerOptions o = ShortTimeouts();
  o.max_header_bytes = 1024;
  TestServer ts(o, Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/", "X-Flood: " + std::string(2000, 'a') + "\r\n")));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_TRUE(c.ClosedSilently());
  EXPECT_EQ(ts.calls(), 0);
  EXPECT_EQ(ts.stats().bad_requests, 1u);
}

TEST(ServerTest, TooManyHeaderFieldsGets431) {
  TestServer ts(ShortTimeouts(), Echo);
  std::string many;
  for (int i = 0; i < 150; ++i) {
    many.append("A").append(std::to_string(i)).append(": b\r\n");
  }
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/", many)));
  EXPECT_EQ(c.Read().status, 431);
  EXPECT_EQ(ts.calls(), 0);
}

TEST(ServerTest, DeclaredBodyOverLimitGets413BeforeTheBodyIsSent) {
  ServerOptions o = ShortTimeouts();
  o.max_body_bytes = 100;
  TestServer ts(o, Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n"));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "payload too large: limit 100 bytes");
  EXPECT_EQ(ts.calls(), 0);
}

TEST(ServerTest, BodyAtLimitIsAccepted) {
  ServerOptions o = ShortTimeouts();
  o.max_body_bytes = 100;
  TestServer ts(o, Echo);
  Client c(ts.port());
  ASSERT_TRUE(
      c.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b')));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /  " + std::string(100, 'b'));
}

TEST(ServerTest, ChunkedBodyOverLimitGets413) {
  ServerOptions o = ShortTimeouts();
  o.max_body_bytes = 10;
  TestServer ts(o, Echo);
  Client c(ts.port());
  ASSERT_TRUE(
      c.Send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 413);
  EXPECT_EQ(ts.calls(), 0);
}

// Only the large-body route gets the larger limit, declared or chunked; one connection sends
// both, so the limit is per request, not per connection.
TEST(ServerTest, LargeBodyRouteHasItsOwnLimit) {
  ServerOptions o = ShortTimeouts();
  o.max_body_bytes = 10;
  o.large_body_path = "/import";
  o.large_body_bytes = 100;
  TestServer ts(o, Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send("POST /import HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n" +
                     std::string(50, 'i')));
  const RawResponse big = c.Read();
  EXPECT_EQ(big.status, 200);
  EXPECT_EQ(big.body, "POST /import  " + std::string(50, 'i'));
  ASSERT_TRUE(
      c.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n" + std::string(50, 'x')));
  const RawResponse small = c.Read();
  EXPECT_EQ(small.status, 413);
  EXPECT_EQ(small.body, "payload too large: limit 10 bytes");

  Client chunked(ts.port());
  ASSERT_TRUE(
      chunked.Send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"));
  EXPECT_EQ(chunked.Read().status, 413);
  Client over(ts.port());
  ASSERT_TRUE(over.Send("POST /import HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n"));
  const RawResponse r = over.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "payload too large: limit 100 bytes");
  EXPECT_EQ(ts.calls(), 1);
}

TEST(ServerTest, SlowClientGets408) {
  ServerOptions o = ShortTimeouts();
  o.read_timeout = milliseconds(200);
  TestServer ts(o, Echo);
  Client c(ts.port());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.Send("GET /slow HTTP/1.1\r\nHost: t\r\n"));  // never finishes the header
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.body, "request timeout");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(190));
  EXPECT_TRUE(c.ClosedSilently());
  EXPECT_EQ(ts.stats().timeouts, 1u);
  EXPECT_EQ(ts.calls(), 0);
}

TEST(ServerTest, TricklingBytesDoesNotExtendTheReadTimeout) {
  ServerOptions o = ShortTimeouts();
  o.read_timeout = milliseconds(300);
  TestServer ts(o, Echo);
  Client c(ts.port());
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    const std::string partial =
        "GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (char ch : partial) {
      if (done.load() || !c.Send(std::string(1, ch))) break;
      std::this_thread::sleep_for(milliseconds(20));  // the attack itself: one byte per 20 ms
    }
  });
  const RawResponse r = c.Read();
  done.store(true);
  trickle.join();
  EXPECT_EQ(r.status, 408);
}

TEST(ServerTest, SlowSecondRequestOnKeepAliveGets408) {
  ServerOptions o = ShortTimeouts();
  o.read_timeout = milliseconds(150);
  TestServer ts(o, Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/fast")));
  ASSERT_EQ(c.Read().status, 200);
  ASSERT_TRUE(c.Send("GET /slow HTTP/1.1\r\n"));
  EXPECT_EQ(c.Read().status, 408);
}

TEST(ServerTest, BusyKeepAliveConnectionOutlivesTheReadTimeout) {
  ServerOptions o = ShortTimeouts();
  o.read_timeout = milliseconds(100);
  o.idle_timeout = milliseconds(100);
  TestServer ts(o, Echo);
  Client c(ts.port());
  const auto until = std::chrono::steady_clock::now() + milliseconds(400);
  int answered = 0;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(c.Send(Get(std::string("/").append(std::to_string(answered)))));
    ASSERT_EQ(c.Read().status, 200) << "after " << answered << " requests";
    ++answered;
    std::this_thread::sleep_for(milliseconds(20));  // a client pausing between requests
  }
  EXPECT_EQ(ts.stats().connections_total, 1u);
  EXPECT_EQ(ts.stats().timeouts, 0u);
}

TEST(ServerTest, IdleKeepAliveIsClosedSilently) {
  ServerOptions o = ShortTimeouts();
  o.idle_timeout = milliseconds(100);
  TestServer ts(o, Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/")));
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_TRUE(c.ClosedSilently());
  EXPECT_TRUE(WaitUntil([&] { return ts.stats().connections_open == 0; }));
  EXPECT_EQ(ts.stats().timeouts, 0u);
}

TEST(ServerTest, ConnectionsOverLimitGet503) {
  ServerOptions o = ShortTimeouts();
  o.max_connections = 1;
  TestServer ts(o, Echo);
  Client first(ts.port());
  ASSERT_TRUE(first.Send(Get("/1")));
  ASSERT_EQ(first.Read().status, 200);
  Client second(ts.port());
  ASSERT_TRUE(second.Send(Get("/2")));
  const RawResponse r = second.Read();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "too many connections");
  EXPECT_TRUE(second.ClosedSilently());
  EXPECT_EQ(ts.stats().rejected_connections, 1u);
  first.Close();
  ASSERT_TRUE(WaitUntil([&] { return ts.stats().connections_open == 0; }));
  Client third(ts.port());
  ASSERT_TRUE(third.Send(Get("/3")));
  EXPECT_EQ(third.Read().status, 200);
  EXPECT_EQ(ts.calls(), 2);
}

TEST(ServerTest, MalformedRequestLineGets400) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send("GET /a b c HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("bad request: ", 0), 0u) << r.body;
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_EQ(ts.calls(), 0);
  EXPECT_EQ(ts.stats().bad_requests, 1u);
}

TEST(ServerTest, BadContentLengthGets400) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n"));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "bad request: invalid Content-Length");
}

TEST(ServerTest, Http11WithoutHostGets400) {
  TestServer ts(ShortTimeouts(), Echo);
  Client c(ts.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\n\r\n"));
  const RawResponse r = c.Read();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "bad request: missing Host header");
  EXPECT_EQ(ts.calls(), 0);
}

TEST(ServerTest, PeerThatDoesNotReadIsClosedAfterWriteTimeout) {
  ServerOptions o = ShortTimeouts();
  o.write_timeout = milliseconds(200);
  TestServer ts(o, [](Request&&, Reply reply) { reply(Text(200, std::string(32 << 20, 'x'))); });
  Client c(ts.port(), /*receive_buffer=*/4096);
  ASSERT_TRUE(c.Send(Get("/big")));
  // The client never reads: 32 MiB cannot fit in the socket buffers.
  EXPECT_TRUE(WaitUntil([&] { return ts.stats().timeouts == 1; }));
  EXPECT_TRUE(WaitUntil([&] { return ts.stats().connections_open == 0; }));
}

// ---- stop -------------------------------------------------------------------------------

// classify/observe time a request from the handler's call to its response being written,
// by the class classify gives; class -1 is not timed.
TEST(ServerTest, ClassifiedRequestsAreTimedUntilTheirResponseIsWritten) {
  std::mutex mu;
  std::vector<std::pair<int, std::chrono::nanoseconds>> seen;
  ServerOptions o = ShortTimeouts();
  o.classify = [](const Request& r) { return r.path == "/timed" ? 7 : -1; };
  o.observe = [&](int cls, std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(cls, d);
  };
  auto observations = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  };
  HeldReplies held;
  TestServer ts(o, held.handler());
  Client c(ts.port());
  ASSERT_TRUE(c.Send(Get("/untimed")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 1; }));
  held.Take(0)(Text(200, "a"));
  ASSERT_EQ(c.Read().status, 200);

  ASSERT_TRUE(c.Send(Get("/timed")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 2; }));
  const auto held_at = std::chrono::steady_clock::now();
  Reply reply = held.Take(1);
  // The reply comes later, from another thread (as a ping's does after its commit).
  std::this_thread::sleep_for(milliseconds(40));
  const auto held_for = std::chrono::steady_clock::now() - held_at;
  std::thread([&reply] { reply(Text(200, "b")); }).join();
  ASSERT_EQ(c.Read().status, 200);
  ASSERT_TRUE(WaitUntil([&] { return observations().size() == 1; }));
  const auto timed = observations();
  EXPECT_EQ(timed[0].first, 7);
  EXPECT_GE(timed[0].second, held_for);
  EXPECT_LT(timed[0].second, std::chrono::seconds(5));

  // The untimed request before it was not observed, and a request answered in place is.
  ASSERT_TRUE(c.Send(Get("/timed")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 3; }));
  held.Take(2)(Text(204, ""));
  ASSERT_EQ(c.Read().status, 204);
  ASSERT_TRUE(WaitUntil([&] { return observations().size() == 2; }));
  EXPECT_EQ(observations()[1].first, 7);
}

TEST(ServerTest, GracefulStopWaitsForPendingReply) {
  HeldReplies held;
  auto ts = std::make_unique<TestServer>(ShortTimeouts(), held.handler());
  Client idle(ts->port());
  ASSERT_TRUE(idle.Send(Get("/idle")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 1; }));
  held.Take(0)(Text(200, "first"));
  ASSERT_EQ(idle.Read().status, 200);

  Client busy(ts->port());
  ASSERT_TRUE(busy.Send(Get("/busy")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 2; }));

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    ts->server().Stop(milliseconds(5000));
    stopped.store(true);
  });
  EXPECT_TRUE(idle.ClosedSilently());  // Stop closes idle keep-alive connections at once
  EXPECT_FALSE(stopped.load());        // ... but waits for the pending reply
  held.Take(1)(Text(200, "after commit"));
  const RawResponse r = busy.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "after commit");
  EXPECT_EQ(r.Header("connection"), "close");
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_FALSE(Client(ts->port()).connected());  // no longer accepting
}

TEST(ServerTest, StopClosesPendingConnectionsAfterDrainAndLateReplyIsSafe) {
  HeldReplies held;
  auto ts = std::make_unique<TestServer>(ShortTimeouts(), held.handler());
  Client c(ts->port());
  ASSERT_TRUE(c.Send(Get("/stuck")));
  ASSERT_TRUE(WaitUntil([&] { return held.size() == 1; }));
  Reply late = held.Take(0);
  ts->server().Stop(milliseconds(50));
  EXPECT_TRUE(c.ClosedSilently());
  ts.reset();  // the server is gone; the Reply keeps what it needs alive
  std::thread([reply = std::move(late)]() mutable { reply(Text(200, "too late")); }).join();
}

TEST(ServerTest, DestroyingServerWithUnansweredReplyIsSafe) {
  HeldReplies held;
  std::optional<Reply> kept;
  {
    TestServer ts(ShortTimeouts(), held.handler());
    Client c(ts.port());
    ASSERT_TRUE(c.Send(Get("/x")));
    ASSERT_TRUE(WaitUntil([&] { return held.size() == 1; }));
    kept.emplace(held.Take(0));
  }
  kept.reset();  // destroyed unanswered after the server: its 500 goes nowhere, safely
}

TEST(ServerTest, ListenRejectsBadHost) {
  Server server(ShortTimeouts(), Echo);
  auto port = server.Listen("not-an-ip", 0);
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.error().message.find("not-an-ip"), std::string::npos);
}

TEST(ServerTest, ListenReportsAddressInUse) {
  Server a(ShortTimeouts(), Echo);
  auto port = a.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  Server b(ShortTimeouts(), Echo);
  auto again = b.Listen("127.0.0.1", port.value());
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("bind"), std::string::npos);
}

}  // namespace
}  // namespace overdue::http
