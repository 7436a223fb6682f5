#include "notify/channels.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/hmac.h"
#include "base/markup.h"
#include "base/quote.h"
#include "notify/message.h"

// Choices made here (the contract is channels.h):
// - `template` applies to every kind. Webhooks send the context as JSON unless `body` (a
//   template rendered with JSON-escaped values) is set; `template.subject`/`template.body`
//   are then unused by webhooks. SMS sends the rendered template.body when set, else the
//   subject and the acknowledgement link; voice says template.body, else template.subject,
//   else the headline. Commands get the rendered texts in OVERDUE_SUBJECT / OVERDUE_MESSAGE.
// - Alarm events (down, escalation, reminder, reopened) and tests go out with the configured
//   priority (ntfy, Pushover); late warnings and recoveries never above normal, so that a
//   recovery never needs a Pushover emergency acknowledgement.
// - An empty optional string counts as absent; `null` too.
// - Webhook headers configured by the user replace ours of the same name (Content-Type,
//   User-Agent), except the ones that carry overdue's guarantees, which are refused.

namespace overdue::notify {
namespace {

using base::Result;
using base::Status;
using json = nlohmann::json;

// ---- limits ------------------------------------------------------------------------------

// Any config string (URL, address, token): generous for real values, and keeps rows small.
constexpr size_t kMaxFieldBytes = 2048;
constexpr size_t kMaxCommandBytes = 8192;  // a shell line, not a script
constexpr size_t kMaxHeaders = 32;
constexpr size_t kMaxRecipients = 50;   // one mail; more belongs in a mailing list
constexpr size_t kMaxEmailBytes = 254;  // RFC 5321's path limit
constexpr size_t kSecretBytes = 32;     // generated webhook secrets: 256 bits
constexpr size_t kMinSecretChars = 16;  // a shorter signing key is guessable
constexpr size_t kMaxSecretChars = 256;
constexpr int kMaxTimeoutSeconds = 300;  // a notification command is not a batch job
constexpr int kDefaultTimeoutSeconds = 10;

// What each service accepts (longer texts are refused or cut by the service; we cut first,
// on a character boundary, with an ellipsis).
constexpr size_t kDiscordMaxChars = 2000;       // Discord refuses longer content
constexpr size_t kSlackMaxChars = 39000;        // Slack truncates text after 40,000
constexpr size_t kMattermostMaxChars = 16000;   // Mattermost's post limit is 16,383
constexpr size_t kTeamsMaxChars = 20000;        // connector cards above ~28 KB are refused
constexpr size_t kTelegramMaxChars = 4000;      // sendMessage takes 4096 after parsing
constexpr size_t kPushoverTitleChars = 250;     // Pushover's title limit
constexpr size_t kPushoverMessageChars = 1024;  // Pushover's message limit
constexpr size_t kNtfyMaxBytes = 4096;          // ntfy turns longer bodies into attachments
constexpr size_t kNtfyTitleChars = 250;
constexpr size_t kSmsMaxChars = 1600;     // Twilio's Body limit
constexpr size_t kVoiceMaxChars = 1000;   // said twice, well within TwiML's 4000
constexpr size_t kSubjectMaxChars = 250;  // a mail subject longer than this is unreadable
constexpr size_t kMailLineBytes = 998;    // RFC 5322 2.1.1 (without CRLF)
// RFC 2047: an encoded-word is at most 75 characters; 45 bytes are 60 in base64, plus the
// 12 of "=?UTF-8?B?" and "?=".
constexpr size_t kEncodedWordBytes = 45;

constexpr std::string_view kUserAgent = "overdue-notifier";

// ---- small text helpers ------------------------------------------------------------------

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

bool HasControl(std::string_view s) { return std::any_of(s.begin(), s.end(), IsControl); }

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A value safe in an HTTP or mail header: control characters (CR and LF above all) become
// spaces, so user data can never start a header of its own.
std::string HeaderValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out += IsControl(c) && c != '\t' ? ' ' : c;
  const size_t first = out.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const size_t last = out.find_last_not_of(" \t");
  return out.substr(first, last - first + 1);
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// `s` cut to at most `max` code points, the last one "…" when cut.
std::string TruncateChars(std::string_view s, size_t max) {
  if (CodePoints(s) <= max) return std::string(s);
  if (max == 0) return "";
  size_t kept = 0;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (kept == max - 1) break;
      ++kept;
    }
  }
  return std::string(s.substr(0, i)) + "…";
}

// `s` cut to at most `max` bytes on a UTF-8 boundary, ending with "…" when cut.
std::string TruncateBytes(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  constexpr std::string_view kEllipsis = "…";
  size_t n = max > kEllipsis.size() ? max - kEllipsis.size() : 0;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + std::string(kEllipsis);
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// One value of an application/x-www-form-urlencoded body.
void AppendFormEncoded(std::string& out, std::string_view s) {
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    AppendFormEncoded(out, name);
    out += '=';
    AppendFormEncoded(out, value);
  }
  return out;
}

