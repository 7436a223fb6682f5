// Transport cost per HTTP attempt: webhook-like POSTs (an ~800-byte JSON body, five headers)
// to a minimal keep-alive HTTP/1.1 receiver on 127.0.0.1 that answers 204 to every request.
// Three runs of N attempts each:
//   burst  all handed to Send at once, the receiver answering at once;
//   paced  one Send at a time at a steady rate, as the notifier hands them over during an
//          incident storm (each Send may wake the transport's loop);
//   slow   paced, but the receiver answers each request only after a delay, as a remote
//          receiver does, so that many attempts are in flight while more arrive.
//
//   transport_bench [--attempts=20000] [--parallel=256] [--rate=10000] [--latency-ms=20]
//                   [--runs=burst,paced,slow] [--client=transport|raw]
//
// --client=raw sends the same requests through RawClient below instead of the Transport: a
// minimal HTTP/1.1 client (one epoll thread, keep-alive connections opened up front, no URL
// parsing, no TLS, no timeouts, little work beyond writing the request's text). It is not a
// product path: it is the floor against which libcurl's cost per attempt is measured
// (BENCHMARKS.md).
//
// Prints, per run, attempts/s (wall, first Send to last `done`) and CPU per attempt: of the
// sending thread (the Transport's or the raw client's; its CPU clock, read from outside), of the
// receiver thread, and of the whole process (which includes the thread handing the attempts
// over). The receiver runs in this process, on one epoll thread. A warm-up of --parallel attempts
// opens the connections first.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "base/mutex.h"
#include "notify/transport.h"

namespace overdue::notify {
namespace {

constexpr char kResponse[] = "HTTP/1.1 204 No Content\r\nServer: bench\r\n\r\n";
constexpr size_t kBodyBytes = 800;

double Seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Content-Length of the header block `head` (request line and headers, no final CRLF CRLF),
// 0 when absent.
size_t ContentLength(std::string_view head) {
  constexpr std::string_view kName = "content-length:";
  size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
    pos += 2;
    if (head.size() - pos < kName.size()) break;
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      char c = head[pos + i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      match = c == kName[i];
    }
    if (match) return std::strtoul(head.data() + pos + kName.size(), nullptr, 10);
  }
  return 0;
}

// Adds `fd` to the epoll set `epoll_fd`, for reading.
void WatchIn(int epoll_fd, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

// Sends all of `rest` on the non-blocking socket `fd`; false if the socket failed. Requests and
// responses here are small and the other side reads them at once, so a short blocking retry is
// enough for a bench.
bool SendAll(int fd, std::string_view rest) {
  while (!rest.empty()) {
    const ssize_t w = send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (w > 0) {
      rest.remove_prefix(static_cast<size_t>(w));
    } else if (w < 0 && errno == EAGAIN) {
      std::this_thread::yield();
    } else {
      return false;
    }
  }
  return true;
}

// Answers 204 to every request on every connection, keeping connections open, on one thread;
// each answer `latency` after the request arrived.
class Receiver {
 public:
  Receiver() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 1024) != 0) {
      std::perror("bind/listen");
      std::exit(1);
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    WatchIn(epoll_fd_, listen_fd_);
    WatchIn(epoll_fd_, stop_fd_);
    thread_ = std::thread([this] { Run(); });
    pthread_getcpuclockid(thread_.native_handle(), &cpu_clock_);
  }
  ~Receiver() {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    thread_.join();
    for (auto& [fd, buffer] : connections_) close(fd);
    close(stop_fd_);
    close(epoll_fd_);
    close(listen_fd_);
  }

  int port() const { return port_; }
  double CpuSeconds() const { return Seconds(cpu_clock_); }
  uint64_t requests() const { return requests_.load(); }
  uint64_t connections() const { return accepted_.load(); }
  void set_latency(std::chrono::milliseconds latency) { latency_ns_ = latency.count() * 1000000; }

 private:
  struct Pending {
    double due;  // CLOCK_MONOTONIC seconds
    int fd;
  };

