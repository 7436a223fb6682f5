// JSON text without building a JSON value.
//
// JsonText: a JSON value as compact text, never throwing. nlohmann's plain dump() throws on a
// string that is not valid UTF-8, and such strings reach us from outside (a check-in's body,
// a receiver's answer, a body cut at a byte limit); here each bad byte becomes U+FFFD.
//
// ObjectText writes an object's text key by key, straight into a string, for a hot path that
// would otherwise build a nlohmann::json tree only to dump it (a message context per incident
// of a storm). Given its keys in sorted order, as nlohmann keeps them, it writes exactly what
// JsonText writes for the same object.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace overdue::base {

inline std::string JsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Appends `s` as a JSON string literal, as JsonText would write it.
void AppendJsonString(std::string& out, std::string_view s);

class ObjectText {
 public:
  // Appends "{" to `out`; the destructor appends "}". REQUIRES: `out` outlives this.
  explicit ObjectText(std::string& out) : out_(out) { out_ += '{'; }
  ~ObjectText() { out_ += '}'; }
  ObjectText(const ObjectText&) = delete;
  ObjectText& operator=(const ObjectText&) = delete;

  // Each call adds one member. `key` is written as it is: a plain ASCII name.
  ObjectText& Str(std::string_view key, std::string_view value);
  ObjectText& Int(std::string_view key, int64_t value);
  ObjectText& Null(std::string_view key);
  // A member whose value the caller appends to the returned string next (a nested object).
  std::string& Member(std::string_view key);

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace overdue::base