// RFC 2047: `text` as is when it is printable ASCII, else as UTF-8 base64 encoded-words
// joined by `separator` (" " in HTTP headers, "\r\n " to fold a mail header).
std::string EncodeWords(std::string_view text, std::string_view separator) {
  const bool ascii = std::all_of(text.begin(), text.end(), [](char c) {
    return !IsControl(c) && static_cast<unsigned char>(c) < 0x80;
  });
  if (ascii && text.find("=?") == std::string_view::npos) return std::string(text);
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t n = std::min(kEncodedWordBytes, text.size() - start);
    // Never split a UTF-8 sequence across two words (RFC 2047 section 5).
    while (start + n < text.size() && n > 1 &&
           (static_cast<unsigned char>(text[start + n]) & 0xC0) == 0x80) {
      --n;
    }
    std::string b64(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(b64.data(), b64.size(),
                      reinterpret_cast<const unsigned char*>(text.data() + start), n,
                      sodium_base64_VARIANT_ORIGINAL);
    b64.resize(b64.size() - 1);  // the terminating NUL
    if (!out.empty()) out += separator;
    out += "=?UTF-8?B?" + b64 + "?=";
    start += n;
  }
  return out;
}

// "Wed, 25 Nov 2026 10:00:01 +0000" (RFC 5322 3.3).
std::string MailDate(base::TimePoint t) {
  using std::chrono::days;
  using std::chrono::floor;
  using std::chrono::seconds;
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto secs = floor<seconds>(t);
  const auto day = floor<days>(secs);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::weekday wd{day};
  const std::chrono::hh_mm_ss hms{secs - day};
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000", kDays[wd.c_encoding()],
                     static_cast<unsigned>(ymd.day()),
                     kMonths[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

// The body of a mail: CRLF line endings, no NUL, no line longer than RFC 5322 allows.
std::string MailBody(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  size_t line = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
      line = 0;
      continue;
    }
    if (c == '\0') continue;
    const bool starts_char = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    // Break before a character that would need more room than the line has left.
    if (starts_char && line + 4 > kMailLineBytes) {
      out += "\r\n";
      line = 0;
    }
    out += c;
    ++line;
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

// ---- config checks -----------------------------------------------------------------------

// A key as it appears in an error: itself when printable and short, else quoted.
std::string FieldName(std::string_view key) {
  if (key.size() <= 64 && !key.empty() && !HasControl(key) &&
      key.find_first_of(" \"") == std::string_view::npos) {
    return std::string(key);
  }
  return base::Quote(key.substr(0, 64));
}

Status Bad(std::string_view field, std::string_view rule) {
  return base::InvalidArgument("config." + std::string(field) + ": " + std::string(rule));
}

const json* Find(const json& object, std::string_view name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Status OnlyFields(const json& in, std::initializer_list<std::string_view> allowed,
                  std::string_view prefix = "") {
  for (const auto& [key, value] : in.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string names;
    for (std::string_view a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
    return Bad(std::string(prefix) + FieldName(key), "unknown field (allowed: " + names + ")");
  }
  return {};
}

// A rule on a string value: "" when it holds, else what must hold.
using Rule = std::string (*)(std::string_view);

bool IsUrl(std::string_view url, std::initializer_list<std::string_view> schemes) {
  if (url.size() > kMaxFieldBytes) return false;
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '\\') return false;
  }
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  const std::string scheme = Lower(url.substr(0, sep));
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) return false;
  std::string_view authority = url.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::optional<std::string_view> port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
    }
    if (host.empty() ||
        host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
      return false;
    }
  } else {
    if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (host.empty()) return false;
    for (char c : host) {
      const auto u = static_cast<unsigned char>(c);
      // Letters, digits, '-', '.', '_' and non-ASCII (internationalised names).
      if (!std::isalnum(u) && c != '-' && c != '.' && c != '_' && u < 0x80) return false;
    }
  }
  if (port) {
    if (port->empty() || port->size() > 5 ||
        port->find_first_not_of("0123456789") != std::string_view::npos) {
      return false;
    }
    const int p = std::stoi(std::string(*port));
    if (p < 1 || p > 65535) return false;
  }
  return true;
}

std::string HttpUrlRule(std::string_view s) {
  return IsUrl(s, {"http", "https"}) ? "" : "must be an http:// or https:// URL with a host";
}

std::string SmtpUrlRule(std::string_view s) {
  return IsUrl(s, {"smtp", "smtps"}) ? "" : "must be an smtp:// or smtps:// URL with a host";
}

bool IsEmail(std::string_view s) {
  if (s.size() > kMaxEmailBytes) return false;
  const size_t at = s.rfind('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == s.size()) return false;
  for (char c : s) {
    // No whitespace or control characters (header injection), nothing that would make the
    // address a display name or a list.
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    if (std::string_view("<>()[]\\,;:\"").find(c) != std::string_view::npos) return false;
  }
  return s.substr(at + 1).find_first_of("@") == std::string_view::npos;
}

std::string EmailRule(std::string_view s) {
  return IsEmail(s) ? "" : "must be an email address (name@example.com)";
}

std::string PrintableRule(std::string_view s) {
  return HasControl(s) ? "must not contain control characters (CR, LF, ...)" : "";
}

// Tokens that end up in a header or a URL path.
std::string TokenRule(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return "must be printable ASCII without spaces";
  }
  return "";
}

std::string KeyRule(std::string_view s) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return "must contain only letters and digits";
  }
  return s.size() > 64 ? "must be at most 64 characters" : "";
}

std::string TopicRule(std::string_view s) {
  if (s.size() > 64) return "must be 1 to 64 letters, digits, '-' or '_'";
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return "must be 1 to 64 letters, digits, '-' or '_'";
    }
  }
  return "";
}

std::string TelegramTokenRule(std::string_view s) {
  const size_t colon = s.find(':');
  bool ok = colon != std::string_view::npos && colon > 0 && colon + 1 < s.size();
  for (size_t i = 0; ok && i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    ok = i < colon ? std::isdigit(u) != 0
                   : i == colon || std::isalnum(u) || s[i] == '-' || s[i] == '_';
  }
  return ok ? "" : "must be a bot token as BotFather gives it (123456:ABC-DEF...)";
}

