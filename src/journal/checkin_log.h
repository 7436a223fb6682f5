// CheckInLog: an append-only file that makes a check-in durable without waiting for the
// store's next commit.
//
// Design note. During a storm of deadlines the journal commits flips in slices, and a
// check-in that arrives while a slice commits waits for the rest of it (tens of
// milliseconds). So, with the server's `checkin_log = true` (off by default: the extra
// fdatasyncs delay a storm's notifications, BENCHMARKS.md), while flips are queued or
// committing (Journal::bulk_busy), the server also appends each plain check-in (no state change;
// success, start, log or ignored signal) here: the record (the watch's runtime after the check-in,
// and the check-in) is written and fdatasync'ed by this log's own thread, group-committed like the
// journal, and the client hears "OK" as soon as either the log or the store has it — so an
// acknowledged check-in is durable in one of them (DESIGN.md, safety property 1). The journal still
// commits the check-in to the store as usual; once it has (Journal::Submit's `durable`), the record
// is Release()d, and a segment file whose records are all released is deleted once the log has
// moved on to a newer segment.
//
// Recovery. On start-up, before the watches are loaded, Open() reads every segment left by
// the previous run and ReplayCheckIns() applies each record the store does not have yet: a
// watch's records are in the store iff its stored runtime counts at least as many pings
// (the journal commits one watch's changes in order, so a later change of the watch in the
// store implies the check-in is there too). Replay writes the runtime and the history row;
// it does not replay the incident desk's reaction, which is why only check-ins that cannot
// change a watch's state or open an incident (no fail signal) take this path. An earlier
// check-in of the same watch that was not logged and not yet committed (its client was still
// waiting) is lost in a crash while the logged one is replayed: its number is then missing
// from the history, and the replayed runtime (ping count, last start) includes its effect.
//
// File format. Segments `checkins-<20-digit number>.log` in the data dir, each a sequence
// of frames: u32 payload length, u64 FNV-1a hash of the payload, payload (little-endian
// fields, see Encode). Reading a segment stops at the first short or mismatching frame: a
// torn write can only be the last, unacknowledged batch.
//
// Thread-safety: Append, Release, healthy and outstanding from any thread; `logged`
// completions run on the log's thread and must not block.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/result.h"
#include "model/check_in.h"
#include "model/watch.h"
#include "store/store.h"

namespace overdue::journal {

struct LoggedCheckIn {
  base::Uuid watch_id;
  model::WatchRuntime runtime;  // the watch's runtime after the check-in
  model::CheckIn check_in;
};

// The record's bytes (without the frame), and back; nullopt for bytes that are not a record.
std::string EncodeCheckIn(const LoggedCheckIn& r);
std::optional<LoggedCheckIn> DecodeCheckIn(std::string_view bytes);

struct CheckInLogOptions {
  // A segment is closed once it holds at least this many bytes.
  size_t segment_bytes = size_t{4} << 20;
  // Added to the log thread's nice value when it starts (0: left alone). The thread uses
  // little CPU and a logged check-in's answer waits for it, so during a storm it should not
  // wait for a core behind the storm's threads (BENCHMARKS.md, twelfth round). Lowering a
  // nice value needs CAP_SYS_NICE or RLIMIT_NICE (systemd: LimitNICE=-10); without either the
  // thread keeps the process's priority and the log says so once.
  int thread_nice = -10;
};

class CheckInLog {
 public:
  using Done = std::function<void(base::Status)>;

  // Opens the log in `dir` (which must exist): reads the records of the segments an earlier
  // run left (recovered(), in the order they were written) and starts a new segment after
  // them. The error names the file that could not be read.
  static base::Result<std::unique_ptr<CheckInLog>> Open(const std::string& dir,
                                                        CheckInLogOptions options = {});
  ~CheckInLog();  // Stop()
  CheckInLog(const CheckInLog&) = delete;
  CheckInLog& operator=(const CheckInLog&) = delete;

  const std::vector<LoggedCheckIn>& recovered() const { return recovered_; }
  // Deletes the segments recovered() came from. REQUIRES: their records are in the store.
  base::Status DropRecovered();

  void Start();
  // Writes and syncs everything appended before the call, completes it, joins the thread.
  void Stop();

  // Queues a record; `logged` runs once it is on disk (ok) or could not be written (error;
  // the log then stays unhealthy and completes every later Append with an error at once).
  // Returns the record's segment, for Release.
  uint64_t Append(const LoggedCheckIn& record, Done logged);
  // A record of `segment` is in the store now.
  void Release(uint64_t segment);

  bool healthy() const { return healthy_.load(); }
  // Records appended and not released yet.
  int64_t outstanding() const { return outstanding_.load(); }
  // Segment files on disk (tests, metrics).
  size_t segment_files() const;
  // The log thread's Linux thread id, 0 until it runs; and whether its nice value was
  // lowered by options.thread_nice (nullopt until the thread has tried).
  int thread_id() const { return thread_id_.load(); }
  std::optional<bool> thread_priority_raised() const;

 private:
  CheckInLog(std::string dir, CheckInLogOptions options, uint64_t first_segment);
  struct Pending {
    uint64_t segment;
    std::string frame;
    Done logged;
  };
  struct Segment {
    int64_t unreleased = 0;
    bool closed = false;  // no more records go to it
  };

  void Run();
  void RaisePriority();  // on the log thread, first
  std::string PathOf(uint64_t segment) const;
  // Writes `batch` and syncs it; false (with the log marked unhealthy) on an I/O error.
  bool WriteBatch(std::vector<Pending>& batch);
  void DeleteReleased();

  const std::string dir_;
  const CheckInLogOptions options_;
  std::vector<LoggedCheckIn> recovered_;
  std::vector<uint64_t> recovered_segments_;

  mutable base::Mutex mu_;
  base::CondVar cv_;
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  std::map<uint64_t, Segment> segments_ GUARDED_BY(mu_);
  uint64_t current_ GUARDED_BY(mu_);          // the segment Append assigns to
  size_t current_bytes_ GUARDED_BY(mu_) = 0;  // bytes assigned to it
  bool releasable_ GUARDED_BY(mu_) = false;   // a closed segment may be all released
  bool started_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;

  // Log-thread only (read by DeleteReleased on that thread): the open segment file.
  int fd_ = -1;
  uint64_t fd_segment_ = 0;

  std::atomic<bool> healthy_{true};
  std::atomic<int64_t> outstanding_{0};
  std::atomic<int> thread_id_{0};
  std::atomic<int> priority_{0};  // 0 not tried yet, 1 lowered, 2 refused or not asked
  std::thread writer_;
};

// Applies the records the store does not have yet (see "Recovery"), in one transaction.
// Returns how many were applied; records of watches no longer in the store are skipped.
base::Result<size_t> ReplayCheckIns(store::Store& store, const std::vector<LoggedCheckIn>& records);

}  // namespace overdue::journal
