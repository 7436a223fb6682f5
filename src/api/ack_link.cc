#include "api/ack_link.h"

#include <charconv>

#include <fmt/format.h>

#include "base/hmac.h"

namespace overdue::api {
namespace {

// 128 bits of the MAC are plenty for a link that expires.
constexpr size_t kSignatureHexChars = 32;

std::string Signature(std::string_view secret, int64_t id, int64_t expires) {
  return base::HmacSha256Hex(secret, fmt::format("ack:{}:{}", id, expires))
      .substr(0, kSignatureHexChars);
}

// A number as MakeAckToken writes it: digits only, no leading zero, so that a link has one
// spelling (ack_link_fuzz checks it).
bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0;
}

}  // namespace

std::string MakeAckToken(std::string_view secret, int64_t incident_id, base::TimePoint expires) {
  const int64_t exp = base::ToMicros(expires) / 1'000'000;
  return fmt::format("{}.{}.{}", incident_id, exp, Signature(secret, incident_id, exp));
}

base::Result<int64_t> CheckAckToken(std::string_view secret, std::string_view token,
                                    base::TimePoint now) {
  const size_t a = token.find('.');
  const size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  int64_t id = 0;
  int64_t exp = 0;
  if (b == std::string_view::npos || !ParseInt(token.substr(0, a), &id) ||
      !ParseInt(token.substr(a + 1, b - a - 1), &exp)) {
    return base::NotFound("not a valid acknowledgement link");
  }
  if (!base::ConstantTimeEquals(token.substr(b + 1), Signature(secret, id, exp))) {
    return base::NotFound("not a valid acknowledgement link");
  }
  if (base::ToMicros(now) / 1'000'000 >= exp) {
    return base::Error{base::ErrorCode::kConflict, "this acknowledgement link has expired"};
  }
  return id;
}

}  // namespace overdue::api
