#include "store/sqlite/wal_vfs.h"

#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <vector>

#include <sqlite3.h>

namespace overdue::store {
namespace {

constexpr const char* kName = "overdue-wal";
// Gathered bytes at most: one write of SQLite's Unix VFS takes at most 128 KiB - 1 bytes (it
// masks the length), so gathering more would not save a system call.
constexpr size_t kMaxGather = 30 * 4096;

std::atomic<int64_t> g_asked{0};
std::atomic<int64_t> g_written{0};
sqlite3_vfs* g_real = nullptr;  // the default VFS, which does the work
sqlite3_vfs g_vfs{};

struct File {
  sqlite3_file base;   // first: SQLite sees this
  sqlite3_file* real;  // the default VFS's file, in the same allocation after this struct
  bool gather;         // a WAL file whose writes are gathered
  std::vector<char> pending;
  sqlite3_int64 pending_off = 0;
};

constexpr size_t kRealOffset = (sizeof(File) + alignof(std::max_align_t) - 1) /
                               alignof(std::max_align_t) * alignof(std::max_align_t);

File* Self(sqlite3_file* p) { return reinterpret_cast<File*>(p); }
sqlite3_file* Real(sqlite3_file* p) { return Self(p)->real; }
const sqlite3_io_methods& M(sqlite3_file* p) { return *Real(p)->pMethods; }

// Writes what was gathered. Whatever the outcome the gathered bytes are gone: a failure fails
// the call that flushed (a sync, so the commit), and SQLite writes those frames again.
int Flush(File* f) {
  if (f->pending.empty()) return SQLITE_OK;
  g_written.fetch_add(1, std::memory_order_relaxed);
  const int rc = f->real->pMethods->xWrite(f->real, f->pending.data(),
                                           static_cast<int>(f->pending.size()), f->pending_off);
  f->pending.clear();
  return rc;
}

int Close(sqlite3_file* p) {
  File* f = Self(p);
  const int flushed = Flush(f);
  const int rc = f->real->pMethods->xClose(f->real);
  f->~File();
  return flushed != SQLITE_OK ? flushed : rc;
}

int Read(sqlite3_file* p, void* buf, int amt, sqlite3_int64 off) {
  if (const int rc = Flush(Self(p)); rc != SQLITE_OK) return rc;
  return M(p).xRead(Real(p), buf, amt, off);
}

int Write(sqlite3_file* p, const void* buf, int amt, sqlite3_int64 off) {
  File* f = Self(p);
  if (!f->gather) return M(p).xWrite(f->real, buf, amt, off);
  g_asked.fetch_add(1, std::memory_order_relaxed);
  const auto n = static_cast<size_t>(amt);
  const auto* bytes = static_cast<const char*>(buf);
  if (!f->pending.empty()) {
    const sqlite3_int64 end = f->pending_off + static_cast<sqlite3_int64>(f->pending.size());
    if (off >= f->pending_off && off + amt <= end) {
      // A frame of this transaction written again (SQLite rewrites checksums in place).
      std::memcpy(f->pending.data() + (off - f->pending_off), bytes, n);
      return SQLITE_OK;
    }
    if (off != end || f->pending.size() + n > kMaxGather) {
      if (const int rc = Flush(f); rc != SQLITE_OK) return rc;
    }
  }
  if (n > kMaxGather) return M(p).xWrite(f->real, buf, amt, off);  // more than a page
  if (f->pending.empty()) f->pending_off = off;
  f->pending.insert(f->pending.end(), bytes, bytes + n);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* p, sqlite3_int64 size) {
  if (const int rc = Flush(Self(p)); rc != SQLITE_OK) return rc;
  return M(p).xTruncate(Real(p), size);
}

int Sync(sqlite3_file* p, int flags) {
  if (const int rc = Flush(Self(p)); rc != SQLITE_OK) return rc;
  return M(p).xSync(Real(p), flags);
}

int FileSize(sqlite3_file* p, sqlite3_int64* size) {
  if (const int rc = Flush(Self(p)); rc != SQLITE_OK) return rc;
  return M(p).xFileSize(Real(p), size);
}

int Lock(sqlite3_file* p, int level) { return M(p).xLock(Real(p), level); }
int Unlock(sqlite3_file* p, int level) { return M(p).xUnlock(Real(p), level); }
int CheckReservedLock(sqlite3_file* p, int* out) { return M(p).xCheckReservedLock(Real(p), out); }

int FileControl(sqlite3_file* p, int op, void* arg) {
  if (const int rc = Flush(Self(p)); rc != SQLITE_OK) return rc;
  return M(p).xFileControl(Real(p), op, arg);
}

int SectorSize(sqlite3_file* p) { return M(p).xSectorSize(Real(p)); }
int DeviceCharacteristics(sqlite3_file* p) { return M(p).xDeviceCharacteristics(Real(p)); }

int ShmMap(sqlite3_file* p, int page, int size, int extend, void volatile** out) {
  if (M(p).iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return M(p).xShmMap(Real(p), page, size, extend, out);
}
int ShmLock(sqlite3_file* p, int offset, int n, int flags) {
  if (M(p).iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return M(p).xShmLock(Real(p), offset, n, flags);
}
void ShmBarrier(sqlite3_file* p) {
  if (M(p).iVersion >= 2) M(p).xShmBarrier(Real(p));
}
int ShmUnmap(sqlite3_file* p, int del) {
  if (M(p).iVersion < 2) return SQLITE_OK;
  return M(p).xShmUnmap(Real(p), del);
}
int Fetch(sqlite3_file* p, sqlite3_int64 off, int amt, void** out) {
  *out = nullptr;
  if (M(p).iVersion < 3) return SQLITE_OK;
  return M(p).xFetch(Real(p), off, amt, out);
}
int Unfetch(sqlite3_file* p, sqlite3_int64 off, void* page) {
  if (M(p).iVersion < 3) return SQLITE_OK;
  return M(p).xUnfetch(Real(p), off, page);
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* p, int flags, int* out_flags) {
  File* f = new (p) File{};
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(p) + kRealOffset);
  const int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK || f->real->pMethods == nullptr) {
    f->~File();
    p->pMethods = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  const sqlite3_io_methods& m = *f->real->pMethods;
  f->gather = (flags & SQLITE_OPEN_WAL) != 0 && m.xDeviceCharacteristics != nullptr &&
              (m.xDeviceCharacteristics(f->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0;
  p->pMethods = &kMethods;
  return SQLITE_OK;
}

// Everything else is the default VFS's.
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void DlError(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*DlSym(sqlite3_vfs*, void* lib, const char* sym))(void) {
  return g_real->xDlSym(g_real, lib, sym);
}
void DlClose(sqlite3_vfs*, void* lib) { g_real->xDlClose(g_real, lib); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  if (g_real->iVersion >= 2 && g_real->xCurrentTimeInt64) {
    return g_real->xCurrentTimeInt64(g_real, out);
  }
  double days = 0;
  const int rc = g_real->xCurrentTime(g_real, &days);
  *out = static_cast<sqlite3_int64>(days * 86400000.0);
  return rc;
}

const char* Register() {
  g_real = sqlite3_vfs_find(nullptr);
  if (g_real == nullptr) return nullptr;
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(kRealOffset) + g_real->szOsFile;
  g_vfs.mxPathname = g_real->mxPathname;
  g_vfs.zName = kName;
  g_vfs.xOpen = Open;
  g_vfs.xDelete = Delete;
  g_vfs.xAccess = Access;
  g_vfs.xFullPathname = FullPathname;
  g_vfs.xDlOpen = DlOpen;
  g_vfs.xDlError = DlError;
  g_vfs.xDlSym = DlSym;
  g_vfs.xDlClose = DlClose;
  g_vfs.xRandomness = Randomness;
  g_vfs.xSleep = Sleep;
  g_vfs.xCurrentTime = CurrentTime;
  g_vfs.xGetLastError = GetLastError;
  g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  if (sqlite3_vfs_register(&g_vfs, 0) != SQLITE_OK) return nullptr;
  return kName;
}

}  // namespace

const char* WalCoalescingVfs() {
  static const char* const name = Register();
  return name;
}

WalWriteCounts WalWrites() {
  return {g_asked.load(std::memory_order_relaxed), g_written.load(std::memory_order_relaxed)};
}

}  // namespace overdue::store
