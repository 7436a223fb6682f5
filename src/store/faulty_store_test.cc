#include "store/faulty_store.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "store/sqlite/sqlite_store.h"

namespace overdue::store {
namespace {

TEST(FaultyStoreTest, FailsAfterNThenHeals) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("faulty_store_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    auto inner = OpenSqlite(SqliteOptions{(dir / "f.db").string(), false});
    ASSERT_TRUE(inner.ok());
    FaultyStore f(*inner.value());
    f.FailApplyAfter(1);
    EXPECT_TRUE(f.Apply({SetMeta{"a", "1"}}).ok());
    EXPECT_FALSE(f.Apply({SetMeta{"b", "2"}}).ok());
    EXPECT_FALSE(f.Apply({SetMeta{"c", "3"}}).ok());
    EXPECT_EQ(f.failed_applies(), 2);
    EXPECT_FALSE(f.GetMeta("b").value());  // a failed Apply wrote nothing
    f.Heal();
    EXPECT_TRUE(f.Apply({SetMeta{"d", "4"}}).ok());
    EXPECT_EQ(f.GetMeta("d").value(), std::optional<std::string>("4"));
    EXPECT_EQ(f.applies(), 4);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace overdue::store
