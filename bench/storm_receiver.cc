// overdue-storm-receiver: the webhook receiver of bench/incident_storm.sh (BENCHMARKS.md,
// "Incident storm"). One epoll loop in C++: the asyncio receiver it replaces spent ~180 us of
// CPU per delivery during a storm, a third of this 2-core machine, taken from the server
// being measured.
//
//   overdue-storm-receiver --port-file F --out RECORDS [--expect N --done-file D]
//
// Listens on 127.0.0.1 (a free port, written to F once listening), HTTP/1.1 with keep-alive
// and pipelining. Every request to /hook is answered 204 at once and kept in memory as
// (receive time, Idempotency-Key, X-Overdue-Event, body); nothing else is parsed until exit.
// GET /count answers how many /hook requests arrived; GET /reset forgets them. When the Nth
// /hook request arrives its receive time is written to D. On SIGTERM or SIGINT it writes one
// JSON line per delivery to RECORDS: {"t": epoch s, "key": ..., "event": ..., "body": "..."}
// (`storm_report.py report` reads the incident's opened_at from the body) and exits.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

namespace {

struct Record {
  double t;
  std::string key;
  std::string event;
  std::string body;
};

struct Conn {
  std::string in;
  std::string out;
  bool want_out = false;  // registered for EPOLLOUT: a reply did not fit the socket
};

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The value of header `name` (lower case) in `head` (the request line and headers), "" if absent.
std::string_view Header(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(start, end - start);
    if (line.size() > name.size() && line[name.size()] == ':') {
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i) same = Lower(line[i]) == name[i];
      if (same) {
        std::string_view v = line.substr(name.size() + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        return v;
      }
    }
    pos = end;
  }
  return {};
}

void JsonString(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

std::string Reply(int status, const std::string& text) {
  return "HTTP/1.1 " + std::to_string(status) +
         " OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(text.size()) +
         "\r\n\r\n" + text;
}

void WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
  }
}

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string port_file, out_path, done_file;
  size_t expect = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--port-file") {
      port_file = argv[i + 1];
    } else if (a == "--out") {
      out_path = argv[i + 1];
    } else if (a == "--expect") {
      expect = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (a == "--done-file") {
      done_file = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (port_file.empty() || out_path.empty()) {
    std::fprintf(stderr, "usage: %s --port-file F --out RECORDS [--expect N --done-file D]\n",
                 argv[0]);
    return 2;
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) Die("signalfd");

  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) Die("socket");
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("bind");
  if (listen(lfd, 1024) != 0) Die("listen");
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) Die("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = sfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
  WriteFileAtomically(port_file, std::to_string(ntohs(addr.sin_port)) + "\n");

  std::vector<Record> records;
  records.reserve(expect ? expect + 16 : 1024);
  std::unordered_map<int, Conn> conns;
  static const std::string kNoContent = "HTTP/1.1 204 No Content\r\n\r\n";
  std::vector<epoll_event> events(256);
  char buf[65536];
  bool stop = false;

  const auto close_conn = [&](int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    conns.erase(fd);
  };
  // Answers every complete request in c.in (pipelined ones in order).
  const auto serve = [&](Conn& c) {
    size_t at = 0;
    while (true) {
      const size_t end = c.in.find("\r\n\r\n", at);
      if (end == std::string::npos) break;
      const std::string_view head(c.in.data() + at, end - at);
      const std::string_view cl = Header(head, "content-length");
      const size_t length = cl.empty() ? 0 : std::strtoul(std::string(cl).c_str(), nullptr, 10);
      if (c.in.size() < end + 4 + length) break;
      const double now = Now();
      const size_t sp1 = head.find(' ');
      const size_t sp2 = sp1 == std::string_view::npos ? sp1 : head.find(' ', sp1 + 1);
      const std::string_view path = sp1 == std::string_view::npos || sp2 == std::string_view::npos
                                        ? std::string_view()
                                        : head.substr(sp1 + 1, sp2 - sp1 - 1);
      if (path.substr(0, 5) == "/hook") {
        records.push_back(Record{now, std::string(Header(head, "idempotency-key")),
                                 std::string(Header(head, "x-overdue-event")),
                                 c.in.substr(end + 4, length)});
        c.out += kNoContent;
        if (expect && records.size() == expect && !done_file.empty()) {
          char t[64];
          std::snprintf(t, sizeof t, "%.6f\n", now);
          WriteFileAtomically(done_file, t);
        }
      } else if (path == "/count") {
        c.out += Reply(200, std::to_string(records.size()));
      } else if (path == "/reset") {
        records.clear();
        c.out += Reply(200, "0");
      } else {
        c.out += Reply(404, "not found");
      }
      at = end + 4 + length;
    }
    c.in.erase(0, at);
  };
  const auto watch = [&](int fd, Conn& c, bool out) {
    if (c.want_out == out) return;
    c.want_out = out;
    epoll_event w{};
    w.events = out ? EPOLLIN | EPOLLOUT : EPOLLIN;
    w.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &w);
  };
  // Sends what is queued; false when the connection failed.
  const auto flush = [&](int fd, Conn& c) {
    while (!c.out.empty()) {
      const ssize_t n = send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        watch(fd, c, true);
        return true;
      } else {
        return false;
      }
    }
    watch(fd, c, false);
    return true;
  };

  while (!stop) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      Die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<size_t>(i)].data.fd;
      if (fd == sfd) {
        stop = true;
      } else if (fd == lfd) {
        while (true) {
          const int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event e{};
          e.events = EPOLLIN;
          e.data.fd = cfd;
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &e);
          conns[cfd];
        }
      } else {
        auto it = conns.find(fd);
        if (it == conns.end()) continue;
        Conn& c = it->second;
        bool open = true;
        if (events[static_cast<size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
          while (true) {
            const ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r > 0) {
              c.in.append(buf, static_cast<size_t>(r));
              continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) open = false;
            break;
          }
          serve(c);
        }
        if (!flush(fd, c)) open = false;
        if (!open) close_conn(fd);
      }
    }
  }

  std::string out;
  FILE* f = std::fopen(out_path.c_str(), "w");
  if (!f) Die("open records");
  for (const Record& r : records) {
    out.clear();
    char t[64];
    std::snprintf(t, sizeof t, "{\"t\": %.6f, \"key\": ", r.t);
    out += t;
    JsonString(out, r.key);
    out += ", \"event\": ";
    JsonString(out, r.event);
    out += ", \"body\": ";
    JsonString(out, r.body);
    out += "}\n";
    std::fwrite(out.data(), 1, out.size(), f);
  }
  std::fclose(f);
  return 0;
}
