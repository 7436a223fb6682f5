#include "api/key_ring.h"

#include <sodium.h>

namespace overdue::api {
namespace {

std::string RandomChars(std::string_view alphabet, size_t n) {
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(alphabet[randombytes_uniform(static_cast<uint32_t>(alphabet.size()))]);
  }
  return out;
}

constexpr std::string_view kAlnum =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr std::string_view kUrlSafe =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

}  // namespace

void KeyRing::Add(const store::ApiKey& key) {
  base::MutexLock lock(&mu_);
  by_hash_[key.hash] = Principal{key.project_id, key.read_only};
}

void KeyRing::Replace(const std::vector<store::ApiKey>& keys) {
  std::unordered_map<std::string, Principal> by_hash;
  by_hash.reserve(keys.size());
  for (const store::ApiKey& k : keys) by_hash[k.hash] = Principal{k.project_id, k.read_only};
  base::MutexLock lock(&mu_);
  by_hash_.swap(by_hash);
}

std::optional<Principal> KeyRing::Authenticate(std::string_view api_key) const {
  if (api_key.empty()) return std::nullopt;
  const std::string h = Hash(api_key);
  base::MutexLock lock(&mu_);
  auto it = by_hash_.find(h);
  if (it == by_hash_.end()) return std::nullopt;
  // Belt and braces: the final equality of the digests in constant time.
  if (it->first.size() != h.size() || sodium_memcmp(it->first.data(), h.data(), h.size()) != 0) {
    return std::nullopt;
  }
  return it->second;
}

std::string KeyRing::Hash(std::string_view key) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return std::string(hex, crypto_hash_sha256_BYTES * 2);
}

std::string KeyRing::NewApiKey(bool read_only) {
  return std::string(read_only ? "hcr_" : "hcw_") + RandomChars(kAlnum, 28);
}

std::string KeyRing::NewPingKey() { return RandomChars(kUrlSafe, 22); }

}  // namespace overdue::api
