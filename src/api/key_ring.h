// KeyRing: the API keys the server accepts, by SHA-256 of the key (keys are never kept in
// clear, DESIGN.md Security). Authenticate hashes the presented key, finds the digest in a
// hash map, then compares the whole digest again in constant time (libsodium's
// sodium_memcmp): the map's own comparisons see only digests, so timing reveals nothing
// about a key, and the final check does not leak how many bytes matched.
// The server replaces the whole ring every second from the store (Replace), so keys created
// or revoked by `overdue keys` in another process take effect within about a second.
// Also mints keys in healthchecks' formats. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "store/store.h"

namespace overdue::api {

struct Principal {
  int64_t project_id = 0;
  bool read_only = false;
};

class KeyRing {
 public:
  void Add(const store::ApiKey& key);
  // Makes `keys` the whole ring, atomically: a key absent from it stops working at once.
  void Replace(const std::vector<store::ApiKey>& keys);
  std::optional<Principal> Authenticate(std::string_view api_key) const;

  // SHA-256, lowercase hex.
  static std::string Hash(std::string_view key);
  // 32 characters as healthchecks: "hcw_" (read-write) or "hcr_" (read-only) + 28 random
  // alphanumerics (~166 bits).
  static std::string NewApiKey(bool read_only);
  // 22 URL-safe random characters (healthchecks' token_urlsafe(16)).
  static std::string NewPingKey();

 private:
  mutable base::Mutex mu_;
  std::unordered_map<std::string, Principal> by_hash_ GUARDED_BY(mu_);
};

}  // namespace overdue::api
