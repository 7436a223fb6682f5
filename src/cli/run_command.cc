#include "cli/run_command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <sys/wait.h>

#include "cli/output_tail.h"

extern char** environ;

namespace overdue::cli {
namespace {

using Clock = std::chrono::steady_clock;

// After the command exits, output still in flight is read until both pipes close; but a
// process the command left running in the background may hold them open forever. We stop
// reading this long after the exit (the job is over; its stragglers are not).
constexpr auto kDrainAfterExit = std::chrono::seconds(1);
// How often the read loop looks for the command's exit while its pipes stay open.
constexpr int kPollMillis = 100;
constexpr size_t kReadChunk = 64 * 1024;

constexpr std::array<int, 4> kForwardedSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// The running command, for the signal handler. 0 when none (or already reaped).
std::atomic<pid_t> g_child{0};
static_assert(std::atomic<pid_t>::is_always_lock_free);

void ForwardSignal(int sig, siginfo_t* info, void*) {
  // si_code <= 0 (SI_USER, SI_QUEUE, SI_TKILL): sent with kill(2) to us alone. A signal from
  // the terminal (SI_KERNEL) already went to the whole foreground group, the command included.
  const pid_t child = g_child.load();
  if (child > 0 && info != nullptr && info->si_code <= 0) kill(child, sig);
}

// Installs the forwarding handlers and ignores SIGPIPE; restores everything on destruction.
class SignalScope {
 public:
  SignalScope() {
    struct sigaction forward {};
    forward.sa_sigaction = ForwardSignal;
    forward.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&forward.sa_mask);
    for (size_t i = 0; i < kForwardedSignals.size(); ++i) {
      sigaction(kForwardedSignals[i], nullptr, &saved_[i]);
      // A signal ignored on entry (nohup) stays ignored, for us and for the command.
      if (saved_[i].sa_handler != SIG_IGN) sigaction(kForwardedSignals[i], &forward, nullptr);
    }
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &saved_pipe_);
  }
  ~SignalScope() {
    for (size_t i = 0; i < kForwardedSignals.size(); ++i) {
      sigaction(kForwardedSignals[i], &saved_[i], nullptr);
    }
    sigaction(SIGPIPE, &saved_pipe_, nullptr);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

  // Whether SIGPIPE was at its default on entry (then the command gets the default back).
  bool pipe_was_default() const { return saved_pipe_.sa_handler == SIG_DFL; }

 private:
  std::array<struct sigaction, kForwardedSignals.size()> saved_{};
  struct sigaction saved_pipe_ {};
};

void WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed stdout must not stop the job or its report
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void Warn(const RunOptions& o, const std::string& message) {
  WriteAll(o.err_fd, fmt::format("overdue run: {}\n", message));
}

struct Pipe {
  int read = -1;
  int write = -1;
  ~Pipe() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
};

struct Spawned {
  pid_t pid = -1;
  int error = 0;  // errno of a failed spawn
};

Spawned Spawn(const RunOptions& o, Pipe& out, Pipe& err, bool pipe_was_default) {
  std::vector<char*> argv;
  for (const std::string& arg : o.command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears close-on-exec on the copies; every other descriptor of ours has it set.
  posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  if (pipe_was_default) sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  Spawned s;
  s.error = posix_spawnp(&s.pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (s.error == 0) g_child.store(s.pid);
  return s;
}

// Has the command exited? Looks without reaping it, so the pid cannot be reused while the
// signal handler may still send to it.
bool Exited(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// Passes the command's output through and keeps its tail, until both pipes close or the
// command has been gone for kDrainAfterExit.
void Pump(const RunOptions& o, pid_t pid, Pipe& out, Pipe& err, OutputTail& tail) {
  std::array<pollfd, 2> fds = {{{out.read, POLLIN, 0}, {err.read, POLLIN, 0}}};
  const std::array<int, 2> forward_to = {o.out_fd, o.err_fd};
  std::optional<Clock::time_point> drain_until;
  std::string buffer(kReadChunk, '\0');
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    int timeout = kPollMillis;
    if (drain_until) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*drain_until - Clock::now());
      if (left.count() <= 0) break;
      timeout = static_cast<int>(std::min<int64_t>(left.count(), kPollMillis));
    }
    const int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) break;
    for (size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        fds[i].fd = -1;  // closed by ~Pipe
        continue;
      }
      const std::string_view bytes(buffer.data(), static_cast<size_t>(got));
      WriteAll(forward_to[i], bytes);
      tail.Append(bytes);
    }
    if (!drain_until && Exited(pid)) drain_until = Clock::now() + kDrainAfterExit;
  }
}

}  // namespace

