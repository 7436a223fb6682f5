#include "api/ack_link.h"

#include <cctype>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace overdue::api {
namespace {

const base::TimePoint kNow = base::FromMicros(1'800'000'000'000'000);

TEST(AckLinkTest, RoundTripsUntilItExpires) {
  const std::string t = MakeAckToken("secret", 42, kNow + std::chrono::hours(1));
  auto id = CheckAckToken("secret", t, kNow);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id.value(), 42);
  auto expired = CheckAckToken("secret", t, kNow + std::chrono::hours(1));
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, base::ErrorCode::kConflict);
}

TEST(AckLinkTest, RefusesForgedOrStretchedOrMalformedTokens) {
  const std::string t = MakeAckToken("secret", 42, kNow + std::chrono::hours(1));
  EXPECT_FALSE(CheckAckToken("other secret", t, kNow).ok());
  std::string other_id = t;
  other_id[0] = '3';  // another incident with the same signature
  EXPECT_FALSE(CheckAckToken("secret", other_id, kNow).ok());
  const size_t dot = t.find('.');
  std::string stretched = t;
  stretched[dot + 1] = '9';  // a later expiry
  EXPECT_FALSE(CheckAckToken("secret", stretched, kNow).ok());
  // The same incident and expiry spelt another way: one link has one spelling.
  EXPECT_FALSE(CheckAckToken("secret", fmt::format("0{}", t), kNow).ok());
  EXPECT_FALSE(
      CheckAckToken("secret", fmt::format("{}0{}", t.substr(0, dot + 1), t.substr(dot + 1)), kNow)
          .ok());
  std::string upper = t;
  for (size_t i = t.rfind('.') + 1; i < upper.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  ASSERT_NE(upper, t);
  EXPECT_FALSE(CheckAckToken("secret", upper, kNow).ok());
  for (std::string_view bad : {"", "42", "42.x.y", "-1.5.abc", "+42.5.abc", "42..", "..."}) {
    auto r = CheckAckToken("secret", bad, kNow);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, base::ErrorCode::kNotFound) << bad;
  }
}

}  // namespace
}  // namespace overdue::api
