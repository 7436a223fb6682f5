#include "base/json_text.h"

#include <fmt/format.h>

namespace overdue::base {

void AppendJsonString(std::string& out, std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      // Escapes, non-ASCII text and bytes that are not UTF-8: nlohmann's own rules.
      out += JsonText(nlohmann::json(std::string(s)));
      return;
    }
  }
  out += '"';
  out.append(s);
  out += '"';
}

std::string& ObjectText::Member(std::string_view key) {
  if (!first_) out_ += ',';
  first_ = false;
  out_ += '"';
  out_.append(key);
  out_ += "\":";
  return out_;
}

ObjectText& ObjectText::Str(std::string_view key, std::string_view value) {
  AppendJsonString(Member(key), value);
  return *this;
}

ObjectText& ObjectText::Int(std::string_view key, int64_t value) {
  fmt::format_to(std::back_inserter(Member(key)), "{}", value);
  return *this;
}

ObjectText& ObjectText::Null(std::string_view key) {
  Member(key) += "null";
  return *this;
}

}  // namespace overdue::base