  void Run() {
    epoll_event events[256];
    char chunk[64 * 1024];
    while (true) {
      int timeout = -1;
      if (!pending_.empty()) {
        const double left = pending_.front().due - Seconds(CLOCK_MONOTONIC);
        timeout = left <= 0 ? 0 : static_cast<int>(left * 1000) + 1;
      }
      const int n = epoll_wait(epoll_fd_, events, 256, timeout);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == stop_fd_) return;
        if (fd == listen_fd_) {
          int c;
          while ((c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
            connections_[c];
            accepted_.fetch_add(1, std::memory_order_relaxed);
            WatchIn(epoll_fd_, c);
          }
          continue;
        }
        std::string& in = connections_[fd];
        ssize_t got;
        while ((got = read(fd, chunk, sizeof chunk)) > 0) {
          in.append(chunk, static_cast<size_t>(got));
        }
        size_t answers = 0;
        size_t begin = 0;
        while (true) {
          const size_t end = in.find("\r\n\r\n", begin);
          if (end == std::string::npos) break;
          const size_t total =
              end + 4 + ContentLength(std::string_view(in).substr(begin, end - begin));
          if (in.size() < total) break;
          ++answers;
          begin = total;
          requests_.fetch_add(1, std::memory_order_relaxed);
        }
        in.erase(0, begin);
        const int64_t latency_ns = latency_ns_.load();
        if (latency_ns == 0) {
          Answer(fd, answers);
        } else {
          const double due = Seconds(CLOCK_MONOTONIC) + static_cast<double>(latency_ns) * 1e-9;
          for (size_t k = 0; k < answers; ++k) pending_.push_back(Pending{due, fd});
        }
        if (got == 0 || (got < 0 && errno != EAGAIN)) {
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
          connections_.erase(fd);
          close(fd);
        }
      }
      const double now = Seconds(CLOCK_MONOTONIC);
      while (!pending_.empty() && pending_.front().due <= now) {
        if (connections_.count(pending_.front().fd)) Answer(pending_.front().fd, 1);
        pending_.pop_front();
      }
    }
  }

  static void Answer(int fd, size_t count) {
    std::string out;
    for (size_t k = 0; k < count; ++k) out += kResponse;
    SendAll(fd, out);
  }

  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  int port_ = 0;
  clockid_t cpu_clock_{};
  std::thread thread_;
  std::unordered_map<int, std::string> connections_;  // receiver thread only
  std::deque<Pending> pending_;                       // receiver thread only, by due time
  std::atomic<int64_t> latency_ns_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> accepted_{0};
};

// A minimal HTTP/1.1 client on one epoll thread, for comparison with the Transport: `parallel`
// keep-alive connections to 127.0.0.1:`port`, opened up front; Send queues a request (and wakes
// the thread as Transport::Send does); each response is read up to its end (headers and
// Content-Length) and `done` runs on the client's thread with whether the status was 2xx.
class RawClient {
 public:
  using Done = std::function<void(bool ok)>;

