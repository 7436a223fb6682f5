// A trivial server for load tests with wrk: every request gets 200 "OK" from the handler,
// synchronously. Usage: http_bench [port=8080] [threads=0] — runs until SIGINT/SIGTERM.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "http/server.h"

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  overdue::http::ServerOptions options;
  options.threads = argc > 2 ? std::atoi(argv[2]) : 0;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the I/O threads start

  overdue::http::Server server(options, [](overdue::http::Request&&, overdue::http::Reply reply) {
    overdue::http::Response response;
    response.content_type = "text/plain; charset=utf-8";
    response.body = "OK";
    reply(std::move(response));
  });
  auto bound = server.Listen("127.0.0.1", static_cast<uint16_t>(port));
  if (!bound.ok()) {
    std::fprintf(stderr, "%s\n", bound.error().message.c_str());
    return 1;
  }
  server.Start();
  std::printf("http_bench listening on http://127.0.0.1:%u\n", bound.value());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  server.Stop();
  const auto stats = server.GetStats();
  std::printf("requests %llu connections %llu\n",
              static_cast<unsigned long long>(stats.requests_total),
              static_cast<unsigned long long>(stats.connections_total));
  return 0;
}
