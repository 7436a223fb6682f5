// Fuzzes ParseDuration and FormatDuration: no crash, accepted values lie in
// [0, kMaxParsedDuration], FormatDuration spells them so they parse back to the same value,
// and every error has a message.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "base/duration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto d = overdue::base::ParseDuration(text);
  if (!d.ok()) {
    if (d.error().message.empty()) std::abort();
  } else {
    if (d.value().count() < 0 || d.value() > overdue::base::kMaxParsedDuration) std::abort();
    auto again = overdue::base::ParseDuration(overdue::base::FormatDuration(d.value()));
    if (!again.ok() || again.value() != d.value()) std::abort();
  }
  if (size >= 8) {  // any int64, including the extremes, formats without trouble
    int64_t us;
    std::memcpy(&us, data, sizeof us);
    if (overdue::base::FormatDuration(overdue::base::Duration{us}).empty()) std::abort();
  }
  return 0;
}
