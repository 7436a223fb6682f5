// JsonText: a JSON value as compact text, never throwing. nlohmann's plain dump() throws on a
// string that is not valid UTF-8, and such strings reach us from outside (a check-in's body,
// a receiver's answer, a body cut at a byte limit); here each bad byte becomes U+FFFD.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace overdue::base {

inline std::string JsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace overdue::base