bool IsE164(std::string_view s) {
  if (s.size() < 8 || s.size() > 16 || s[0] != '+' || s[1] == '0') return false;
  return s.substr(1).find_first_not_of("0123456789") == std::string_view::npos;
}

std::string PhoneRule(std::string_view s) {
  return IsE164(s) ? "" : "must be a phone number in E.164 form (+15551234567)";
}

std::string SenderRule(std::string_view s) {
  if (IsE164(s)) return "";
  const bool id = s.size() <= 34 && std::all_of(s.begin(), s.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == ' ';
                  });
  return id ? ""
            : "must be a phone number in E.164 form (+15551234567), an alphanumeric sender ID "
              "or a messaging service SID";
}

enum class Need { kOptional, kRequired };

// Copies string field `name` from `in` to `out` after checking it. An absent (or null, or
// empty optional) field gets `fallback` when that is not empty.
Status CopyString(const json& in, json& out, std::string_view name, Need need, Rule rule = nullptr,
                  std::string_view fallback = "", size_t max_bytes = kMaxFieldBytes) {
  const json* v = Find(in, name);
  if (v != nullptr && !v->is_string()) return Bad(name, "must be a string");
  const std::string s = v == nullptr ? "" : v->get<std::string>();
  if (s.empty()) {
    if (need == Need::kRequired) return Bad(name, "required");
    if (!fallback.empty()) out[std::string(name)] = std::string(fallback);
    return {};
  }
  if (s.size() > max_bytes) {
    return Bad(name, "must be at most " + std::to_string(max_bytes) + " bytes");
  }
  if (rule != nullptr) {
    if (std::string problem = rule(s); !problem.empty()) return Bad(name, problem);
  }
  out[std::string(name)] = s;
  return {};
}

Status CopyInt(const json& in, json& out, std::string_view name, int lo, int hi, int fallback) {
  const json* v = Find(in, name);
  const std::string rule = fmt::format("must be an integer from {} to {}", lo, hi);
  if (v == nullptr) {
    out[std::string(name)] = fallback;
    return {};
  }
  if (!v->is_number_integer()) return Bad(name, rule);
  const int64_t n = v->get<int64_t>();
  if (n < lo || n > hi) return Bad(name, rule);
  out[std::string(name)] = n;
  return {};
}

Status CopyBool(const json& in, json& out, std::string_view name, bool fallback) {
  const json* v = Find(in, name);
  if (v != nullptr && !v->is_boolean()) return Bad(name, "must be true or false");
  out[std::string(name)] = v == nullptr ? fallback : v->get<bool>();
  return {};
}

Status CopyTemplateText(const json& in, json& out, std::string_view name, std::string_view path) {
  const json* v = Find(in, name);
  if (v == nullptr) return {};
  if (!v->is_string()) return Bad(path, "must be a string");
  const std::string text = v->get<std::string>();
  if (text.empty()) return {};
  if (auto st = CheckTemplate(text); !st.ok()) return Bad(path, st.error().message);
  out[std::string(name)] = text;
  return {};
}

Status CopyTemplate(const json& in, json& out) {
  const json* v = Find(in, "template");
  if (v == nullptr) return {};
  if (!v->is_object()) return Bad("template", "must be an object with \"subject\" and \"body\"");
  if (auto st = OnlyFields(*v, {"subject", "body"}, "template."); !st.ok()) return st;
  json t = json::object();
  if (auto st = CopyTemplateText(*v, t, "subject", "template.subject"); !st.ok()) return st;
  if (auto st = CopyTemplateText(*v, t, "body", "template.body"); !st.ok()) return st;
  if (!t.empty()) out["template"] = std::move(t);
  return {};
}