  RawClient(int port, size_t parallel) : port_(port) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    WatchIn(epoll_fd_, wake_fd_);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    for (size_t i = 0; i < parallel; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::perror("connect");
        std::exit(1);
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      connections_[fd];
      idle_.push_back(fd);
      WatchIn(epoll_fd_, fd);
    }
    thread_ = std::thread([this] { Run(); });
    pthread_getcpuclockid(thread_.native_handle(), &cpu_clock_);
  }
  ~RawClient() {
    {
      base::MutexLock lock(&mu_);
      stopping_ = true;
    }
    Wake();
    thread_.join();
    for (auto& [fd, c] : connections_) close(fd);
    close(wake_fd_);
    close(epoll_fd_);
  }

  double CpuSeconds() const { return Seconds(cpu_clock_); }

  void Send(HttpDelivery d, Done done) {
    bool wake;
    {
      base::MutexLock lock(&mu_);
      wake = queue_.empty();
      queue_.push_back(Request{std::move(d), std::move(done)});
    }
    if (wake) Wake();
  }

 private:
  struct Request {
    HttpDelivery delivery;
    Done done;
  };
  struct Connection {
    std::string in;
    Done done;  // of the request in flight; empty when idle
  };

  void Wake() {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
  }

  // The request's text: its URL is "http://127.0.0.1:<port><path>", as Webhook() makes it.
  std::string Text(const HttpDelivery& d) const {
    const size_t path = d.url.find('/', sizeof "http://" - 1);
    std::string out;
    out.reserve(256 + d.body.size());
    out += d.method;
    out += ' ';
    out += path == std::string::npos ? std::string_view("/") : std::string_view(d.url).substr(path);
    out += " HTTP/1.1\r\nHost: 127.0.0.1:";
    out += std::to_string(port_);
    out += "\r\nUser-Agent: overdue\r\nAccept: */*\r\n";
    for (const auto& [name, value] : d.headers) {
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    }
    out += "Content-Length: ";
    out += std::to_string(d.body.size());
    out += "\r\n\r\n";
    out += d.body;
    return out;
  }

  void Dispatch() {
    while (!pending_.empty() && !idle_.empty()) {
      const int fd = idle_.back();
      idle_.pop_back();
      Request& r = pending_.front();
      connections_[fd].done = std::move(r.done);
      if (!SendAll(fd, Text(r.delivery))) {
        std::perror("send");
        std::exit(1);
      }
      pending_.pop_front();
    }
  }

  void Read(int fd) {
    Connection& c = connections_[fd];
    char chunk[16 * 1024];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0) c.in.append(chunk, static_cast<size_t>(got));
    if (got == 0 || (got < 0 && errno != EAGAIN)) {
      std::fprintf(stderr, "raw client: connection closed by the receiver\n");
      std::exit(1);
    }
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos || !c.done) return;
    const size_t total = end + 4 + ContentLength(std::string_view(c.in).substr(0, end));
    if (c.in.size() < total) return;
    const bool ok = c.in.size() > 9 && c.in.compare(0, 5, "HTTP/") == 0 && c.in[9] == '2';
    c.in.erase(0, total);
    Done done = std::move(c.done);
    c.done = nullptr;
    idle_.push_back(fd);
    done(ok);
  }

  void Run() {
    epoll_event events[256];
    while (true) {
      const int n = epoll_wait(epoll_fd_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd != wake_fd_) {
          Read(fd);
          continue;
        }
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof count);
        base::MutexLock lock(&mu_);
        if (stopping_) return;
        for (auto& r : queue_) pending_.push_back(std::move(r));
        queue_.clear();
      }
      Dispatch();
    }
  }

  int port_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  clockid_t cpu_clock_{};
  std::thread thread_;
  base::Mutex mu_;
  std::vector<Request> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::unordered_map<int, Connection> connections_;  // client thread only (after start)
  std::vector<int> idle_;                            // client thread only (after start)
  std::deque<Request> pending_;                      // client thread only
};

HttpDelivery Webhook(int port, size_t i) {
  HttpDelivery d;
  d.url = "http://127.0.0.1:";
  d.url += std::to_string(port);
  d.url += "/hooks/";
  d.url += std::to_string(i % 97);
  d.headers = {{"Content-Type", "application/json"},
               {"X-Overdue-Event", "incident.opened"},
               {"X-Overdue-Delivery", "0190a4c8-7d2e-7b3a-9f41-" + std::to_string(100000 + i)},
               {"X-Overdue-Timestamp", "1718000000"},
               {"X-Overdue-Signature", "sha256=" + std::string(64, 'a')}};
  d.body = R"({"event":"incident.opened","incident":{"id":)";
  d.body += std::to_string(i);
  d.body += R"(,"watch":"nightly-backup","status":"down","opened_at":"2024-06-10T06:13:20Z"},)";
  d.body += R"("text":")";
  while (d.body.size() + 2 < kBodyBytes) d.body += 'x';
  d.body += "\"}";
  return d;
}

// Sends the deliveries through `send` (the Transport or a RawClient), all at once when `rate`
// is 0, else `rate` per second, and waits for every `done`. Returns how many were ok.
using SendFn = std::function<void(HttpDelivery&&, std::function<void(bool ok)>)>;
size_t Batch(const SendFn& send, std::vector<HttpDelivery>& deliveries, clockid_t* clock,
             double rate = 0) {
  std::atomic<size_t> left{deliveries.size()};
  std::atomic<size_t> ok{0};
  std::promise<void> all;
  std::future<void> finished = all.get_future();
  timespec next{};
  clock_gettime(CLOCK_MONOTONIC, &next);
  const long interval_ns = rate > 0 ? static_cast<long>(1e9 / rate) : 0;
  for (HttpDelivery& d : deliveries) {
    if (interval_ns > 0) {
      next.tv_nsec += interval_ns;
      if (next.tv_nsec >= 1'000'000'000) {
        next.tv_nsec -= 1'000'000'000;
        ++next.tv_sec;
      }
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    }
    send(std::move(d), [&, clock](bool was_ok) {
      if (clock) pthread_getcpuclockid(pthread_self(), clock);
      if (was_ok) ok.fetch_add(1, std::memory_order_relaxed);
      if (left.fetch_sub(1) == 1) all.set_value();
    });
  }
  finished.wait();
  return ok.load();
}

