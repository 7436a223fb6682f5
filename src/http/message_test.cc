#include "http/message.h"

#include <gtest/gtest.h>

namespace overdue::http {
namespace {

Request WithQuery(std::string query) {
  Request r;
  r.query = std::move(query);
  return r;
}

TEST(RequestTest, QueryParamDecodesPercentAndPlus) {
  const Request r = WithQuery("a=1&rid=x%2Fy+z&b");
  EXPECT_EQ(r.QueryParam("rid"), "x/y z");
  EXPECT_EQ(r.QueryParam("a"), "1");
  EXPECT_EQ(r.QueryParam("b"), "");  // present without '='
  EXPECT_EQ(r.QueryParam("c"), std::nullopt);
}

TEST(RequestTest, QueryParamReturnsFirstValue) {
  EXPECT_EQ(WithQuery("create=1&create=0").QueryParam("create"), "1");
}

TEST(RequestTest, QueryParamMatchesEncodedKeys) {
  EXPECT_EQ(WithQuery("my%20key=v&x=y").QueryParam("my key"), "v");
  EXPECT_EQ(WithQuery("my+key=v").QueryParam("my key"), "v");
}

TEST(RequestTest, QueryParamKeepsMalformedEscapes) {
  EXPECT_EQ(WithQuery("a=100%&b=%zz%4").QueryParam("a"), "100%");
  EXPECT_EQ(WithQuery("a=100%&b=%zz%4").QueryParam("b"), "%zz%4");
}

TEST(RequestTest, QueryParamSkipsEmptyPairs) {
  EXPECT_EQ(WithQuery("&&a=%41&").QueryParam("a"), "A");
  EXPECT_EQ(WithQuery("").QueryParam("a"), std::nullopt);
}

TEST(RequestTest, HeaderFindsFirstLowerCasedName) {
  Request r;
  r.headers = {{"x-a", "1"}, {"x-b", "2"}, {"x-a", "3"}};
  ASSERT_NE(r.Header("x-a"), nullptr);
  EXPECT_EQ(*r.Header("x-a"), "1");
  EXPECT_EQ(r.Header("x-c"), nullptr);
}

}  // namespace
}  // namespace overdue::http
