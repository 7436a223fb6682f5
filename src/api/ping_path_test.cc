#include "api/ping_path.h"

#include <gtest/gtest.h>

namespace overdue::api {
namespace {

constexpr const char* kId = "07c2f548-9850-4b27-af5d-6c9dc157ec02";

TEST(PingPathTest, UuidForms) {
  auto p = ParsePingPath(std::string("/ping/") + kId);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->form, PingPath::Form::kUuid);
  EXPECT_EQ(p->uuid.ToString(), kId);
  EXPECT_EQ(p->signal, model::Signal::kSuccess);

  p = ParsePingPath(std::string("/ping/") + kId + "/");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->signal, model::Signal::kSuccess);

  EXPECT_EQ(ParsePingPath(std::string("/ping/") + kId + "/start")->signal, model::Signal::kStart);
  EXPECT_EQ(ParsePingPath(std::string("/ping/") + kId + "/fail")->signal, model::Signal::kFail);
  EXPECT_EQ(ParsePingPath(std::string("/ping/") + kId + "/log")->signal, model::Signal::kLog);
}

TEST(PingPathTest, ExitStatus) {
  auto p = ParsePingPath(std::string("/ping/") + kId + "/0");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->exit_status, 0);
  p = ParsePingPath(std::string("/ping/") + kId + "/255");
  EXPECT_EQ(p->exit_status, 255);
  p = ParsePingPath(std::string("/ping/") + kId + "/256");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->exit_status_too_large);
  p = ParsePingPath(std::string("/ping/") + kId + "/99999999999999999999");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->exit_status_too_large);
}

TEST(PingPathTest, AlternativeUuidFormsAreNotUuids) {
  // No separators: Django's converter refuses it; not a slug URL either (one segment).
  EXPECT_FALSE(ParsePingPath("/ping/07c2f54898504b27af5d6c9dc157ec02"));
  EXPECT_FALSE(ParsePingPath("/ping/not-uuid/"));
  // Uppercase UUID + action: it matches the slug form (ping key, slug "start").
  auto p = ParsePingPath("/ping/07C2F548-9850-4B27-AF5D-6C9DC157EC02/start");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->form, PingPath::Form::kSlug);
  EXPECT_EQ(p->slug, "start");
}

TEST(PingPathTest, SlugForms) {
  auto p = ParsePingPath("/ping/abcdefghijklmnopqrstuv/nightly-backup");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->form, PingPath::Form::kSlug);
  EXPECT_EQ(p->ping_key, "abcdefghijklmnopqrstuv");
  EXPECT_EQ(p->slug, "nightly-backup");
  EXPECT_EQ(ParsePingPath("/ping/key/slug/fail")->signal, model::Signal::kFail);
  EXPECT_EQ(ParsePingPath("/ping/key/slug/7")->exit_status, 7);
  EXPECT_TRUE(ParsePingPath("/ping/key/Slug")->slug_not_lowercase);
  // Trailing slash without action is not a route for slug URLs.
  EXPECT_FALSE(ParsePingPath("/ping/key/slug/"));
  EXPECT_FALSE(ParsePingPath("/ping/key/slug/bogus"));
  EXPECT_FALSE(ParsePingPath("/ping/key/sl.ug"));
  EXPECT_FALSE(ParsePingPath("/ping/key/slug/fail/extra"));
  EXPECT_FALSE(ParsePingPath("/ping/"));
  EXPECT_FALSE(ParsePingPath("/pong/key/slug"));
}

TEST(PingPathTest, UuidWithUnknownSuffixIsASlugUrl) {
  auto p = ParsePingPath(std::string("/ping/") + kId + "/nightly");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->form, PingPath::Form::kSlug);
  EXPECT_EQ(p->ping_key, kId);
  EXPECT_EQ(p->slug, "nightly");
}

}  // namespace
}  // namespace overdue::api
