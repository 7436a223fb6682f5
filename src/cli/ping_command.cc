#include "cli/ping_command.h"

#include <errno.h>
#include <fcntl.h>

#include <cstring>

#include <fmt/format.h>

namespace overdue::cli {
namespace {

// Reads at most kMaxPingBodyBytes + 1 bytes, so the caller can tell that the body was cut.
base::Result<std::string> ReadBody(int fd, const std::string& name) {
  std::string body;
  char buffer[64 * 1024];
  while (body.size() <= kMaxPingBodyBytes) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::InvalidArgument(name + ": " + std::strerror(errno));
    if (n == 0) break;
    body.append(buffer, static_cast<size_t>(n));
  }
  return body;
}

}  // namespace

int PingCommand(const PingOptions& o, std::ostream& out, std::ostream& err) {
  auto url = ResolvePingTarget(o.target, o.server);
  if (!url.ok()) {
    err << "overdue ping: " << url.error().message << "\n";
    return 2;
  }
  std::string body;
  if (o.body_file) {
    base::Result<std::string> read = std::string();
    if (*o.body_file == "-") {
      read = ReadBody(o.stdin_fd, "stdin");
    } else {
      const int fd = ::open(o.body_file->c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        err << "overdue ping: " << *o.body_file << ": " << std::strerror(errno) << "\n";
        return 1;
      }
      read = ReadBody(fd, *o.body_file);
      ::close(fd);
    }
    if (!read.ok()) {
      err << "overdue ping: " << read.error().message << "\n";
      return 1;
    }
    body = std::move(read.value());
    if (body.size() > kMaxPingBodyBytes) {
      body.resize(kMaxPingBodyBytes);
      err << "overdue ping: body cut to its first " << kMaxPingBodyBytes << " bytes\n";
    }
  }

  auto r = SendPing(PingUrl(url.value(), o.signal, o.rid), body, o.retry,
                    [&](const std::string& why, base::Duration wait) {
                      err << fmt::format("overdue ping: {}; retrying in {:.1f}s\n", why,
                                         static_cast<double>(wait.count()) / 1e6);
                    });
  if (!r.ok()) {
    err << "overdue ping: " << r.error().message << "\n";
    return 1;
  }
  out << r->body;
  if (!r->body.empty() && r->body.back() != '\n') out << "\n";
  out.flush();
  if (r->status / 100 != 2) {
    err << "overdue ping: HTTP " << r->status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace overdue::cli
