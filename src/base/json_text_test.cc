#include "base/json_text.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace overdue::base {
namespace {

using nlohmann::json;

const std::vector<std::string>& Strings() {
  static const std::vector<std::string> strings = {
      "",
      "plain ascii 0123 /path?x=1&y=2 https://host:8000/ack/tok",
      "quote \" backslash \\ slash /",
      std::string("controls \b\f\n\r\t \x01 \x1f end"),
      std::string("nul \0 inside", 12),
      "del \x7f",
      "utf-8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
      "bad: \xff\xfe \xc3 cut \xe2\x82",
      "\xed\xa0\x80 surrogate half",
  };
  return strings;
}

TEST(JsonTextTest, NeverThrowsAndReplacesBadBytes) {
  EXPECT_EQ(JsonText(json("a\xff")), "\"a\xef\xbf\xbd\"");
  EXPECT_EQ(JsonText(json{{"b", 1}, {"a", nullptr}}), R"({"a":null,"b":1})");
}

TEST(JsonTextTest, AppendJsonStringWritesWhatJsonTextWrites) {
  for (const std::string& s : Strings()) {
    std::string out = "x";
    AppendJsonString(out, s);
    std::string expected = "x";
    expected += JsonText(json(s));
    EXPECT_EQ(out, expected) << s;
  }
}

TEST(JsonTextTest, ObjectTextWithSortedKeysIsTheSameTextAsTheJsonValue) {
  for (const std::string& s : Strings()) {
    std::string out;
    {
      ObjectText o(out);
      o.Str("a", s).Int("b", -9007199254740993).Null("c");
      {
        ObjectText inner(o.Member("d"));
        inner.Int("x", 0).Str("y", s);
      }
      { ObjectText empty(o.Member("e")); }
      o.Int("f", INT64_MAX);
    }
    const json j{{"a", s},
                 {"b", -9007199254740993},
                 {"c", nullptr},
                 {"d", {{"x", 0}, {"y", s}}},
                 {"e", json::object()},
                 {"f", INT64_MAX}};
    EXPECT_EQ(out, JsonText(j)) << s;
    // And it is JSON that reads back (bad bytes as U+FFFD).
    EXPECT_FALSE(json::parse(out, nullptr, false).is_discarded()) << out;
  }
}

}  // namespace
}  // namespace overdue::base
