// Fuzzes the ping URL grammar: any bytes as a path must parse or be refused, never crash,
// and a parse must be self-consistent (UUID form has a UUID; exit status within 0-255).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/ping_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = "/ping/" + std::string(reinterpret_cast<const char*>(data), size);
  const auto p = overdue::api::ParsePingPath(path);
  if (!p) return 0;
  if (p->exit_status && (*p->exit_status < 0 || *p->exit_status > 255)) std::abort();
  if (p->exit_status && p->exit_status_too_large) std::abort();
  if (p->form == overdue::api::PingPath::Form::kSlug && (p->ping_key.empty() || p->slug.empty())) {
    std::abort();
  }
  return 0;
}
