// Fuzzes the v3 check spec parser (api/check_spec.h) with arbitrary bytes as the request body.
// Beyond "no crash, no sanitizer report": a rejected body has a healthchecks-style message, and
// an accepted one applies to a watch whose schedule then validates (what the API relies on
// before handing it to the engine), with every string field within its length limit.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/check_spec.h"
#include "schedule/schedule.h"

namespace {

void Require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;
  auto spec = overdue::api::ParseCheckSpec(body, overdue::api::CheckSpecLimits{});
  if (!spec.ok()) {
    const std::string& m = spec.error().message;
    Require(m.rfind("json validation error: ", 0) == 0);
    return 0;
  }
  overdue::model::WatchSpec w;
  overdue::api::ApplyCheckSpec(spec.value(), w);
  Require(overdue::api::CodePoints(w.name) <= 100);
  Require(overdue::api::CodePoints(w.slug) <= 100);
  Require(overdue::api::CodePoints(w.success_kw) <= 200);
  Require(overdue::schedule::Validate(w.schedule, std::chrono::seconds(60)).ok());
  (void)overdue::api::MatchesUnique(spec.value(), w);
  return 0;
}