bool IsHeaderName(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Headers overdue sets for its own guarantees (deduplication, authenticity, framing).
bool IsReservedHeader(std::string_view name) {
  const std::string n = Lower(name);
  return n == "idempotency-key" || n == "x-overdue-signature" || n == "x-overdue-event" ||
         n == "content-length" || n == "transfer-encoding";
}

Status CopyHeaders(const json& in, json& out) {
  const json* v = Find(in, "headers");
  json headers = json::object();
  if (v != nullptr) {
    if (!v->is_object()) return Bad("headers", "must be an object of strings");
    if (v->size() > kMaxHeaders) {
      return Bad("headers", "must have at most " + std::to_string(kMaxHeaders) + " entries");
    }
    for (const auto& [name, value] : v->items()) {
      const std::string field = "headers." + FieldName(name);
      if (!IsHeaderName(name)) {
        return Bad(field, "must be a header name (letters, digits and !#$%&'*+-.^_`|~)");
      }
      if (IsReservedHeader(name)) return Bad(field, "is set by overdue and cannot be configured");
      if (!value.is_string()) return Bad(field, "must be a string");
      const std::string text = value.get<std::string>();
      if (text.size() > kMaxFieldBytes) {
        return Bad(field, "must be at most " + std::to_string(kMaxFieldBytes) + " bytes");
      }
      if (std::any_of(text.begin(), text.end(), [](char c) { return IsControl(c) && c != '\t'; })) {
        return Bad(field, "must not contain CR, LF or other control characters");
      }
      headers[name] = text;
    }
  }
  out["headers"] = std::move(headers);
  return {};
}

Result<std::string> NewSecret() {
  if (sodium_init() < 0) return base::Internal("libsodium failed to initialise");
  unsigned char bytes[kSecretBytes];
  randombytes_buf(bytes, sizeof bytes);
  char hex[kSecretBytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  return std::string(hex, kSecretBytes * 2);
}

// The options of a check: BuildDelivery re-checks stored configs without inventing secrets.
struct CheckOptions {
  bool generate_secret = true;
};

Status CheckEmail(const json& in, json& out, const CheckOptions&) {
  if (auto st = OnlyFields(
          in, {"to", "from", "smtp_url", "starttls", "username", "password", "template"});
      !st.ok()) {
    return st;
  }
  const json* to = Find(in, "to");
  if (to == nullptr) return Bad("to", "required");
  std::vector<std::string> addresses;
  if (to->is_string()) {
    const std::string list = to->get<std::string>();
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      std::string_view one = std::string_view(list).substr(start, comma - start);
      while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
      while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
      if (!one.empty()) addresses.emplace_back(one);
      start = comma + 1;
    }
    for (const std::string& a : addresses) {
      if (!IsEmail(a)) return Bad("to", "must be email addresses (name@example.com)");
    }
  } else if (to->is_array()) {
    for (size_t i = 0; i < to->size(); ++i) {
      const json& a = (*to)[i];
      const std::string field = "to[" + std::to_string(i) + "]";
      if (!a.is_string()) return Bad(field, "must be a string");
      if (!IsEmail(a.get<std::string>()))
        return Bad(field, "must be an email address (name@example.com)");
      addresses.push_back(a.get<std::string>());
    }
  } else {
    return Bad("to", "must be an email address or a list of them");
  }
  if (addresses.empty()) return Bad("to", "required");
  if (addresses.size() > kMaxRecipients) {
    return Bad("to", "must have at most " + std::to_string(kMaxRecipients) + " addresses");
  }
  out["to"] = addresses;
  if (auto st = CopyString(in, out, "from", Need::kRequired, EmailRule); !st.ok()) return st;
  if (auto st = CopyString(in, out, "smtp_url", Need::kRequired, SmtpUrlRule); !st.ok()) {
    return st;
  }
  // STARTTLS is required on smtp:// unless turned off: credentials and alerts should not
  // cross the network in clear by default. smtps:// is TLS from the start.
  const bool implicit_tls = Lower(out["smtp_url"].get<std::string>()).starts_with("smtps://");
  if (auto st = CopyBool(in, out, "starttls", !implicit_tls); !st.ok()) return st;
  if (implicit_tls) out["starttls"] = false;
  if (auto st = CopyString(in, out, "username", Need::kOptional, PrintableRule); !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "password", Need::kOptional, PrintableRule); !st.ok()) {
    return st;
  }
  return CopyTemplate(in, out);
}

Status CheckWebhook(const json& in, json& out, const CheckOptions& options) {
  if (auto st = OnlyFields(in, {"url", "method", "headers", "secret", "body", "template"});
      !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "url", Need::kRequired, HttpUrlRule); !st.ok()) return st;
  const json* method = Find(in, "method");
  std::string m = "POST";
  if (method != nullptr) {
    if (!method->is_string()) return Bad("method", "must be one of POST, PUT, PATCH, GET");
    m = method->get<std::string>();
    for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (m != "POST" && m != "PUT" && m != "PATCH" && m != "GET") {
      return Bad("method", "must be one of POST, PUT, PATCH, GET");
    }
  }
  out["method"] = m;
  if (auto st = CopyHeaders(in, out); !st.ok()) return st;
  const json* secret = Find(in, "secret");
  if (secret != nullptr) {
    const std::string rule = fmt::format("must be {} to {} characters without control characters",
                                         kMinSecretChars, kMaxSecretChars);
    if (!secret->is_string()) return Bad("secret", rule);
    const std::string s = secret->get<std::string>();
    if (s.size() < kMinSecretChars || s.size() > kMaxSecretChars || HasControl(s)) {
      return Bad("secret", rule);
    }
    out["secret"] = s;
  } else if (options.generate_secret) {
    auto s = NewSecret();
    if (!s.ok()) return s.error();
    out["secret"] = s.value();
  }
  if (auto st = CopyTemplateText(in, out, "body", "body"); !st.ok()) return st;
  return CopyTemplate(in, out);
}

Status CheckIncomingWebhook(const json& in, json& out, const CheckOptions&) {
  if (auto st = OnlyFields(in, {"url", "template"}); !st.ok()) return st;
  if (auto st = CopyString(in, out, "url", Need::kRequired, HttpUrlRule); !st.ok()) return st;
  return CopyTemplate(in, out);
}

Status CheckNtfy(const json& in, json& out, const CheckOptions&) {
  if (auto st = OnlyFields(in, {"url", "topic", "priority", "token", "template"}); !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "url", Need::kOptional, HttpUrlRule, "https://ntfy.sh");
      !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "topic", Need::kRequired, TopicRule); !st.ok()) return st;
  if (auto st = CopyInt(in, out, "priority", 1, 5, 4); !st.ok()) return st;
  if (auto st = CopyString(in, out, "token", Need::kOptional, TokenRule); !st.ok()) return st;
  return CopyTemplate(in, out);
}

