#include "base/uuid.h"

#include <set>

#include <gtest/gtest.h>

namespace overdue::base {
namespace {

TEST(UuidTest, ParseAndFormatRoundTrip) {
  auto u = Uuid::Parse("07c2f548-9850-4b27-af5d-6c9dc157ec02");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->ToString(), "07c2f548-9850-4b27-af5d-6c9dc157ec02");
  auto upper = Uuid::Parse("07C2F548-9850-4B27-AF5D-6C9DC157EC02");
  ASSERT_TRUE(upper);
  EXPECT_EQ(*upper, *u);
}

TEST(UuidTest, RejectsOtherForms) {
  EXPECT_FALSE(Uuid::Parse("07c2f54898504b27af5d6c9dc157ec02"));
  EXPECT_FALSE(Uuid::Parse("{07c2f548-9850-4b27-af5d-6c9dc157ec02}"));
  EXPECT_FALSE(Uuid::Parse("07c2f548-9850-4b27-af5d-6c9dc157ec0g"));
  EXPECT_FALSE(Uuid::Parse("684e2e73-017e-465f-8149-d70b7c5aaa490"));
  EXPECT_FALSE(Uuid::Parse("07c2f548+9850-4b27-af5d-6c9dc157ec02"));
  EXPECT_FALSE(Uuid::Parse(""));
  EXPECT_FALSE(Uuid::Parse("07C2F548-9850-4B27-AF5D-6C9DC157EC02", /*lowercase_only=*/true));
}

TEST(UuidTest, RandomIsVersion4AndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const Uuid u = Uuid::Random();
    EXPECT_EQ(u.bytes[6] >> 4, 4);
    EXPECT_EQ(u.bytes[8] & 0xC0, 0x80);
    EXPECT_TRUE(seen.insert(u.ToString()).second);
  }
  EXPECT_TRUE(Uuid{}.IsNil());
  EXPECT_FALSE(Uuid::Random().IsNil());
}

}  // namespace
}  // namespace overdue::base
