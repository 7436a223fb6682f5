#include "journal/checkin_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include "base/thread_name.h"

namespace overdue::journal {

namespace {

namespace fs = std::filesystem;

constexpr uint8_t kVersion = 1;
constexpr size_t kFrameHeader = 4 + 8;  // length, hash
// A record is a few hundred bytes plus the body (which the ping limit bounds).
constexpr uint32_t kMaxRecord = 64u << 20;
constexpr std::string_view kPrefix = "checkins-";
constexpr std::string_view kSuffix = ".log";

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Little-endian writer and reader of the record's fields.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <typename T>
  void Int(T v) {
    auto u = static_cast<std::make_unsigned_t<T>>(v);
    for (size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  void Time(base::TimePoint t) { Int<int64_t>(base::ToMicros(t)); }
  void Id(const base::Uuid& u) { out_.append(reinterpret_cast<const char*>(u.bytes.data()), 16); }
  void Text(std::string_view s) {
    Int<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void OptId(const std::optional<base::Uuid>& u) {
    Int<uint8_t>(u ? 1 : 0);
    if (u) Id(*u);
  }
  void OptDuration(const std::optional<base::Duration>& d) {
    Int<uint8_t>(d ? 1 : 0);
    if (d) Int<int64_t>(d->count());
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  template <typename T>
  T Int() {
    if (!Need(sizeof(T))) return T{};
    std::make_unsigned_t<T> u = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      u |= static_cast<std::make_unsigned_t<T>>(static_cast<unsigned char>(in_[pos_ + i]))
           << (8 * i);
    }
    pos_ += sizeof(T);
    return static_cast<T>(u);
  }
  base::TimePoint Time() { return base::FromMicros(Int<int64_t>()); }
  base::Uuid Id() {
    base::Uuid u;
    if (!Need(16)) return u;
    std::memcpy(u.bytes.data(), in_.data() + pos_, 16);
    pos_ += 16;
    return u;
  }
  std::string Text() {
    const auto n = Int<uint32_t>();
    if (!Need(n)) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  bool Flag() {
    const auto f = Int<uint8_t>();
    if (f > 1) ok_ = false;
    return f == 1;
  }
  std::optional<base::Uuid> OptId() {
    if (!Flag()) return std::nullopt;
    return Id();
  }
  std::optional<base::Duration> OptDuration() {
    if (!Flag()) return std::nullopt;
    return base::Duration{Int<int64_t>()};
  }

 private:
  bool Need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

std::string Frame(std::string_view payload) {
  std::string f;
  f.reserve(kFrameHeader + payload.size());
  Writer w(f);
  w.Int<uint32_t>(static_cast<uint32_t>(payload.size()));
  w.Int<uint64_t>(Fnv1a(payload));
  f.append(payload);
  return f;
}

std::optional<uint64_t> SegmentNumber(const std::string& name) {
  if (name.size() != kPrefix.size() + 20 + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  uint64_t n = 0;
  for (size_t i = kPrefix.size(); i < kPrefix.size() + 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return n;
}

// Reads a segment's records up to its end or its first damaged frame.
base::Status ReadSegment(const std::string& path, std::vector<LoggedCheckIn>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::Unavailable(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return base::Unavailable(fmt::format("cannot read {}", path));
  size_t pos = 0;
  size_t damaged = 0;
  while (bytes.size() - pos >= kFrameHeader) {
    Reader h(std::string_view(bytes).substr(pos, kFrameHeader));
    const auto len = h.Int<uint32_t>();
    const auto hash = h.Int<uint64_t>();
    if (len > kMaxRecord || bytes.size() - pos - kFrameHeader < len) {
      damaged = bytes.size() - pos;
      break;
    }
    const std::string_view payload = std::string_view(bytes).substr(pos + kFrameHeader, len);
    auto record = Fnv1a(payload) == hash ? DecodeCheckIn(payload) : std::nullopt;
    if (!record) {
      damaged = bytes.size() - pos;
      break;
    }
    out.push_back(std::move(*record));
    pos += kFrameHeader + len;
  }
  if (damaged == 0) damaged = bytes.size() - pos;
  if (damaged > 0) {
    // The last batch was being written when the process stopped: nobody heard "OK" for it.
    spdlog::warn("check-in log {}: ignoring {} bytes of an unfinished write at its end", path,
                 damaged);
  }
  return {};
}

bool SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::string EncodeCheckIn(const LoggedCheckIn& r) {
  std::string out;
  out.reserve(160 + r.check_in.body.size() + r.check_in.user_agent.size());
  Writer w(out);
  w.Int<uint8_t>(kVersion);
  w.Id(r.watch_id);
  const model::WatchRuntime& rt = r.runtime;
  w.Int<uint8_t>(static_cast<uint8_t>(rt.status));
  w.Time(rt.last_ping);
  w.Time(rt.last_start);
  w.OptId(rt.last_start_rid);
  w.OptDuration(rt.last_duration);
  w.Int<int64_t>(rt.n_pings);
  w.Int<int32_t>(rt.failures);
  w.Time(rt.alert_after);
  const model::CheckIn& c = r.check_in;
  w.Int<int64_t>(c.n);
  w.Time(c.at);
  w.Int<uint8_t>(static_cast<uint8_t>(c.signal));
  w.Int<uint8_t>(c.exit_status ? 1 : 0);
  if (c.exit_status) w.Int<int32_t>(*c.exit_status);
  w.OptId(c.rid);
  w.Text(c.remote_addr);
  w.Text(c.scheme);
  w.Text(c.method);
  w.Text(c.user_agent);
  w.Text(c.body);
  w.Int<uint64_t>(c.body_size);
  w.OptDuration(c.duration);
  return out;
}

std::optional<LoggedCheckIn> DecodeCheckIn(std::string_view bytes) {
  Reader r(bytes);
  if (r.Int<uint8_t>() != kVersion) return std::nullopt;
  LoggedCheckIn out;
  out.watch_id = r.Id();
  model::WatchRuntime& rt = out.runtime;
  const auto status = r.Int<uint8_t>();
  if (status > static_cast<uint8_t>(model::Status::kPaused)) return std::nullopt;
  rt.status = static_cast<model::Status>(status);
  rt.last_ping = r.Time();
  rt.last_start = r.Time();
  rt.last_start_rid = r.OptId();
  rt.last_duration = r.OptDuration();
  rt.n_pings = r.Int<int64_t>();
  rt.failures = r.Int<int32_t>();
  rt.alert_after = r.Time();
  model::CheckIn& c = out.check_in;
  c.watch_id = out.watch_id;
  c.n = r.Int<int64_t>();
  c.at = r.Time();
  const auto signal = r.Int<uint8_t>();
  if (signal > static_cast<uint8_t>(model::Signal::kIgnored)) return std::nullopt;
  c.signal = static_cast<model::Signal>(signal);
  if (r.Flag()) c.exit_status = r.Int<int32_t>();
  c.rid = r.OptId();
  c.remote_addr = r.Text();
  c.scheme = r.Text();
  c.method = r.Text();
  c.user_agent = r.Text();
  c.body = r.Text();
  c.body_size = r.Int<uint64_t>();
  c.duration = r.OptDuration();
  if (!r.done()) return std::nullopt;
  return out;
}

base::Result<std::unique_ptr<CheckInLog>> CheckInLog::Open(const std::string& dir,
                                                           CheckInLogOptions options) {
  std::error_code ec;
  std::vector<uint64_t> found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (auto n = SegmentNumber(entry.path().filename().string())) found.push_back(*n);
  }
  if (ec) return base::Unavailable(fmt::format("cannot list {}: {}", dir, ec.message()));
  std::sort(found.begin(), found.end());
  std::unique_ptr<CheckInLog> log(
      new CheckInLog(dir, options, found.empty() ? 1 : found.back() + 1));
  for (uint64_t n : found) {
    if (auto st = ReadSegment(log->PathOf(n), log->recovered_); !st.ok()) return st.error();
  }
  log->recovered_segments_ = std::move(found);
  return log;
}

CheckInLog::CheckInLog(std::string dir, CheckInLogOptions options, uint64_t first_segment)
    : dir_(std::move(dir)), options_(options), current_(first_segment) {}

CheckInLog::~CheckInLog() {
  Stop();
  if (fd_ >= 0) ::close(fd_);
}

std::string CheckInLog::PathOf(uint64_t segment) const {
  return fmt::format("{}/{}{:020}{}", dir_, kPrefix, segment, kSuffix);
}

base::Status CheckInLog::DropRecovered() {
  for (uint64_t n : recovered_segments_) {
    std::error_code ec;
    fs::remove(PathOf(n), ec);
    if (ec) return base::Unavailable(fmt::format("cannot delete {}: {}", PathOf(n), ec.message()));
  }
  recovered_segments_.clear();
  recovered_.clear();
  recovered_.shrink_to_fit();
  return {};
}

size_t CheckInLog::segment_files() const {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (SegmentNumber(entry.path().filename().string())) ++n;
  }
  return n;
}

void CheckInLog::RaisePriority() {
  const auto tid = static_cast<id_t>(::gettid());
  thread_id_.store(static_cast<int>(tid));
  if (options_.thread_nice == 0) {
    priority_.store(2);
    return;
  }
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, tid);  // -1 is a valid nice value
  if (errno == 0 && ::setpriority(PRIO_PROCESS, tid, nice + options_.thread_nice) == 0) {
    priority_.store(1);
    return;
  }
  priority_.store(2);
  spdlog::info(
      "check-in log: its thread keeps the process's priority ({}); allowing a lower nice value "
      "(CAP_SYS_NICE, or RLIMIT_NICE such as systemd's LimitNICE=-10) answers logged check-ins "
      "sooner during storms",
      std::strerror(errno));
}

std::optional<bool> CheckInLog::thread_priority_raised() const {
  const int p = priority_.load();
  if (p == 0) return std::nullopt;
  return p == 1;
}

void CheckInLog::Start() {
  base::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  writer_ = std::thread([this] {
    base::NameThisThread("od-checkinlog");
    RaisePriority();
    Run();
  });
}

void CheckInLog::Stop() {
  {
    base::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.SignalAll();
  }
  if (writer_.joinable()) writer_.join();
  std::deque<Pending> left;
  {
    base::MutexLock lock(&mu_);
    stopped_ = true;
    left.swap(queue_);  // never started: nothing was written
  }
  for (auto& p : left) {
    if (p.logged) p.logged(base::Unavailable("check-in log stopped"));
  }
}

uint64_t CheckInLog::Append(const LoggedCheckIn& record, Done logged) {
  std::string frame = Frame(EncodeCheckIn(record));
  bool fail_now = false;
  uint64_t segment = 0;
  {
    base::MutexLock lock(&mu_);
    if (stopped_ || stopping_ || !healthy_.load()) {
      fail_now = true;
    } else {
      if (current_bytes_ > 0 && current_bytes_ + frame.size() > options_.segment_bytes) {
        segments_[current_].closed = true;
        ++current_;
        current_bytes_ = 0;
        releasable_ = true;
      }
      segment = current_;
      current_bytes_ += frame.size();
      ++segments_[segment].unreleased;
      outstanding_.fetch_add(1);
      queue_.push_back(Pending{segment, std::move(frame), std::move(logged)});
      cv_.Signal();
    }
  }
  if (fail_now && logged) logged(base::Unavailable("check-in log not writable"));
  return segment;
}

void CheckInLog::Release(uint64_t segment) {
  base::MutexLock lock(&mu_);
  auto it = segments_.find(segment);
  if (it == segments_.end()) return;
  outstanding_.fetch_sub(1);
  if (--it->second.unreleased <= 0 && it->second.closed) {
    releasable_ = true;
    cv_.Signal();
  }
}

void CheckInLog::Run() {
  std::vector<Pending> batch;
  while (true) {
    batch.clear();
    bool release = false;
    {
      base::MutexLock lock(&mu_);
      while (queue_.empty() && !releasable_ && !stopping_) cv_.Wait(&mu_);
      if (queue_.empty() && stopping_) break;
      release = releasable_;
      releasable_ = false;
      while (!queue_.empty()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    const uint64_t was_writing = fd_segment_;
    if (!batch.empty()) {
      const bool ok = WriteBatch(batch);
      const base::Status st =
          ok ? base::Status{} : base::Status(base::Unavailable("check-in log write failed"));
      for (auto& p : batch) {
        if (p.logged) p.logged(st);
      }
    }
    if (release || fd_segment_ != was_writing) DeleteReleased();
  }
}

bool CheckInLog::WriteBatch(std::vector<Pending>& batch) {
  if (!healthy_.load()) return false;
  size_t i = 0;
  while (i < batch.size()) {
    const uint64_t segment = batch[i].segment;
    if (fd_ < 0 || fd_segment_ != segment) {
      if (fd_ >= 0) ::close(fd_);  // its records were synced with their batch
      fd_ = ::open(PathOf(segment).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      fd_segment_ = segment;
      if (fd_ < 0 || !SyncDirectory(dir_)) {
        spdlog::error("check-in log: cannot create {}: {}", PathOf(segment), std::strerror(errno));
        healthy_.store(false);
        return false;
      }
    }
    // One writev for the records of this segment (at most IOV_MAX at a time).
    std::vector<iovec> iov;
    size_t end = i;
    while (end < batch.size() && batch[end].segment == segment && iov.size() < 1024) {
      iov.push_back(iovec{batch[end].frame.data(), batch[end].frame.size()});
      ++end;
    }
    size_t total = 0;
    for (const auto& v : iov) total += v.iov_len;
    const ssize_t n = ::writev(fd_, iov.data(), static_cast<int>(iov.size()));
    if (n < 0 || static_cast<size_t>(n) != total) {
      spdlog::error("check-in log: write to {} failed: {}", PathOf(segment),
                    n < 0 ? std::strerror(errno) : "short write");
      healthy_.store(false);
      return false;
    }
    if (end == batch.size() || batch[end].segment != segment) {
      if (::fdatasync(fd_) != 0) {
        spdlog::error("check-in log: fdatasync of {} failed: {}", PathOf(segment),
                      std::strerror(errno));
        healthy_.store(false);
        return false;
      }
    }
    i = end;
  }
  return true;
}

void CheckInLog::DeleteReleased() {
  std::vector<uint64_t> drop;
  {
    base::MutexLock lock(&mu_);
    for (auto it = segments_.begin(); it != segments_.end();) {
      const Segment& s = it->second;
      // Records are written in the order they were appended: once the log thread writes a
      // later segment, every record of this one is on disk (and only then can its file go).
      if (s.closed && s.unreleased <= 0 && it->first < fd_segment_) {
        drop.push_back(it->first);
        it = segments_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (uint64_t n : drop) {
    if (::unlink(PathOf(n).c_str()) != 0 && errno != ENOENT) {
      spdlog::warn("check-in log: cannot delete {}: {}", PathOf(n), std::strerror(errno));
    }
  }
}

base::Result<size_t> ReplayCheckIns(store::Store& store,
                                    const std::vector<LoggedCheckIn>& records) {
  std::unordered_map<base::Uuid, int64_t, base::UuidHash> pings;  // in the store, or replayed
  std::vector<store::Mutation> batch;
  size_t applied = 0;
  for (const LoggedCheckIn& r : records) {
    auto it = pings.find(r.watch_id);
    if (it == pings.end()) {
      auto w = store.GetWatch(r.watch_id);
      if (!w.ok()) return w.error();
      it = pings.emplace(r.watch_id, w.value() ? w.value()->runtime.n_pings : -1).first;
    }
    if (it->second < 0 || r.runtime.n_pings <= it->second) continue;  // deleted, or stored
    it->second = r.runtime.n_pings;
    batch.emplace_back(store::UpdateRuntime{r.watch_id, r.runtime});
    batch.emplace_back(store::InsertCheckIn{r.check_in});
    ++applied;
  }
  if (!batch.empty()) {
    if (auto st = store.Apply(batch); !st.ok()) return st.error();
  }
  return applied;
}

}  // namespace overdue::journal
