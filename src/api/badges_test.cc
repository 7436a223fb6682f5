#include "api/badges.h"

#include <regex>
#include <string>

#include <gtest/gtest.h>

namespace overdue::api {
namespace {

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";
constexpr std::string_view kBadgeKey = "9c1b6a57-3e4f-4c1d-a2b8-6f0e1d2c3b4a";

int SvgWidth(const std::string& svg) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(svg, m, std::regex("<svg [^>]*width=\"(\\d+)\"")));
  return m.empty() ? -1 : std::stoi(m[1]);
}

TEST(BadgeSvgTest, UsesTheStatusColour) {
  EXPECT_NE(BadgeSvg("foo", "up").find("fill=\"#4c1\""), std::string::npos);
  EXPECT_NE(BadgeSvg("foo", "late").find("fill=\"#fe7d37\""), std::string::npos);
  EXPECT_NE(BadgeSvg("foo", "down").find("fill=\"#e05d44\""), std::string::npos);
}

TEST(BadgeSvgTest, GeometryFollowsHealthchecksWidthTable) {
  // "foo" = f 4 + o 7 + o 7 = 18, + 10 padding; "up" = 7 + 7 + 10.
  const std::string svg = BadgeSvg("foo", "up");
  EXPECT_EQ(SvgWidth(svg), 52);
  EXPECT_NE(svg.find("<rect width=\"28\" height=\"20\" fill=\"#555\"/>"), std::string::npos);
  EXPECT_NE(svg.find("<rect x=\"28\" width=\"24\" height=\"20\" fill=\"#4c1\"/>"),
            std::string::npos);
  EXPECT_NE(svg.find("<text x=\"14.0\" y=\"14\">foo</text>"), std::string::npos);
  EXPECT_NE(svg.find("<text x=\"40.0\" y=\"14\">up</text>"), std::string::npos);
  // Half pixels are written with a dot, whatever the locale ("a" = 7 + 10 → 8.5).
  EXPECT_NE(BadgeSvg("a", "up").find("x=\"8.5\""), std::string::npos);
  // Wide and narrow letters, and the default for unlisted characters.
  EXPECT_EQ(SvgWidth(BadgeSvg("mm", "up")), 20 + 10 + 24);
  EXPECT_EQ(SvgWidth(BadgeSvg("@", "up")), 7 + 10 + 24);
  EXPECT_EQ(SvgWidth(BadgeSvg("Wil", "up")), 11 + 3 + 3 + 10 + 24);
}

TEST(BadgeSvgTest, WidthGrowsWithLabelLength) {
  int previous = 0;
  std::string label;
  for (int i = 0; i < 20; ++i) {
    label += "x";
    const int width = SvgWidth(BadgeSvg(label, "down"));
    EXPECT_GT(width, previous) << label;
    previous = width;
  }
}

TEST(BadgeSvgTest, CountsUtf8CharactersNotBytes) {
  // Two code points (4 bytes) at the default width each.
  EXPECT_EQ(SvgWidth(BadgeSvg("\xC3\xA9\xC3\xA9", "up")), 14 + 10 + 24);
}

TEST(BadgeSvgTest, EscapesTheLabelForXml) {
  const std::string svg = BadgeSvg("<a href=\"x\">&'", "up");
  EXPECT_EQ(svg.find("<a href"), std::string::npos);
  EXPECT_NE(svg.find("&lt;a href=&quot;x&quot;&gt;&amp;&#39;"), std::string::npos);
  EXPECT_EQ(BadgeSvg("a\x01z", "up").find('\x01'), std::string::npos);
  EXPECT_NE(BadgeSvg("a\x01z", "up").find("a\xEF\xBF\xBDz"), std::string::npos);
}

