#include "store/faulty_store.h"

#include <thread>

namespace overdue::store {

Status FaultyStore::Apply(const std::vector<Mutation>& batch) {
  applies_++;
  if (const int64_t d = delay_ms_.load(); d > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(d));
  }
  int n = fail_after_.load();
  while (n > 0 && !fail_after_.compare_exchange_weak(n, n - 1)) {
  }
  if (n == 0) {
    failed_++;
    return base::Unavailable("injected fault: disk I/O error");
  }
  return inner_.Apply(batch);
}

}  // namespace overdue::store
