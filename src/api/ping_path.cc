#include "api/ping_path.h"

#include <vector>

namespace overdue::api {
namespace {

bool IsSlug(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Applies an action segment ("start", "fail", "log", "<int>"); false if it is none of them.
bool ApplyAction(std::string_view seg, PingPath& p) {
  if (seg == "start") {
    p.signal = model::Signal::kStart;
  } else if (seg == "fail") {
    p.signal = model::Signal::kFail;
  } else if (seg == "log") {
    p.signal = model::Signal::kLog;
  } else if (IsDigits(seg)) {
    // Django's <int> converter accepts any number of digits; > 255 is rejected later.
    if (seg.size() > 3 || std::stoi(std::string(seg)) > 255) {
      p.exit_status_too_large = true;
    } else {
      p.exit_status = std::stoi(std::string(seg));
    }
  } else {
    return false;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    s.remove_prefix(slash + 1);
  }
}

bool HasUpper(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

std::optional<PingPath> ParseSlugForm(const std::vector<std::string_view>& segs) {
  if (segs.size() < 2 || segs.size() > 3) return std::nullopt;
  if (!IsSlug(segs[0]) || !IsSlug(segs[1])) return std::nullopt;
  PingPath p;
  p.form = PingPath::Form::kSlug;
  p.ping_key = std::string(segs[0]);
  p.slug = std::string(segs[1]);
  p.slug_not_lowercase = HasUpper(segs[1]);
  // "/ping/<key>/<slug>/" (trailing slash, no action) is not a route in healthchecks.
  if (segs.size() == 3 && !ApplyAction(segs[2], p)) return std::nullopt;
  return p;
}

}  // namespace

std::optional<PingPath> ParsePingPath(std::string_view path) {
  constexpr std::string_view kPrefix = "/ping/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::vector<std::string_view> segs = Split(path.substr(kPrefix.size()));
  if (auto uuid = base::Uuid::Parse(segs[0], /*lowercase_only=*/true)) {
    PingPath p;
    p.uuid = *uuid;
    if (segs.size() == 1) return p;
    if (segs.size() == 2 && (segs[1].empty() || ApplyAction(segs[1], p))) return p;
    // Anything else after a UUID can still be a slug URL whose ping key looks like a UUID.
  }
  return ParseSlugForm(segs);
}

}  // namespace overdue::api
