// A SQLite VFS that writes a transaction's WAL frames with one system call per ~30 pages
// instead of two per page.
//
// Design note. SQLite appends each WAL frame as two writes (a 24-byte header, then the page),
// so a commit of 300 pages costs 600 pwrite(2) calls: 30,000 on the writer thread in a storm
// of deadlines, on a virtual machine where a system call is dear (BENCHMARKS.md, "One write
// per commit"). This VFS wraps the default one and, for WAL files only, gathers consecutive
// writes in memory, up to 120 KiB (the most SQLite's Unix VFS writes at once); they reach the
// file in one write when that is full, and at the latest before anything that could observe
// them: a sync, a read, a size or truncate, a file control, the close.
//
// Why that is enough: with synchronous=FULL, SQLite syncs the WAL after the commit frame and
// only then publishes the new frames to other connections (the wal-index header), so no
// connection can see a frame that is not yet in the file, and a failed write fails the commit
// as before. With synchronous=NORMAL there is no sync before publishing, and a write that
// fails after the commit returned could not be reported: so the store uses this VFS for the
// writer only with synchronous=FULL (durability=commit). And only where the file system does
// not need SQLite's sector padding (SQLITE_IOCAP_POWERSAFE_OVERWRITE, the default on Unix):
// with padding, SQLite writes the end of the last frame after the sync. Elsewhere the VFS
// passes every call straight through.
//
// Thread-safety: as SQLite's own VFS; a file object is used by one connection at a time.
#pragma once

#include <cstdint>

namespace overdue::store {

// Registers the VFS (once; not as the default) and returns its name for sqlite3_open_v2.
const char* WalCoalescingVfs();

// Counts since the process started, for tests and benchmarks: WAL writes SQLite asked for,
// and the writes that reached the file system.
struct WalWriteCounts {
  int64_t asked = 0;
  int64_t written = 0;
};
WalWriteCounts WalWrites();

}  // namespace overdue::store
