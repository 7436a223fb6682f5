// Fuzzes ISO 8601 times (base/time.h), which the API reads from users (a silence's "starts"
// and "ends") and templates read from a message's context. Any text is refused or parsed,
// never crashes; a parsed time formats to text that parses back to the same instant, so
// whatever the server echoes or exports it can read again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/time.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto t = overdue::base::ParseIso8601(text);
  if (!t) return 0;
  for (bool seconds_only : {false, true}) {
    const auto again = overdue::base::ParseIso8601(overdue::base::FormatIso8601(*t, seconds_only));
    if (!again) std::abort();
    // Whole seconds drop the fraction (Django's form): the same instant up to it.
    const int64_t diff = overdue::base::ToMicros(*t) - overdue::base::ToMicros(*again);
    if (seconds_only ? (diff < 0 || diff >= 1'000'000) : diff != 0) std::abort();
  }
  (void)overdue::base::FormatForPeople(*t);
  return 0;
}
