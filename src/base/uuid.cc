#include "base/uuid.h"

#include <sodium.h>

namespace overdue::base {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Uuid> FromHexDigits(std::string_view digits) {
  if (digits.size() != 32) return std::nullopt;
  Uuid u;
  for (size_t i = 0; i < 16; ++i) {
    const int hi = HexValue(digits[2 * i]);
    const int lo = HexValue(digits[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return u;
}

}  // namespace

bool Uuid::IsNil() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::string Uuid::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xF]);
  }
  return out;
}

Uuid Uuid::Random() {
  Uuid u;
  randombytes_buf(u.bytes.data(), u.bytes.size());
  u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0F) | 0x40);  // version 4
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return u;
}

std::optional<Uuid> Uuid::Parse(std::string_view text, bool lowercase_only) {
  if (text.size() != 36) return std::nullopt;
  std::string digits;
  digits.reserve(32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
    } else {
      if (lowercase_only && text[i] >= 'A' && text[i] <= 'F') return std::nullopt;
      digits.push_back(text[i]);
    }
  }
  return FromHexDigits(digits);
}

}  // namespace overdue::base
