// Fuzzes the TOML config file (server/config.h): whatever a user writes in it, LoadConfig
// returns a config or an error, never crashes and never lets an exception out, and an error
// is kInvalidArgument naming the file, so `overdue serve` can say what is wrong and where.
//
// LoadConfig creates the data dir and its watch-id key when the file declares a watch without
// an id. So the data dir is given as a flag (which overrides the file's `data_dir`) inside this
// process's scratch directory, the process works in that directory, and the fuzzer checks
// that nothing but that data dir was created there: made-up paths must land nowhere else.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "server/config.h"

namespace {

namespace fs = std::filesystem;

void Require(bool ok) {
  if (!ok) std::abort();
}

std::string& ScratchPath() {
  static std::string dir;
  return dir;
}

void RemoveScratch() {
  std::error_code ec;
  fs::remove_all(ScratchPath(), ec);
}

// Made on first use, entered, and removed when the fuzzer exits.
const std::string& Scratch() {
  if (ScratchPath().empty()) {
    std::string t =
        (fs::exists("/dev/shm") ? std::string("/dev/shm") : fs::temp_directory_path().string()) +
        "/overdue-config-fuzz-XXXXXX";
    Require(mkdtemp(t.data()) != nullptr);
    Require(chdir(t.c_str()) == 0);
    ScratchPath() = t;
    std::atexit(RemoveScratch);
  }
  return ScratchPath();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = Scratch();
  const std::string path = dir + "/overdue.toml";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    Require(static_cast<bool>(f));
  }
  const auto config =
      overdue::server::LoadConfig({{"config", path}, {"data_dir", dir + "/data"}},
                                  [](const char*) -> const char* { return nullptr; });
  // Only the config file and the data dir, whatever paths the file named.
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    Require(name == "overdue.toml" || name == "data");
  }
  if (config.ok()) return 0;
  Require(config.error().code == overdue::base::ErrorCode::kInvalidArgument);
  Require(config.error().message.find(path) != std::string::npos);
  return 0;
}
