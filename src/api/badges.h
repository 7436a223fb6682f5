// Badges: healthchecks' status badges and their signed URLs, as pure functions (the HTTP side
// is in api.cc). URL scheme, as healthchecks':
//   /badge/<project badge_key>/<signature>[-2]/<tag>.<svg|json|shields>  (one tag)
//   /badge/<project badge_key>/<signature>[-2].<svg|json|shields>        (every check, tag "*")
// The signature (8 characters) proves the URL was handed out by this server, so a project's
// tags cannot be enumerated from its badge key; "-2" selects the two-state badge (up/down)
// instead of three states (up/late/down).
//
// Signatures are overdue's own (HMAC-SHA256 with the server's secret), not healthchecks'
// (Django's salted HMAC-SHA1 with its SECRET_KEY): badge URLs are re-issued after a migration.
// Thread-safe: no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace overdue::api {

// A flat shields-style badge, 20 px high: `label` on grey at the left, `status` ("up" |
// "late" | "down"; anything else is drawn grey) on its colour at the right. Each part is as
// wide as its text by healthchecks' per-character width table (Verdana 11 px) plus 10 px, so
// an existing healthchecks badge and ours have the same geometry. `label` may be any UTF-8
// text: it is escaped for XML, and control characters become U+FFFD.
std::string BadgeSvg(std::string_view label, std::string_view status);

// The first 8 characters of URL-safe base64(HMAC-SHA256(key = secret, badge_key + tag)).
// Every badge key has the same length (a UUID), so badge_key + tag is unambiguous.
std::string BadgeSignature(std::string_view secret, std::string_view badge_key,
                           std::string_view tag);
// Accepts "<sig>" (8 characters) and "<sig>-2" (10, the two-state variant); anything else is
// false. The comparison is constant-time.
bool CheckBadgeSignature(std::string_view secret, std::string_view badge_key, std::string_view tag,
                         std::string_view signature);

// The path of a badge URL (prefix it with the public URL). `with_late` false appends "-2" to
// the signature, as healthchecks' get_badge_url. Tag "*" is the every-check badge. Any other
// tag is percent-encoded twice, exactly as healthchecks' URLs are ("db@dc1" → "db%2540dc1"),
// so the URLs match the ones users already embed; BadgeTagFromPath reverses it.
std::string BadgeUrlPath(std::string_view secret, std::string_view badge_key, std::string_view tag,
                         std::string_view fmt, bool with_late);

// The tag named by the <tag> path segment of a badge URL, as received (not yet
// percent-decoded), the way healthchecks reads it: decode once (the HTTP layer), require only
// word characters, '%', '~', '_', '.' and '-' (non-ASCII letters allowed), decode again. So
// "db%2540dc1" → "db@dc1" and "a%2520b" → "a b"; "db%40dc1" → nullopt (404 in healthchecks).
std::optional<std::string> BadgeTagFromPath(std::string_view segment);

// A badge's state over the checks it covers (healthchecks' badge view).
struct BadgeCounts {
  std::string status = "up";  // "up" | "late" | "down"
  int total = 0;              // checks covered
  int grace = 0;              // of which late (in their grace time)
  int down = 0;               // of which down
};

// `statuses` are the covered checks' states as healthchecks' Check.get_status() names them
// ("new", "up", "grace", "down", "paused"; "started" counts as up). Any "down" makes the badge
// down; otherwise any "grace" makes it late when `with_late`, else it stays up.
BadgeCounts Aggregate(const std::vector<std::string>& statuses, bool with_late);

}  // namespace overdue::api
