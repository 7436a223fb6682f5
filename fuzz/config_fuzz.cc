// Fuzzes the TOML config file (server/config.h): whatever a user writes in it, LoadConfig
// returns a config or an error, never crashes and never lets an exception out, and an error
// is kInvalidArgument naming the file, so `overdue serve` can say what is wrong and where.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "server/config.h"

namespace {

void Require(bool ok) {
  if (!ok) std::abort();
}

const std::string& Path() {
  static const std::string path = [] {
    std::string t =
        (std::filesystem::exists("/dev/shm") ? std::string("/dev/shm")
                                             : std::filesystem::temp_directory_path().string()) +
        "/overdue-config-fuzz-XXXXXX";
    Require(mkdtemp(t.data()) != nullptr);
    return t + "/overdue.toml";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = Path();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    Require(static_cast<bool>(f));
  }
  const auto config = overdue::server::LoadConfig(
      {{"config", path}}, [](const char*) -> const char* { return nullptr; });
  if (config.ok()) return 0;
  Require(config.error().code == overdue::base::ErrorCode::kInvalidArgument);
  Require(config.error().message.find(path) != std::string::npos);
  return 0;
}
