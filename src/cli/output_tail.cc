#include "cli/output_tail.h"

#include <algorithm>

namespace overdue::cli {

void OutputTail::Append(std::string_view bytes) {
  total_ += bytes.size();
  if (bytes.size() >= capacity_) {
    buffer_.assign(bytes.substr(bytes.size() - capacity_));
    return;
  }
  buffer_.append(bytes);
  if (buffer_.size() >= 2 * capacity_) buffer_.erase(0, buffer_.size() - capacity_);
}

std::string OutputTail::Contents(size_t limit) const {
  const size_t n = std::min({capacity_, limit, buffer_.size()});
  std::string_view tail(buffer_);
  tail = tail.substr(tail.size() - n);
  if (n < total_) {
    // A UTF-8 sequence is at most 4 bytes: at most 3 continuation bytes can lead the tail.
    size_t skip = 0;
    while (skip < 3 && skip < tail.size() &&
           (static_cast<unsigned char>(tail[skip]) & 0xC0) == 0x80) {
      ++skip;
    }
    tail.remove_prefix(skip);
  }
  return std::string(tail);
}

}  // namespace overdue::cli
