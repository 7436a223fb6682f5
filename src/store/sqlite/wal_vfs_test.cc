#include "store/sqlite/wal_vfs.h"

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>

namespace overdue::store {
namespace {

namespace fs = std::filesystem;

class WalVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("wal_vfs_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "t.db").string();
    ASSERT_NE(WalCoalescingVfs(), nullptr);
    writer_ = Open(WalCoalescingVfs());
    Exec(writer_, "PRAGMA synchronous=FULL");
    Exec(writer_, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
    // Another connection on SQLite's own VFS, as the store's reader and checkpointer.
    reader_ = Open(nullptr);
  }
  void TearDown() override {
    sqlite3_close_v2(reader_);
    sqlite3_close_v2(writer_);
    fs::remove_all(dir_);
  }

  sqlite3* Open(const char* vfs) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
              SQLITE_OK);
    Exec(db, "PRAGMA journal_mode=WAL");
    return db;
  }
  static int Exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    return rc;
  }
  static int64_t Int(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
  }
  static std::string Text(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string v;
    if (sqlite3_step(s) == SQLITE_ROW) v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
  }
  // Rows from..to-1, each 3,000 bytes (about a page) made of its key.
  static int Insert(sqlite3* db, int from, int to) {
    return Exec(db, "WITH RECURSIVE s(x) AS (SELECT " + std::to_string(from) +
                        " UNION ALL SELECT x + 1 FROM s WHERE x < " + std::to_string(to - 1) +
                        ") INSERT INTO t(k, v) SELECT x, printf('%3000d', x) FROM s");
  }

  fs::path dir_;
  std::string path_;
  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
};

TEST_F(WalVfsTest, ACommitsFramesReachTheFileInAFewWritesAndOtherConnectionsSeeThem) {
  const WalWriteCounts before = WalWrites();
  ASSERT_EQ(Exec(writer_, "BEGIN"), SQLITE_OK);
  ASSERT_EQ(Insert(writer_, 0, 300), SQLITE_OK);
  ASSERT_EQ(Exec(writer_, "COMMIT"), SQLITE_OK);
  const WalWriteCounts after = WalWrites();
  // Two writes per frame asked for (~300 pages, 1.2 MB), a dozen made: the WAL header at its
  // own sync, then the frames 120 KiB at a time, the last piece at the commit's sync.
  EXPECT_GE(after.asked - before.asked, 600);
  EXPECT_LE(after.written - before.written, 1 + 12);
  // The other connection reads the frames from the file, right after the commit.
  EXPECT_EQ(Int(reader_, "SELECT count(*) FROM t"), 300);
  EXPECT_EQ(Int(reader_, "SELECT count(*) FROM t WHERE length(v) = 3000 AND trim(v) = k"), 300);
  EXPECT_EQ(Text(reader_, "PRAGMA integrity_check"), "ok");
}

TEST_F(WalVfsTest, ATransactionLargerThanTheCacheReadsBackAndRewritesItsOwnFrames) {
  // A ten-page cache: SQLite spills pages to the WAL mid-transaction, reads them back, and
  // writes some of them again before the commit.
  ASSERT_EQ(Exec(writer_, "PRAGMA cache_size=10"), SQLITE_OK);
  ASSERT_EQ(Exec(writer_, "BEGIN"), SQLITE_OK);
  ASSERT_EQ(Insert(writer_, 0, 500), SQLITE_OK);
  ASSERT_EQ(Exec(writer_, "UPDATE t SET v = printf('%2000d', k) WHERE k % 7 = 0"), SQLITE_OK);
  ASSERT_EQ(Exec(writer_, "DELETE FROM t WHERE k % 11 = 0"), SQLITE_OK);
  EXPECT_EQ(Int(writer_, "SELECT count(*) FROM t"), 500 - 46);
  ASSERT_EQ(Exec(writer_, "COMMIT"), SQLITE_OK);

  EXPECT_EQ(Int(reader_, "SELECT count(*) FROM t"), 500 - 46);
  EXPECT_EQ(Int(reader_, "SELECT count(*) FROM t WHERE length(v) = 2000 AND trim(v) = k"),
            500 / 7 + 1 - 7);
  EXPECT_EQ(Int(reader_, "SELECT count(*) FROM t WHERE length(v) = 3000 AND trim(v) = k"),
            500 - 46 - (500 / 7 + 1 - 7));
  EXPECT_EQ(Text(reader_, "PRAGMA integrity_check"), "ok");
  // And after a checkpoint copied the frames into the database file.
  ASSERT_EQ(
      sqlite3_wal_checkpoint_v2(reader_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close_v2(reader_);
  reader_ = Open(nullptr);
  EXPECT_EQ(Int(reader_, "SELECT count(*) FROM t"), 500 - 46);
  EXPECT_EQ(Text(reader_, "PRAGMA integrity_check"), "ok");
}

TEST_F(WalVfsTest, AWriteThatFailsFailsTheCommitAndLeavesNothingOfIt) {
  ASSERT_EQ(Insert(writer_, 0, 10), SQLITE_OK);
  // The file system refuses to grow the WAL by more than a few pages: the gathered write of
  // the next commit fails at its sync.
  const std::uintmax_t wal = fs::file_size(path_ + "-wal");
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto* const old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = old;
  limited.rlim_cur = wal + 5 * 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  ASSERT_EQ(Exec(writer_, "BEGIN"), SQLITE_OK);
  const int insert = Insert(writer_, 10, 200);
  const int commit = insert == SQLITE_OK ? Exec(writer_, "COMMIT") : insert;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(commit, SQLITE_OK);
  if (sqlite3_get_autocommit(writer_) == 0) Exec(writer_, "ROLLBACK");

  EXPECT_EQ(Int(reader_, "SELECT count(*) FROM t"), 10);
  EXPECT_EQ(Int(writer_, "SELECT count(*) FROM t"), 10);
  EXPECT_EQ(Text(reader_, "PRAGMA integrity_check"), "ok");
  // The writer carries on.
  ASSERT_EQ(Insert(writer_, 10, 200), SQLITE_OK);
  EXPECT_EQ(Int(reader_, "SELECT count(*) FROM t"), 200);
  EXPECT_EQ(Text(reader_, "PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace overdue::store