int RunCommand(const RunOptions& o) {
  const base::Uuid rid = o.rid ? *o.rid : base::Uuid::Random();
  SignalScope signals;

  // /start goes out while the command runs: a dead server must not delay the job.
  std::optional<base::Result<PingResponse>> started;
  std::thread start_ping([&] {
    started = SendPing(PingUrl(o.ping_url, {PingSignal::Kind::kStart}, rid), "", o.retry);
  });

  OutputTail tail(o.tail_bytes);
  int exit_code = 0;
  PingSignal finish{PingSignal::Kind::kExit};
  {
    Pipe out;
    Pipe err;
    std::array<int, 2> fds{};
    bool piped = ::pipe2(fds.data(), O_CLOEXEC) == 0;
    if (piped) {
      out.read = fds[0];
      out.write = fds[1];
      piped = ::pipe2(fds.data(), O_CLOEXEC) == 0;
    }
    if (piped) {
      err.read = fds[0];
      err.write = fds[1];
    }
    if (!piped) {
      exit_code = 126;
      const std::string message = fmt::format("cannot create pipes: {}", std::strerror(errno));
      Warn(o, message);
      tail.Append(fmt::format("overdue run: {}\n", message));
    } else {
      const Spawned child = Spawn(o, out, err, signals.pipe_was_default());
      // Our copies of the write ends must go, or the pipes never report end of output.
      ::close(out.write);
      ::close(err.write);
      out.write = err.write = -1;
      if (child.error != 0) {
        // What a shell does: 127 for a command not found, 126 for one that cannot run.
        exit_code = child.error == ENOENT ? 127 : 126;
        const std::string message =
            fmt::format("cannot run \"{}\": {}", o.command[0], std::strerror(child.error));
        Warn(o, message);
        tail.Append(fmt::format("overdue run: {}\n", message));
      } else {
        Pump(o, child.pid, out, err, tail);
        int status = 0;
        // Stop forwarding before reaping: afterwards the pid may belong to someone else.
        while (!Exited(child.pid)) {
          siginfo_t info{};
          if (waitid(P_PID, static_cast<id_t>(child.pid), &info, WEXITED | WNOWAIT) != 0 &&
              errno != EINTR) {
            break;
          }
        }
        g_child.store(0);
        while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFSIGNALED(status)) {
          exit_code = 128 + WTERMSIG(status);
          finish = {PingSignal::Kind::kFail};
        } else {
          exit_code = WEXITSTATUS(status);
        }
      }
    }
  }
  if (finish.kind == PingSignal::Kind::kExit) finish.exit_status = exit_code;

  start_ping.join();
  size_t body_limit = o.tail_bytes;
  if (!started->ok()) {
    Warn(o, fmt::format("/start ping failed: {}", started->error().message));
  } else if ((*started)->status / 100 != 2) {
    Warn(o, fmt::format("/start ping: HTTP {}: {}", (*started)->status, (*started)->body));
  } else if ((*started)->ping_body_limit) {
    body_limit = std::min(body_limit, *(*started)->ping_body_limit);
  }

  auto finished = SendPing(PingUrl(o.ping_url, finish, rid), tail.Contents(body_limit), o.retry);
  if (!finished.ok()) {
    Warn(o, fmt::format("/{} ping failed: {}", finish.Suffix(), finished.error().message));
  } else if (finished->status / 100 != 2) {
    Warn(o,
         fmt::format("/{} ping: HTTP {}: {}", finish.Suffix(), finished->status, finished->body));
  }
  return exit_code;
}

}  // namespace overdue::cli