// --name=value, or `fallback`.
std::string Flag(int argc, char** argv, std::string_view name, std::string fallback) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.size() > name.size() + 3 && arg.substr(0, 2) == "--" &&
        arg.substr(2, name.size()) == name && arg[name.size() + 2] == '=') {
      return std::string(arg.substr(name.size() + 3));
    }
  }
  return fallback;
}

int Main(int argc, char** argv) {
  const size_t attempts = std::stoul(Flag(argc, argv, "attempts", "20000"));
  const size_t parallel = std::stoul(Flag(argc, argv, "parallel", "256"));
  const double rate = std::stod(Flag(argc, argv, "rate", "10000"));
  const std::chrono::milliseconds latency(std::stol(Flag(argc, argv, "latency-ms", "20")));
  const std::string runs = Flag(argc, argv, "runs", "burst,paced,slow");
  const std::string client = Flag(argc, argv, "client", "transport");
  if (client != "transport" && client != "raw") {
    std::fprintf(stderr, "--client: \"transport\" or \"raw\", not \"%s\"\n", client.c_str());
    return 2;
  }
  Receiver receiver;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<RawClient> raw;
  SendFn send;
  if (client == "raw") {
    raw = std::make_unique<RawClient>(receiver.port(), parallel);
    send = [&raw](HttpDelivery&& d, std::function<void(bool)> done) {
      raw->Send(std::move(d), std::move(done));
    };
  } else {
    TransportOptions options;
    options.allow_private = true;
    options.max_parallel = parallel;
    transport = std::make_unique<Transport>(options);
    transport->Start();
    send = [&transport](HttpDelivery&& d, std::function<void(bool)> done) {
      transport->Send(std::move(d), [done = std::move(done)](Outcome o) { done(o.ok); });
    };
  }

  clockid_t transport_clock{};
  std::vector<HttpDelivery> warm_up;
  for (size_t i = 0; i < parallel; ++i) warm_up.push_back(Webhook(receiver.port(), i));
  if (Batch(send, warm_up, &transport_clock) != parallel) {
    std::fprintf(stderr, "warm-up: not every attempt succeeded\n");
    return 1;
  }
  bool all_ok = true;
  for (const std::string_view run : {"burst", "paced", "slow"}) {
    if (runs.find(run) == std::string::npos) continue;
    const double run_rate = run == "burst" ? 0 : rate;
    receiver.set_latency(run == "slow" ? latency : std::chrono::milliseconds(0));
    std::vector<HttpDelivery> deliveries;
    deliveries.reserve(attempts);
    for (size_t i = 0; i < attempts; ++i) deliveries.push_back(Webhook(receiver.port(), i));
    const uint64_t requests_before = receiver.requests();

    const double wall0 = Seconds(CLOCK_MONOTONIC);
    const double transport0 = Seconds(transport_clock);
    const double receiver0 = receiver.CpuSeconds();
    const double process0 = ProcessCpuSeconds();
    const size_t ok = Batch(send, deliveries, nullptr, run_rate);
    const double wall = Seconds(CLOCK_MONOTONIC) - wall0;
    const double transport_cpu = Seconds(transport_clock) - transport0;
    const double receiver_cpu = receiver.CpuSeconds() - receiver0;
    const double process_cpu = ProcessCpuSeconds() - process0;

    const double n = static_cast<double>(attempts);
    std::printf("%-6s attempts %zu ok %zu requests %" PRIu64 " connections %" PRIu64
                " | %.0f attempts/s | CPU us/attempt: %s %.1f receiver %.1f process %.1f\n",
                std::string(run).c_str(), attempts, ok, receiver.requests() - requests_before,
                receiver.connections(), n / wall, client.c_str(), transport_cpu * 1e6 / n,
                receiver_cpu * 1e6 / n, process_cpu * 1e6 / n);
    std::fflush(stdout);
    all_ok = all_ok && ok == attempts;
  }
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace overdue::notify

int main(int argc, char** argv) { return overdue::notify::Main(argc, argv); }
