// The embedded default Store: one SQLite file in WAL mode (DESIGN.md, Storage).
//
// Three connections: the writer (Apply, PruneCheckIns — called only by the journal's single
// writer thread) and a reader for every read method, serialised by a mutex. In WAL mode the
// reader sees the last committed state and never waits for the writer's transaction. The
// third belongs to a thread that checkpoints the WAL, so commits do not (SqliteOptions).
// Durability: sync_full → synchronous=FULL (a commit is fsynced before Apply returns);
// otherwise synchronous=NORMAL (WAL: the commit survives a process crash, not a power cut).
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace overdue::store {

struct SqliteOptions {
  std::string path;       // the database file; created if missing
  bool sync_full = true;  // durability=commit → FULL; relaxed → NORMAL
  // Checkpoints (copying the WAL into the database file) run on a thread of their own every
  // `checkpoint_pages` new WAL pages; the writer checkpoints itself only once the WAL holds
  // `inline_checkpoint_pages` (4 KiB pages: 4 MiB and 8 MiB; BENCHMARKS.md, "Background
  // checkpoints", compares 8 and 32 MiB).
  int checkpoint_pages = 1000;
  int inline_checkpoint_pages = 2048;
  // The writer's page cache, at most. SQLite's default (2,000 KiB) is smaller than what one
  // commit of a storm's incidents touches, so pages were spilled to the WAL mid-transaction
  // and read back (BENCHMARKS.md, "Derived timeline entries").
  int writer_cache_kib = 8192;
  // With sync_full: the writer writes a commit's WAL frames in one system call, not two per
  // page (wal_vfs.h). Off only to measure the difference.
  bool gather_wal_writes = true;
};

// Opens (creating and migrating as needed) the database. Refuses a file written by a newer
// overdue (a schema version above ours) with a message saying so.
base::Result<std::unique_ptr<Store>> OpenSqlite(const SqliteOptions& options);

}  // namespace overdue::store
