// Fuzzes the acknowledgement link's token (api/ack_link.h), which anyone can send to the public
// /ack/<token> page. Any bytes are refused or accepted, never crash. Beyond that: a refusal is
// kNotFound (malformed or forged) or kConflict (expired) only, and a token that passes the
// signature check (accepted, or refused as expired) is in its one canonical spelling, so a
// link has no second form (leading zeros, an upper-case signature) that also works.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "api/ack_link.h"
#include "base/hmac.h"

namespace {

constexpr std::string_view kSecret = "fuzz-secret";
// 2027-01-15T08:00:00Z; the seed corpus holds tokens that expire before and after it.
constexpr int64_t kNowSeconds = 1'800'000'000;

void Require(bool ok) {
  if (!ok) std::abort();
}

// A decimal field as the token spells it; -1 when it is not one.
int64_t Number(std::string_view s) {
  if (s.empty() || s.size() > 18) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  const auto now = overdue::base::FromMicros(kNowSeconds * 1'000'000);
  const auto r = overdue::api::CheckAckToken(kSecret, token, now);
  if (!r.ok() && r.error().code == overdue::base::ErrorCode::kNotFound) return 0;
  Require(r.ok() || r.error().code == overdue::base::ErrorCode::kConflict);
  // The signature matched: the token must be exactly what MakeAckToken writes.
  const size_t a = token.find('.');
  Require(a != std::string_view::npos);
  const size_t b = token.find('.', a + 1);
  Require(b != std::string_view::npos);
  const int64_t id = Number(token.substr(0, a));
  const int64_t exp = Number(token.substr(a + 1, b - a - 1));
  Require(id >= 0 && exp >= 0);
  const std::string mac =
      overdue::base::HmacSha256Hex(kSecret, fmt::format("ack:{}:{}", id, exp)).substr(0, 32);
  Require(token == fmt::format("{}.{}.{}", id, exp, mac));
  if (r.ok()) {
    Require(r.value() == id && exp > kNowSeconds);
  } else {
    Require(exp <= kNowSeconds);
  }
  return 0;
}
