// Uuid: 128-bit identifier of watches, projects and run ids. Parsing accepts exactly the
// canonical 8-4-4-4-12 form healthchecks accepts; formatting is lowercase. Value type.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace overdue::base {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  bool IsNil() const;
  std::string ToString() const;
  friend bool operator==(const Uuid& a, const Uuid& b) { return a.bytes == b.bytes; }
  friend bool operator<(const Uuid& a, const Uuid& b) { return a.bytes < b.bytes; }

  // Random version-4 UUID from the OS CSPRNG (libsodium).
  static Uuid Random();
  // Canonical 36-character hyphenated form (healthchecks' is_valid_uuid_string); hex digits
  // in either case unless `lowercase_only` (Django's <uuid:> URL converter).
  static std::optional<Uuid> Parse(std::string_view text, bool lowercase_only = false);
};

struct UuidHash {
  size_t operator()(const Uuid& u) const {
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, u.bytes.data(), 8);
    std::memcpy(&b, u.bytes.data() + 8, 8);
    return static_cast<size_t>(a ^ (b * 0x9E3779B97F4A7C15ULL));
  }
};

}  // namespace overdue::base
