// OutputTail: keeps the last `capacity` bytes of a stream of output (what `overdue run`
// sends as the body of its final ping). Appending costs amortised O(bytes appended); memory
// stays below 2 * capacity. Not thread-safe; one reader loop owns it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace overdue::cli {

class OutputTail {
 public:
  explicit OutputTail(size_t capacity) : capacity_(capacity) {}

  void Append(std::string_view bytes);

  // The last min(capacity, limit) bytes seen. When older output was dropped, a UTF-8
  // sequence cut in two at the start is dropped too, so the text stays valid where the
  // output was.
  std::string Contents(size_t limit = std::string::npos) const;

  size_t total_bytes() const { return total_; }  // everything ever appended

 private:
  size_t capacity_;
  size_t total_ = 0;
  std::string buffer_;  // holds the tail; trimmed to capacity_ once it doubles
};

}  // namespace overdue::cli
