#include "api/badges.h"

#include <sodium.h>

#include <array>
#include <cstdint>

#include <fmt/format.h>

#include "base/hmac.h"
#include "base/markup.h"

namespace overdue::api {
namespace {

// Advance widths in pixels of Verdana at 11 px, by character, as healthchecks measures badge
// text; every character not listed (digits but 1, most lower case, '@', non-ASCII) is 7 px.
constexpr int kDefaultCharWidth = 7;
struct WidthGroup {
  int width;
  std::string_view chars;
};
constexpr WidthGroup kWidthGroups[] = {
    {3, "ijlI"},    {4, "frJ-"}, {5, "t"},   {6, "cesxFLP_1"},
    {8, "ACDHNUV"}, {9, "wGOQ"}, {10, "mM"}, {11, "W"},
};

constexpr std::array<uint8_t, 128> MakeWidthTable() {
  std::array<uint8_t, 128> table{};
  for (uint8_t& w : table) w = kDefaultCharWidth;
  for (const WidthGroup& g : kWidthGroups) {
    for (char c : g.chars) table[static_cast<unsigned char>(c)] = static_cast<uint8_t>(g.width);
  }
  return table;
}
constexpr std::array<uint8_t, 128> kWidths = MakeWidthTable();

// Padding around each half's text: 5 px either side.
constexpr int kTextPadding = 10;

// Width of `text` in pixels, one table entry per code point (UTF-8 continuation bytes add
// nothing), as healthchecks sums over Python characters.
int TextWidth(std::string_view text) {
  int width = 0;
  for (unsigned char c : text) {
    if (c < 0x80) {
      width += kWidths[c];
    } else if ((c & 0xC0) != 0x80) {
      width += kDefaultCharWidth;
    }
  }
  return width;
}

// x / 2 written as Python writes a float: "10.0", "8.5" — locale-free.
std::string Half(int x) { return fmt::format("{}.{}", x / 2, x % 2 == 0 ? '0' : '5'); }

std::string_view ColourOf(std::string_view status) {
  if (status == "up") return "#4c1";
  if (status == "late") return "#fe7d37";
  if (status == "down") return "#e05d44";
  return "#9f9f9f";
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// Python's urllib.parse.quote(text, safe=""): every byte but the unreserved ones as %XX.
std::string Quote(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (IsUnreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's unquote: %XX becomes the byte; a '%' not followed by two hex digits stays as is.
std::string Unquote(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace

std::string BadgeSvg(std::string_view label, std::string_view status) {
  const int label_width = TextWidth(label) + kTextPadding;
  const int status_width = TextWidth(status) + kTextPadding;
  const int width = label_width + status_width;
  const std::string label_x = Half(label_width);
  const std::string status_x = Half(2 * label_width + status_width);
  const std::string label_text = base::MarkupEscape(label);
  const std::string status_text = base::MarkupEscape(status);

  std::string svg;
  svg.reserve(1200 + 4 * (label_text.size() + status_text.size()));
  auto out = std::back_inserter(svg);
  fmt::format_to(out,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"20\" "
                 "role=\"img\" aria-label=\"{}: {}\">\n",
                 width, label_text, status_text);
  fmt::format_to(out, "  <title>{}: {}</title>\n", label_text, status_text);
  // A faint vertical gradient over the whole badge, clipped to rounded corners.
  svg +=
      "  <linearGradient id=\"shade\" x2=\"0\" y2=\"100%\">\n"
      "    <stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/>\n"
      "    <stop offset=\"1\" stop-opacity=\".1\"/>\n"
      "  </linearGradient>\n";
  fmt::format_to(out,
                 "  <mask id=\"corners\">\n"
                 "    <rect width=\"{}\" height=\"20\" rx=\"3\" fill=\"#fff\"/>\n"
                 "  </mask>\n",
                 width);
  fmt::format_to(out,
                 "  <g mask=\"url(#corners)\">\n"
                 "    <rect width=\"{0}\" height=\"20\" fill=\"#555\"/>\n"
                 "    <rect x=\"{0}\" width=\"{1}\" height=\"20\" fill=\"{2}\"/>\n"
                 "    <rect width=\"{3}\" height=\"20\" fill=\"url(#shade)\"/>\n"
                 "  </g>\n",
                 label_width, status_width, ColourOf(status), width);
  // Each text twice: a dark copy one pixel lower is its shadow.
  svg +=
      "  <g fill=\"#fff\" text-anchor=\"middle\" "
      "font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" "
      "text-rendering=\"geometricPrecision\" font-size=\"11\">\n";
  for (const auto& [x, text] : {std::pair{&label_x, &label_text}, {&status_x, &status_text}}) {
    fmt::format_to(out,
                   "    <text x=\"{0}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{1}</text>\n"
                   "    <text x=\"{0}\" y=\"14\">{1}</text>\n",
                   *x, *text);
  }
  svg += "  </g>\n</svg>\n";
  return svg;
}

std::string BadgeSignature(std::string_view secret, std::string_view badge_key,
                           std::string_view tag) {
  std::string message(badge_key);
  message.append(tag);
  const std::string mac = base::HmacSha256(secret, message);
  char b64[sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, reinterpret_cast<const unsigned char*>(mac.data()), mac.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string(b64, 8);
}

bool CheckBadgeSignature(std::string_view secret, std::string_view badge_key, std::string_view tag,
                         std::string_view signature) {
  constexpr size_t kSignatureChars = 8;
  if (signature.size() == kSignatureChars + 2 && signature.substr(kSignatureChars) == "-2") {
    signature = signature.substr(0, kSignatureChars);
  }
  if (signature.size() != kSignatureChars) return false;
  const std::string ours = BadgeSignature(secret, badge_key, tag);
  return sodium_memcmp(ours.data(), signature.data(), kSignatureChars) == 0;
}

std::string BadgeUrlPath(std::string_view secret, std::string_view badge_key, std::string_view tag,
                         std::string_view fmt, bool with_late) {
  std::string signature = BadgeSignature(secret, badge_key, tag);
  if (!with_late) signature += "-2";
  if (tag == "*") return fmt::format("/badge/{}/{}.{}", badge_key, signature, fmt);
  // healthchecks' URL converter quotes the tag, then Django's reverse() quotes the result
  // again (turning each '%' into "%25"): keep those URLs working.
  return fmt::format("/badge/{}/{}/{}.{}", badge_key, signature, Quote(Quote(tag)), fmt);
}

std::optional<std::string> BadgeTagFromPath(std::string_view segment) {
  const std::string once = Unquote(segment);
  if (once.empty()) return std::nullopt;
  for (unsigned char c : once) {
    // Python's \w also matches non-ASCII letters; every non-ASCII byte passes here.
    if (!(IsUnreserved(c) || c == '%' || c >= 0x80)) return std::nullopt;
  }
  return Unquote(once);
}

BadgeCounts Aggregate(const std::vector<std::string>& statuses, bool with_late) {
  BadgeCounts counts;
  for (const std::string& s : statuses) {
    ++counts.total;
    if (s == "down") {
      ++counts.down;
      counts.status = "down";
    } else if (s == "grace") {
      ++counts.grace;
      if (with_late && counts.status == "up") counts.status = "late";
    }
  }
  return counts;
}

}  // namespace overdue::api