Status CheckTelegram(const json& in, json& out, const CheckOptions&) {
  if (auto st = OnlyFields(in, {"bot_token", "chat_id", "api_url", "template"}); !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "bot_token", Need::kRequired, TelegramTokenRule); !st.ok()) {
    return st;
  }
  const json* chat = Find(in, "chat_id");
  if (chat == nullptr) return Bad("chat_id", "required");
  if (chat->is_number_integer()) {
    out["chat_id"] = *chat;
  } else if (chat->is_string() && !chat->get<std::string>().empty()) {
    const std::string id = chat->get<std::string>();
    if (id.size() > 128 || !TokenRule(id).empty()) {
      return Bad("chat_id", "must be a chat id (a number) or a channel username (@name)");
    }
    out["chat_id"] = id;
  } else {
    return Bad("chat_id", "must be a chat id (a number) or a channel username (@name)");
  }
  if (auto st =
          CopyString(in, out, "api_url", Need::kOptional, HttpUrlRule, "https://api.telegram.org");
      !st.ok()) {
    return st;
  }
  return CopyTemplate(in, out);
}

Status CheckPushover(const json& in, json& out, const CheckOptions&) {
  if (auto st = OnlyFields(in, {"user_key", "app_token", "priority", "api_url", "template"});
      !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "user_key", Need::kRequired, KeyRule); !st.ok()) return st;
  if (auto st = CopyString(in, out, "app_token", Need::kRequired, KeyRule); !st.ok()) return st;
  if (auto st = CopyInt(in, out, "priority", -2, 2, 0); !st.ok()) return st;
  if (auto st =
          CopyString(in, out, "api_url", Need::kOptional, HttpUrlRule, "https://api.pushover.net");
      !st.ok()) {
    return st;
  }
  return CopyTemplate(in, out);
}

Status CheckTwilio(const json& in, json& out, const CheckOptions&) {
  if (auto st = OnlyFields(in, {"account_sid", "auth_token", "from", "to", "base_url", "template"});
      !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "account_sid", Need::kRequired, KeyRule); !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "auth_token", Need::kRequired, TokenRule); !st.ok()) {
    return st;
  }
  if (auto st = CopyString(in, out, "from", Need::kRequired, SenderRule); !st.ok()) return st;
  if (auto st = CopyString(in, out, "to", Need::kRequired, PhoneRule); !st.ok()) return st;
  if (auto st =
          CopyString(in, out, "base_url", Need::kOptional, HttpUrlRule, "https://api.twilio.com");
      !st.ok()) {
    return st;
  }
  return CopyTemplate(in, out);
}

std::string CommandRule(std::string_view s) {
  return s.find('\0') == std::string_view::npos ? "" : "must not contain NUL characters";
}

Status CheckCommand(const json& in, json& out, const CheckOptions&) {
  if (auto st = OnlyFields(in, {"command", "timeout_seconds", "template"}); !st.ok()) return st;
  if (auto st = CopyString(in, out, "command", Need::kRequired, CommandRule, "", kMaxCommandBytes);
      !st.ok()) {
    return st;
  }
  if (auto st = CopyInt(in, out, "timeout_seconds", 1, kMaxTimeoutSeconds, kDefaultTimeoutSeconds);
      !st.ok()) {
    return st;
  }
  return CopyTemplate(in, out);
}

// ---- building ----------------------------------------------------------------------------

// What a builder works from.
struct Message {
  std::string event;
  const MessageInput* input = nullptr;
  MessageTemplate custom;
  // TemplateContext(event, input->context), built on first use: a webhook with its default
  // body, the commonest message, never needs it.
  const json& vars() const {
    if (!vars_) vars_ = TemplateContext(event, input->context);
    return *vars_;
  }

 private:
  mutable std::optional<json> vars_;
};

std::string Str(const json& j, std::string_view key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return it->dump();
  return "";
}

std::string Str(const json& j, std::string_view object, std::string_view key) {
  if (!j.is_object()) return "";
  auto it = j.find(object);
  return it == j.end() ? "" : Str(*it, key);
}

// Events that ask someone to act: they carry the acknowledgement link.
bool IsAlarm(std::string_view event) {
  return event == "down" || event == "escalation" || event == "reminder" || event == "reopened";
}

// The configured priority for alarms and tests; at most `normal` for late and recovery.
int64_t Priority(const json& config, std::string_view event, int64_t normal) {
  const int64_t p = config.value("priority", normal);
  return IsAlarm(event) || event == "test" ? p : std::min(p, normal);
}

std::string AckUrl(const Message& m) {
  return IsAlarm(m.event) ? HeaderValue(Str(m.vars(), "incident", "ack_url")) : "";
}

// The context the webhook and command receive: as stored, with `event`.
json EventContext(const Message& m) {
  json c = m.input->context.is_object() ? m.input->context : json::object();
  if (!c.contains("event")) c["event"] = m.event;
  return c;
}

HttpDelivery JsonPost(std::string url, const json& body) {
  HttpDelivery d;
  d.url = std::move(url);
  d.headers = {{"Content-Type", "application/json"}, {"User-Agent", std::string(kUserAgent)}};
  d.body = Dump(body);
  return d;
}

std::string WithoutTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

