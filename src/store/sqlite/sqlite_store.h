// The embedded default Store: one SQLite file in WAL mode (DESIGN.md, Storage).
//
// Two connections: the writer (Apply, PruneCheckIns — called only by the journal's single
// writer thread) and a reader for every read method, serialised by a mutex. In WAL mode the
// reader sees the last committed state and never waits for the writer's transaction.
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
};

// Opens (creating and migrating as needed) the database. Refuses a file written by a newer
// overdue (a schema version above ours) with a message saying so.
base::Result<std::unique_ptr<Store>> OpenSqlite(const SqliteOptions& options);

}  // namespace overdue::store
