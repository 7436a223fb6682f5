// HMAC-SHA256 (libsodium), for everything overdue signs: badge URLs, acknowledgement links,
// webhook signatures. Thread-safe, allocation of the 32-byte result only.
#pragma once

#include <string>
#include <string_view>

namespace overdue::base {

// The raw 32-byte MAC of `message` under `key` (any length).
std::string HmacSha256(std::string_view key, std::string_view message);
// The same, as 64 lowercase hex digits.
std::string HmacSha256Hex(std::string_view key, std::string_view message);
// Constant-time comparison of two strings of equal length (false when lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace overdue::base