Result<Delivery> BuildEmail(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  MailDelivery d;
  d.smtp_url = config.value("smtp_url", "");
  d.starttls = config.value("starttls", false);
  d.username = config.value("username", "");
  d.password = config.value("password", "");
  d.from = config.value("from", "");
  const json to = config.value("to", json::array());
  for (const json& a : to) d.to.push_back(a.get<std::string>());

  std::string to_header = "To: ";
  size_t line = to_header.size();
  for (size_t i = 0; i < d.to.size(); ++i) {
    if (i > 0) {
      // Fold long recipient lists (RFC 5322 2.2.3) instead of one overlong line.
      if (line + d.to[i].size() + 2 > 78) {
        to_header += ",\r\n ";
        line = 1;
      } else {
        to_header += ", ";
        line += 2;
      }
    }
    to_header += d.to[i];
    line += d.to[i].size();
  }
  std::string key;
  for (char c : m.input->idempotency_key) {
    key +=
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ? c : '-';
  }
  if (key.empty()) key = "overdue-" + std::to_string(base::ToMicros(m.input->now));
  const std::string subject =
      EncodeWords(TruncateChars(HeaderValue(text->subject), kSubjectMaxChars), "\r\n ");
  std::string& msg = d.message;
  msg += "From: " + d.from + "\r\n";
  msg += to_header + "\r\n";
  msg += "Subject: " + subject + "\r\n";
  msg += "Date: " + MailDate(m.input->now) + "\r\n";
  msg += "Message-ID: <" + key + "@overdue>\r\n";
  msg += "MIME-Version: 1.0\r\n";
  msg += "Content-Type: text/plain; charset=utf-8\r\n";
  msg += "Content-Transfer-Encoding: 8bit\r\n";
  msg += "Auto-Submitted: auto-generated\r\n";
  msg += "X-Overdue-Event: " + HeaderValue(m.event) + "\r\n";
  msg += "\r\n";
  msg += MailBody(text->body);
  return Delivery{std::move(d)};
}

Result<Delivery> BuildWebhook(const json& config, const Message& m) {
  HttpDelivery d;
  d.method = config.value("method", "POST");
  d.url = config.value("url", "");
  const std::string body_template = config.value("body", "");
  if (d.method != "GET") {
    if (!body_template.empty()) {
      auto body = Render(body_template, m.vars(), Escape::kJson);
      if (!body.ok()) return base::InvalidArgument("config.body: " + body.error().message);
      d.body = std::move(body).value();
    } else if (!m.input->context_text.empty()) {
      d.body = std::string(m.input->context_text);  // the text of Dump(m.input->context)
    } else if (m.input->context.is_object() && m.input->context.contains("event")) {
      d.body = Dump(m.input->context);  // as EventContext(m), without copying it
    } else {
      d.body = Dump(EventContext(m));
    }
    d.headers.emplace_back("Content-Type", "application/json");
  }
  d.headers.emplace_back("User-Agent", std::string(kUserAgent));
  d.headers.emplace_back("Idempotency-Key", HeaderValue(m.input->idempotency_key));
  d.headers.emplace_back("X-Overdue-Event", HeaderValue(m.event));
  const std::string secret = config.value("secret", "");
  if (!secret.empty()) {
    // Stripe's scheme: the timestamp is signed with the body, so a captured request cannot
    // be replayed later with a fresh timestamp.
    const int64_t t =
        std::chrono::floor<std::chrono::seconds>(m.input->now.time_since_epoch()).count();
    const std::string signed_text = std::to_string(t) + "." + d.body;
    d.headers.emplace_back("X-Overdue-Signature", "t=" + std::to_string(t) + ",v1=" +
                                                      base::HmacSha256Hex(secret, signed_text));
  }
  const json configured = config.value("headers", json::object());
  for (auto it = configured.begin(); it != configured.end(); ++it) {
    const std::string lower = Lower(it.key());
    std::erase_if(d.headers, [&lower](const auto& h) { return Lower(h.first) == lower; });
    d.headers.emplace_back(it.key(), HeaderValue(it->get<std::string>()));
  }
  return Delivery{std::move(d)};
}

// "subject\nbody" for chat services; `bold` wraps the subject (Slack "*", Markdown "**").
std::string ChatText(const MessageText& text, std::string_view bold) {
  return std::string(bold) + text.subject + std::string(bold) + "\n" +
         std::string(TrimRight(text.body));
}

Result<Delivery> BuildSlack(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kSlack);
  if (!text.ok()) return text.error();
  return Delivery{JsonPost(config.value("url", ""),
                           json{{"text", TruncateChars(ChatText(*text, "*"), kSlackMaxChars)}})};
}

Result<Delivery> BuildMattermost(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  return Delivery{JsonPost(config.value("url", ""),
                           json{{"text", TruncateChars(ChatText(*text, "**"), kMattermostMaxChars)},
                                {"username", "overdue"}})};
}

Result<Delivery> BuildDiscord(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  // allowed_mentions: a watch named "@everyone" must not ping the whole server.
  return Delivery{JsonPost(config.value("url", ""),
                           json{{"content", TruncateChars(ChatText(*text, "**"), kDiscordMaxChars)},
                                {"username", "overdue"},
                                {"allowed_mentions", json{{"parse", json::array()}}}})};
}

// A recovery that is not one: resolved by a person while the watch is still down, or paused.
bool StillDown(const Message& m) { return !Str(m.vars(), "message", "still").empty(); }

Result<Delivery> BuildTeams(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  std::string color = "0076D7";  // blue: test and anything else
  if (IsAlarm(m.event)) color = "D70000";
  if (m.event == "late") color = "FFA500";
  if (m.event == "recovery") color = StillDown(m) ? "FFA500" : "2EB886";
  // Card text is Markdown, where a single newline does not break the line.
  std::string body;
  for (char c : TrimRight(text->body)) body += c == '\n' ? std::string("\n\n") : std::string(1, c);
  json card{{"@type", "MessageCard"},   {"@context", "https://schema.org/extensions"},
            {"summary", text->subject}, {"themeColor", color},
            {"title", text->subject},   {"text", TruncateChars(body, kTeamsMaxChars)}};
  if (const std::string ack = AckUrl(m); !ack.empty()) {
    card["potentialAction"] =
        json::array({json{{"@type", "OpenUri"},
                          {"name", "Acknowledge"},
                          {"targets", json::array({json{{"os", "default"}, {"uri", ack}}})}}});
  }
  return Delivery{JsonPost(config.value("url", ""), card)};
}

