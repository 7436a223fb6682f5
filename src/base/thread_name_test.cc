#include "base/thread_name.h"

#include <pthread.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace overdue::base {
namespace {

std::string NameOf(pthread_t t) {
  char buf[32] = {};
  EXPECT_EQ(pthread_getname_np(t, buf, sizeof buf), 0);
  return buf;
}

TEST(NameThisThreadTest, NamesTheCallingThreadAndCutsLongNames) {
  std::string short_name, long_name;
  std::thread([&] {
    NameThisThread("od-journal");
    short_name = NameOf(pthread_self());
    NameThisThread("a-name-longer-than-fifteen");
    long_name = NameOf(pthread_self());
  }).join();
  EXPECT_EQ(short_name, "od-journal");
  EXPECT_EQ(long_name, "a-name-longer-t");
}

}  // namespace
}  // namespace overdue::base
