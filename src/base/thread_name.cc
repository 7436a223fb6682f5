#include "base/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace overdue::base {

void NameThisThread(const char* name) {
  // pthread_setname_np refuses names over 15 characters: cut them instead.
  const std::string cut(name, std::min<size_t>(std::strlen(name), 15));
  (void)pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace overdue::base
