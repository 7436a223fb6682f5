#include "base/markup.h"

#include <gtest/gtest.h>

namespace overdue::base {
namespace {

TEST(MarkupTest, EscapesEntitiesAndReplacesForbiddenControls) {
  EXPECT_EQ(MarkupEscape(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(MarkupEscape(std::string("a\x01"
                                     "b\tc\n",
                                     6)),
            "a\xEF\xBF\xBD"
            "b\tc\n");
  EXPECT_EQ(MarkupEscape("plain ünïcode"), "plain ünïcode");
}

}  // namespace
}  // namespace overdue::base
