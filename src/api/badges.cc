#include "api/badges.h"

#include <sodium.h>

#include <fmt/format.h>

namespace overdue::api {
namespace {

// Approximate advance widths in pixels of Verdana at 11px; 7 for anything else.
int CharWidth(unsigned char c) {
  if (c >= '0' && c <= '9') return c == '1' ? 6 : 7;
  switch (c) {
    case 'f':
    case 'r':
      return 4;
    case 'i':
    case 'j':
    case 'l':
    case 'I':
      return 3;
    case 't':
      return 5;
    case 'c':
    case 'e':
    case 's':
    case 'x':
    case 'F':
    case 'L':
    case 'P':
      return 6;
    case '_':
      return 6;
    case 'm':
    case 'M':
      return 10;
    case 'w':
      return 9;
    case 'W':
      return 11;
    case 'J':
    case '-':
      return 4;
    case 'A':
    case 'C':
    case 'D':
    case 'H':
    case 'N':
    case 'U':
    case 'V':
      return 8;
    case 'G':
    case 'O':
    case 'Q':
      return 9;
    default:
      return 7;
  }
}

int TextWidth(std::string_view s) {
  int total = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) == 0x80) continue;  // one width per character, not per UTF-8 byte
    total += CharWidth(c);
  }
  return total;
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string_view ColorOf(std::string_view status) {
  if (status == "up") return "#4c1";
  if (status == "late") return "#fe7d37";
  return "#e05d44";
}

std::string PercentEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

std::string BadgeSvg(std::string_view label, std::string_view status) {
  const int w1 = TextWidth(label) + 10;
  const int w2 = TextWidth(status) + 10;
  const int width = w1 + w2;
  const std::string l = XmlEscape(label);
  const std::string st = XmlEscape(status);
  const double lx = w1 / 2.0;
  const double sx = w1 + w2 / 2.0;
  return fmt::format(
      R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="20" role="img" aria-label="{4}: {5}">)svg"
      "\n"
      R"svg(<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>)svg"
      "\n"
      R"svg(<mask id="r"><rect width="{0}" height="20" rx="3" fill="#fff"/></mask>)svg"
      "\n"
      R"svg(<g mask="url(#r)"><rect width="{1}" height="20" fill="#555"/><rect x="{1}" width="{2}" height="20" fill="{3}"/><rect width="{0}" height="20" fill="url(#s)"/></g>)svg"
      "\n"
      R"svg(<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">)svg"
      R"svg(<text x="{6}" y="15" fill="#010101" fill-opacity=".3">{4}</text><text x="{6}" y="14">{4}</text>)svg"
      R"svg(<text x="{7}" y="15" fill="#010101" fill-opacity=".3">{5}</text><text x="{7}" y="14">{5}</text></g>)svg"
      "\n</svg>\n",
      width, w1, w2, ColorOf(status), l, st, lx, sx);
}

std::string BadgeSignature(std::string_view secret, std::string_view badge_key,
                           std::string_view tag) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(badge_key.data()),
                                badge_key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(tag.data()),
                                tag.size());
  crypto_auth_hmacsha256_final(&st, mac);
  char b64[sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string(b64, 8);
}

bool CheckBadgeSignature(std::string_view secret, std::string_view badge_key, std::string_view tag,
                         std::string_view signature) {
  if (signature.size() == 10 && signature.substr(8) == "-2") signature = signature.substr(0, 8);
  if (signature.size() != 8) return false;
  const std::string ours = BadgeSignature(secret, badge_key, tag);
  return sodium_memcmp(ours.data(), signature.data(), 8) == 0;
}

std::string BadgeUrlPath(std::string_view secret, std::string_view badge_key, std::string_view tag,
                         std::string_view fmt, bool with_late) {
  std::string sig = BadgeSignature(secret, badge_key, tag);
  if (!with_late) sig += "-2";
  if (tag == "*") return fmt::format("/badge/{}/{}.{}", badge_key, sig, fmt);
  return fmt::format("/badge/{}/{}/{}.{}", badge_key, sig, PercentEncode(tag), fmt);
}

}  // namespace overdue::api
