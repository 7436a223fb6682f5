// ParsePingPath: healthchecks.io's ping URL grammar (hc/api/urls.py), as a pure function.
//
//   /ping/<uuid>                      /ping/<uuid>/ [start|fail|log|<int>]
//   /ping/<ping-key>/<slug>           /ping/<ping-key>/<slug>/[start|fail|log|<int>]
//
// <uuid> is Django's lowercase uuid converter; <ping-key> and <slug> are Django slugs
// ([-a-zA-Z0-9_]+). A path that is neither is not a ping URL (404 "not found"). Checks that
// healthchecks makes only after finding the watch (exit status > 255, uppercase slug) are
// reported as flags, so the handler answers 404 before 400 exactly as healthchecks does.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/uuid.h"
#include "model/check_in.h"

namespace overdue::api {

struct PingPath {
  enum class Form { kUuid, kSlug };
  Form form = Form::kUuid;
  base::Uuid uuid;       // kUuid
  std::string ping_key;  // kSlug
  std::string slug;      // kSlug
  model::Signal signal = model::Signal::kSuccess;
  std::optional<int> exit_status;      // 0–255
  bool exit_status_too_large = false;  // <int> over 255 → 400 "invalid url format"
  bool slug_not_lowercase = false;     // → 400 "invalid url format"
};

// `path` is percent-decoded and starts with "/ping/". nullopt: no route matches.
std::optional<PingPath> ParsePingPath(std::string_view path);

}  // namespace overdue::api
