// Fuzzes what the check-in log reads back from disk at start-up (journal/checkin_log.h): a
// damaged or half-written segment must never crash the server that recovers it, or every
// restart would crash again and nothing would be watched. Two parts:
// - a record's bytes: DecodeCheckIn refuses them or accepts them, and what it accepts encodes
//   back to exactly the same bytes (the format has one spelling per record);
// - a whole segment: some records framed as the log frames them (length, FNV-1a hash), some of
//   them with a wrong hash, then raw bytes as a torn tail. CheckInLog::Open must succeed and
//   recover exactly the records a plain reading of the format gives: each intact frame in order,
//   up to the first frame that is short, fails its hash or does not decode.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/spdlog.h>

#include "journal/checkin_log.h"

namespace {

namespace fs = std::filesystem;
using overdue::journal::DecodeCheckIn;
using overdue::journal::EncodeCheckIn;

void Require(bool ok) {
  if (!ok) std::abort();
}

// The frame's hash, written out again on purpose: the oracle reads the format from its
// definition, not through the code under test.
uint64_t Fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <typename T>
void PutLe(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

template <typename T>
T GetLe(std::string_view in) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

// The records a plain reading of the segment gives (the test's own reading of the format).
std::vector<std::string> Expected(std::string_view seg) {
  std::vector<std::string> out;
  while (seg.size() >= 12) {
    const auto len = GetLe<uint32_t>(seg);
    const auto hash = GetLe<uint64_t>(seg.substr(4));
    if (seg.size() - 12 < len) break;
    const std::string_view payload = seg.substr(12, len);
    if (Fnv1a(payload) != hash) break;
    auto r = DecodeCheckIn(payload);
    if (!r) break;
    out.push_back(EncodeCheckIn(*r));
    seg.remove_prefix(12 + len);
  }
  return out;
}

void RemoveDir();

// Made on first use, removed when the fuzzer exits (the name is never freed, so that it is
// still there when the exit handler runs).
const std::string& Dir() {
  static const std::string* dir = [] {
    spdlog::set_level(spdlog::level::off);  // a torn tail is logged on every input otherwise
    std::string t =
        (fs::exists("/dev/shm") ? std::string("/dev/shm") : fs::temp_directory_path().string()) +
        "/overdue-checkin-log-fuzz-XXXXXX";
    Require(mkdtemp(t.data()) != nullptr);
    std::atexit(RemoveDir);
    return new std::string(t);
  }();
  return *dir;
}

void RemoveDir() {
  std::error_code ec;
  fs::remove_all(Dir(), ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Part one: the bytes as one record.
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  if (auto r = DecodeCheckIn(whole)) Require(EncodeCheckIn(*r) == whole);

  // Part two: the bytes as a segment's frames and tail.
  FuzzedDataProvider in(data, size);
  std::string segment;
  const int frames = in.ConsumeIntegralInRange<int>(0, 4);
  for (int i = 0; i < frames && in.remaining_bytes() > 0; ++i) {
    const bool bad_hash = in.ConsumeBool();
    const std::string payload = in.ConsumeRandomLengthString(4096);
    PutLe<uint32_t>(segment, static_cast<uint32_t>(payload.size()));
    PutLe<uint64_t>(segment, Fnv1a(payload) ^ (bad_hash ? 1 : 0));
    segment += payload;
  }
  segment += in.ConsumeRemainingBytesAsString();

  const std::string& dir = Dir();
  const std::string path = dir + "/checkins-00000000000000000001.log";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(segment.data(), static_cast<std::streamsize>(segment.size()));
    Require(static_cast<bool>(f));
  }
  auto log = overdue::journal::CheckInLog::Open(dir);
  Require(log.ok());
  const std::vector<std::string> expected = Expected(segment);
  const auto& got = log.value()->recovered();
  Require(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) Require(EncodeCheckIn(got[i]) == expected[i]);
  log.value().reset();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove(entry.path(), ec);
  return 0;
}