Result<Delivery> BuildNtfy(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  HttpDelivery d;
  d.url = WithoutTrailingSlash(config.value("url", "https://ntfy.sh")) + "/" +
          config.value("topic", "");
  d.body = TruncateBytes(TrimRight(text->body), kNtfyMaxBytes);
  std::string tag = "bell";
  if (IsAlarm(m.event)) tag = "rotating_light";
  if (m.event == "late") tag = "warning";
  if (m.event == "recovery") tag = StillDown(m) ? "warning" : "white_check_mark";
  d.headers = {{"User-Agent", std::string(kUserAgent)},
               {"Content-Type", "text/plain; charset=utf-8"},
               // ntfy decodes RFC 2047 encoded-words: HTTP headers themselves are not UTF-8.
               {"Title", EncodeWords(TruncateChars(text->subject, kNtfyTitleChars), " ")},
               {"Priority", std::to_string(Priority(config, m.event, 3))},
               {"Tags", tag}};
  if (const std::string url = HeaderValue(Str(m.vars(), "incident", "url")); !url.empty()) {
    d.headers.emplace_back("Click", url);
  }
  if (const std::string ack = AckUrl(m); !ack.empty()) {
    // "view": the link opens a confirmation page; ntfy's "http" action would POST to it.
    // Quoted when the URL holds ntfy's separators.
    const bool quote =
        ack.find_first_of(",;") != std::string::npos && ack.find('"') == std::string::npos;
    d.headers.emplace_back(
        "Actions", "view, Acknowledge, " + (quote ? "\"" + ack + "\"" : ack) + ", clear=true");
  }
  if (const std::string token = config.value("token", ""); !token.empty()) {
    d.headers.emplace_back("Authorization", "Bearer " + token);
  }
  return Delivery{std::move(d)};
}

Result<Delivery> BuildTelegram(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  const std::string url =
      WithoutTrailingSlash(config.value("api_url", "https://api.telegram.org")) + "/bot" +
      config.value("bot_token", "") + "/sendMessage";
  const json chat_id = config.contains("chat_id") ? config["chat_id"] : json("");
  return Delivery{JsonPost(
      url, json{{"chat_id", chat_id},
                {"text", TruncateChars(text->subject + "\n\n" + std::string(TrimRight(text->body)),
                                       kTelegramMaxChars)},
                {"disable_web_page_preview", true}})};
}

Result<Delivery> BuildPushover(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  const int64_t priority = Priority(config, m.event, 0);
  std::vector<std::pair<std::string, std::string>> form = {
      {"token", config.value("app_token", "")},
      {"user", config.value("user_key", "")},
      {"title", TruncateChars(text->subject, kPushoverTitleChars)},
      {"message", TruncateChars(TrimRight(text->body), kPushoverMessageChars)},
      {"priority", std::to_string(priority)}};
  if (const std::string ack = AckUrl(m); !ack.empty()) {
    form.emplace_back("url", ack);
    form.emplace_back("url_title", "Acknowledge");
  } else if (const std::string url = Str(m.vars(), "incident", "url"); !url.empty()) {
    form.emplace_back("url", url);
    form.emplace_back("url_title", "Incident");
  }
  if (priority == 2) {
    // Emergency priority: Pushover requires how often to repeat (>= 30 s) and for how long.
    form.emplace_back("retry", "60");
    form.emplace_back("expire", "3600");
  }
  HttpDelivery d;
  d.url = WithoutTrailingSlash(config.value("api_url", "https://api.pushover.net")) +
          "/1/messages.json";
  d.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
               {"User-Agent", std::string(kUserAgent)}};
  d.body = FormEncode(form);
  return Delivery{std::move(d)};
}

HttpDelivery TwilioPost(const json& config, std::string_view resource,
                        const std::vector<std::pair<std::string, std::string>>& form) {
  HttpDelivery d;
  const std::string sid = config.value("account_sid", "");
  d.url = WithoutTrailingSlash(config.value("base_url", "https://api.twilio.com")) +
          "/2010-04-01/Accounts/" + sid + "/" + std::string(resource);
  d.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
               {"User-Agent", std::string(kUserAgent)}};
  d.body = FormEncode(form);
  d.username = sid;
  d.password = config.value("auth_token", "");
  return d;
}

Result<Delivery> BuildSms(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  // Short by default: an SMS costs per segment of 160 characters.
  std::string body = text->subject;
  if (!m.custom.body.empty()) {
    body = std::string(TrimRight(text->body));
  } else if (const std::string ack = AckUrl(m); !ack.empty()) {
    body += "\nAcknowledge: " + ack;
  }
  return Delivery{TwilioPost(config, "Messages.json",
                             {{"To", config.value("to", "")},
                              {"From", config.value("from", "")},
                              {"Body", TruncateChars(body, kSmsMaxChars)}})};
}

Result<Delivery> BuildVoice(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  std::string spoken;
  if (!m.custom.body.empty()) {
    spoken = text->body;
  } else if (!m.custom.subject.empty()) {
    spoken = text->subject;
  } else {
    spoken = "This is an alert from overdue. " + Str(m.vars(), "message", "headline") + ".";
  }
  const std::string say = base::MarkupEscape(TruncateChars(TrimRight(spoken), kVoiceMaxChars));
  // Said twice: the first words of a call are often missed while the phone reaches an ear.
  const std::string twiml =
      "<Response><Say>" + say + "</Say><Pause length=\"1\"/><Say>" + say + "</Say></Response>";
  return Delivery{TwilioPost(
      config, "Calls.json",
      {{"To", config.value("to", "")}, {"From", config.value("from", "")}, {"Twiml", twiml}})};
}