TEST(BadgeSignatureTest, IsEightUrlSafeCharactersOfHmacSha256) {
  // python3: base64.urlsafe_b64encode(hmac.new(b"secret", b"key-1prod", sha256).digest())[:8]
  EXPECT_EQ(BadgeSignature("secret", "key-1", "prod"), "4CN5UgU1");
  const std::string sig = BadgeSignature(kSecret, kBadgeKey, "*");
  EXPECT_EQ(sig.size(), 8u);
  EXPECT_EQ(
      sig.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
}

TEST(BadgeSignatureTest, RoundTripsWithAndWithoutTwoStateSuffix) {
  const std::string sig = BadgeSignature(kSecret, kBadgeKey, "prod");
  EXPECT_TRUE(CheckBadgeSignature(kSecret, kBadgeKey, "prod", sig));
  EXPECT_TRUE(CheckBadgeSignature(kSecret, kBadgeKey, "prod", sig + "-2"));
}

TEST(BadgeSignatureTest, RejectsWrongSignatures) {
  const std::string sig = BadgeSignature(kSecret, kBadgeKey, "prod");
  EXPECT_FALSE(CheckBadgeSignature(kSecret, kBadgeKey, "prod", "12345678"));
  EXPECT_FALSE(CheckBadgeSignature(kSecret, kBadgeKey, "other", sig));
  EXPECT_FALSE(CheckBadgeSignature(kSecret, "another-key", "prod", sig));
  EXPECT_FALSE(CheckBadgeSignature("another secret", kBadgeKey, "prod", sig));
  EXPECT_FALSE(CheckBadgeSignature(kSecret, kBadgeKey, "prod", sig.substr(0, 7)));
  EXPECT_FALSE(CheckBadgeSignature(kSecret, kBadgeKey, "prod", sig + "x"));
  EXPECT_FALSE(CheckBadgeSignature(kSecret, kBadgeKey, "prod", sig + "-3"));
  EXPECT_FALSE(CheckBadgeSignature(kSecret, kBadgeKey, "prod", sig + "-2-2"));
  EXPECT_FALSE(CheckBadgeSignature(kSecret, kBadgeKey, "prod", ""));
}

TEST(BadgeUrlPathTest, EveryCheckBadgeHasNoTagSegment) {
  const std::string sig = BadgeSignature(kSecret, kBadgeKey, "*");
  EXPECT_EQ(BadgeUrlPath(kSecret, kBadgeKey, "*", "svg", true),
            "/badge/" + std::string(kBadgeKey) + "/" + sig + ".svg");
  EXPECT_EQ(BadgeUrlPath(kSecret, kBadgeKey, "*", "json", false),
            "/badge/" + std::string(kBadgeKey) + "/" + sig + "-2.json");
}

TEST(BadgeUrlPathTest, TagBadgeSignsTheTag) {
  const std::string sig = BadgeSignature(kSecret, kBadgeKey, "prod");
  EXPECT_EQ(BadgeUrlPath(kSecret, kBadgeKey, "prod", "shields", false),
            "/badge/" + std::string(kBadgeKey) + "/" + sig + "-2/prod.shields");
  EXPECT_EQ(BadgeUrlPath(kSecret, kBadgeKey, "prod", "svg", true),
            "/badge/" + std::string(kBadgeKey) + "/" + sig + "/prod.svg");
}

TEST(BadgeUrlPathTest, QuotesTagsTwiceAsHealthchecks) {
  // Expected values from healthchecks: quote(quote(tag, safe=""), safe="!$&'()*+,;=/~:@").
  auto tag_part = [](std::string_view tag) {
    const std::string path = BadgeUrlPath(kSecret, kBadgeKey, tag, "svg", false);
    const size_t start = path.rfind('/') + 1;
    return path.substr(start, path.size() - start - 4);
  };
  EXPECT_EQ(tag_part("db@dc1"), "db%2540dc1");
  EXPECT_EQ(tag_part("a b"), "a%2520b");
  EXPECT_EQ(tag_part("\xC3\xA9t\xC3\xA9"), "%25C3%25A9t%25C3%25A9");
  EXPECT_EQ(tag_part("x/y"), "x%252Fy");
  EXPECT_EQ(tag_part("a-b_c.d~e"), "a-b_c.d~e");
}

TEST(BadgeTagFromPathTest, ReversesBadgeUrlPath) {
  for (std::string_view tag : {"prod", "db@dc1", "a b", "\xC3\xA9t\xC3\xA9", "x/y", "100%"}) {
    const std::string path = BadgeUrlPath(kSecret, kBadgeKey, tag, "svg", false);
    const size_t start = path.rfind('/') + 1;
    EXPECT_EQ(BadgeTagFromPath(path.substr(start, path.size() - start - 4)), std::string(tag));
  }
}

TEST(BadgeTagFromPathTest, ReadsSegmentsAsHealthchecks) {
  EXPECT_EQ(BadgeTagFromPath("foo"), "foo");
  // Quoted once: decodes to a character healthchecks' URL pattern refuses.
  EXPECT_EQ(BadgeTagFromPath("db%40dc1"), std::nullopt);
  // Non-ASCII letters quoted once pass, as Python's \w matches them.
  EXPECT_EQ(BadgeTagFromPath("%C3%A9t%C3%A9"), "\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(BadgeTagFromPath(""), std::nullopt);
  // A '%' without two hex digits stays, as Python's unquote leaves it.
  EXPECT_EQ(BadgeTagFromPath("a%2"), "a%2");
}

TEST(AggregateTest, DownWinsThenLateWhenAsked) {
  const std::vector<std::string> mixed = {"up", "grace", "new", "paused", "down", "grace"};
  const BadgeCounts three = Aggregate(mixed, /*with_late=*/true);
  EXPECT_EQ(three.status, "down");
  EXPECT_EQ(three.total, 6);
  EXPECT_EQ(three.grace, 2);
  EXPECT_EQ(three.down, 1);

  EXPECT_EQ(Aggregate({"up", "grace", "new"}, true).status, "late");
  const BadgeCounts two = Aggregate({"up", "grace", "new"}, /*with_late=*/false);
  EXPECT_EQ(two.status, "up");
  EXPECT_EQ(two.grace, 1);
  EXPECT_EQ(two.total, 3);
  EXPECT_EQ(Aggregate({"grace", "down"}, true).status, "down");
  EXPECT_EQ(Aggregate({"started", "paused"}, true).status, "up");
}

TEST(AggregateTest, NoChecksIsUp) {
  const BadgeCounts none = Aggregate({}, true);
  EXPECT_EQ(none.status, "up");
  EXPECT_EQ(none.total, 0);
  EXPECT_EQ(none.grace, 0);
  EXPECT_EQ(none.down, 0);
}

}  // namespace
}  // namespace overdue::api
