#include "cli/output_tail.h"

#include <gtest/gtest.h>

namespace overdue::cli {
namespace {

TEST(OutputTailTest, KeepsEverythingBelowCapacity) {
  OutputTail tail(10);
  tail.Append("abc");
  tail.Append("def");
  EXPECT_EQ(tail.Contents(), "abcdef");
  EXPECT_EQ(tail.total_bytes(), 6u);
}

TEST(OutputTailTest, KeepsOnlyTheLastCapacityBytes) {
  OutputTail tail(10);
  std::string all;
  for (int i = 0; i < 1000; ++i) {
    const std::string chunk = std::to_string(i) + ",";
    tail.Append(chunk);
    all += chunk;
  }
  EXPECT_EQ(tail.Contents(), all.substr(all.size() - 10));
  EXPECT_EQ(tail.total_bytes(), all.size());
}

TEST(OutputTailTest, OneLargeAppendKeepsItsEnd) {
  OutputTail tail(4);
  tail.Append("0123456789");
  EXPECT_EQ(tail.Contents(), "6789");
}

TEST(OutputTailTest, LimitShortensTheTail) {
  OutputTail tail(10);
  tail.Append("0123456789");
  EXPECT_EQ(tail.Contents(3), "789");
}

TEST(OutputTailTest, DropsACutUtf8SequenceAtTheStart) {
  OutputTail tail(5);
  tail.Append(
      "x\xE2\x82\xAC"
      "abc");  // "x€abc": the tail starts inside the euro sign
  EXPECT_EQ(tail.Contents(), "abc");
}

TEST(OutputTailTest, KeepsLeadingContinuationBytesWhenNothingWasDropped) {
  OutputTail tail(5);
  tail.Append(
      "\x82\xAC"
      "ab");  // not ours to repair: the command printed it
  EXPECT_EQ(tail.Contents(),
            "\x82\xAC"
            "ab");
}

}  // namespace
}  // namespace overdue::cli