std::string EnvValue(std::string_view s) {
  std::string out(s);
  std::erase(out, '\0');  // execve would cut the value there
  return out;
}

Result<Delivery> BuildCommand(const json& config, const Message& m) {
  auto text = RenderMessage(m.event, m.input->context, m.custom, Escape::kNone);
  if (!text.ok()) return text.error();
  CommandDelivery d;
  d.command = config.value("command", "");
  d.stdin_data = Dump(EventContext(m)) + "\n";
  d.env = {{"OVERDUE_EVENT", EnvValue(m.event)},
           {"OVERDUE_INCIDENT_ID", EnvValue(Str(m.vars(), "incident", "id"))},
           {"OVERDUE_WATCH_ID", EnvValue(Str(m.vars(), "watch", "id"))},
           {"OVERDUE_WATCH_NAME", EnvValue(Str(m.vars(), "watch", "name"))},
           {"OVERDUE_SUBJECT", EnvValue(text->subject)},
           {"OVERDUE_MESSAGE", EnvValue(text->body)}};
  d.timeout = std::chrono::seconds(config.value("timeout_seconds", kDefaultTimeoutSeconds));
  return Delivery{std::move(d)};
}

// ---- the kinds ---------------------------------------------------------------------------

struct Kind {
  std::string_view name;
  Status (*check)(const json& in, json& out, const CheckOptions& options);
  Result<Delivery> (*build)(const json& config, const Message& m);
};

constexpr Kind kKinds[] = {
    {"email", CheckEmail, BuildEmail},
    {"webhook", CheckWebhook, BuildWebhook},
    {"slack", CheckIncomingWebhook, BuildSlack},
    {"mattermost", CheckIncomingWebhook, BuildMattermost},
    {"discord", CheckIncomingWebhook, BuildDiscord},
    {"teams", CheckIncomingWebhook, BuildTeams},
    {"ntfy", CheckNtfy, BuildNtfy},
    {"telegram", CheckTelegram, BuildTelegram},
    {"pushover", CheckPushover, BuildPushover},
    {"sms", CheckTwilio, BuildSms},
    {"voice", CheckTwilio, BuildVoice},
    {"command", CheckCommand, BuildCommand},
};

const Kind* FindKind(std::string_view name) {
  for (const Kind& k : kKinds) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

base::Error UnknownKind(std::string_view kind) {
  std::string list;
  for (const Kind& k : kKinds) list += (list.empty() ? "" : ", ") + std::string(k.name);
  std::string shown;
  for (char c : kind.substr(0, 40)) shown += IsControl(c) ? '?' : c;
  return base::InvalidArgument("kind: unknown channel kind '" + shown + "' (one of: " + list + ")");
}

Result<json> Check(const Kind& kind, const json& config, const CheckOptions& options) {
  if (!config.is_object()) return base::InvalidArgument("config: must be a JSON object");
  json out = json::object();
  if (auto st = kind.check(config, out, options); !st.ok()) return st.error();
  return out;
}

MessageTemplate TemplateOf(const json& config) {
  MessageTemplate t;
  auto it = config.find("template");
  if (it != config.end() && it->is_object()) {
    t.subject = it->value("subject", "");
    t.body = it->value("body", "");
  }
  return t;
}

}  // namespace

const std::vector<std::string>& ChannelKinds() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Kind& k : kKinds) names.emplace_back(k.name);
    return names;
  }();
  return kNames;
}

base::Result<nlohmann::json> ValidateChannel(std::string_view kind, const nlohmann::json& config) {
  const Kind* k = FindKind(kind);
  if (k == nullptr) return UnknownKind(kind);
  try {
    return Check(*k, config, CheckOptions{});
  } catch (const std::exception& e) {
    return base::Internal(std::string("checking the channel config: ") + e.what());
  }
}

base::Result<json> PrepareConfig(const model::Channel& channel) {
  const Kind* kind = FindKind(channel.kind);
  if (kind == nullptr) return UnknownKind(channel.kind);
  try {
    const json stored = json::parse(channel.config, nullptr, false);
    auto config = Check(*kind, stored, CheckOptions{.generate_secret = false});
    if (!config.ok()) {
      return base::InvalidArgument("stored channel config: " + config.error().message);
    }
    return config;
  } catch (const std::exception& e) {
    return base::Internal(std::string("checking the channel's config: ") + e.what());
  }
}

bool SendsContextAsText(const model::Channel& channel, const json& prepared_config) {
  return channel.kind == "webhook" && prepared_config.value("method", "POST") != "GET" &&
         prepared_config.value("body", "").empty();
}

base::Result<Delivery> BuildDelivery(const model::Channel& channel, const json& prepared_config,
                                     const MessageInput& message) {
  const Kind* kind = FindKind(channel.kind);
  if (kind == nullptr) return UnknownKind(channel.kind);
  try {
    Message m;
    m.event = message.event.empty() ? Str(message.context, "event") : message.event;
    m.input = &message;
    m.custom = TemplateOf(prepared_config);
    return kind->build(prepared_config, m);
  } catch (const std::exception& e) {
    // A broken invariant (the checked config has the types the builders read), not input.
    return base::Internal(std::string("building the delivery: ") + e.what());
  }
}

base::Result<Delivery> BuildDelivery(const model::Channel& channel, const MessageInput& message) {
  auto config = PrepareConfig(channel);
  if (!config.ok()) return config.error();
  return BuildDelivery(channel, config.value(), message);
}

}  // namespace overdue::notify
