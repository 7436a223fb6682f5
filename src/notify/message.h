// Message: the text of a notification, rendered with mustache templates
// (https://mustache.github.io/mustache.5.html; kainjow's implementation) from the
// notification's context. Pure functions, safe from any thread; cost linear in the template
// and the values inserted.
//
// TEMPLATE REFERENCE. The context is a JSON object stored with each outbox row:
//
//   event                    down | late | escalation | reminder | reopened | recovery | test
//   incident                 absent for "late" and "test"
//     .id .cause             12, timeout | fail | exit | sos | duress
//     .cause_detail          "missed its deadline: no check-in since 2026-11-25 09:58:00 UTC"
//     .state                 open | acknowledged | resolved
//     .opened_at             when the watch went down
//     .url .ack_url          the incident in the API; the acknowledgement link
//     .step .round           escalation rung and run of the chain (both 1-based)
//     .acked_by .resolved_by .resolve_reason
//   watch                    .id .name .slug .kind .tags .desc .status
//                            .last_ping ("" if never) .ping_url
//                            .grace_ends_at ("late" only: when the watch goes down)
//   last_check_in            null, or .at .signal .exit_status (null unless given)
//                            .remote_addr .body (its first 1000 bytes)
//   channel                  "test" only: .id .name of the channel being tested
//   server.url               the server's public URL
//   now                      when the notification was created
//
// Every template also sees `message`, derived at render time (not stored):
//   message.label            DOWN | LATE | ESCALATION | REMINDER | REOPENED | RESOLVED | TEST
//   message.watch            the watch's name (else its slug, else its id)
//   message.cause            "missed its deadline", "reported a failure", "exited with
//                            status 3", "sent an SOS", "sent a duress signal"
//   message.headline         "DOWN: nightly-backup (missed its deadline)" — the default
//                            subject is "[overdue] {{message.headline}}"
//   message.excerpt          the first lines of last_check_in.body, each indented "  | "
//   message.opened_at        incident.opened_at as people read it: "2026-11-25 10:00:00 UTC"
//                            (whole seconds; the raw fields keep microseconds, for programs)
//   message.last_check_in_at last_check_in.at the same way ("" without a last check-in)
//   message.grace_ends_at    watch.grace_ends_at the same way ("" unless "late")
//   message.still            recovery only: "" when the watch is up again, else "The watch
//                            is still DOWN." (a person resolved the incident) or "The watch
//                            is PAUSED: …"
//
// Conversion to mustache: objects and arrays become sections, numbers become their text,
// true/false are booleans. null and "" are false, so `{{#watch.last_ping}}…{{/watch.last_ping}}`
// shows only when there is one; a missing key renders as nothing. Partials ({{> name}}) are
// refused: values are never parsed as templates.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace overdue::notify {

// How values inserted with {{name}} are escaped ({{{name}}} and {{& name}} never are).
enum class Escape {
  kNone,   // plain text: mail, SMS, ntfy, Telegram, Pushover ("a&b" stays "a&b")
  kJson,   // inside a JSON string literal: quotes, backslashes, control characters escaped
  kSlack,  // Slack mrkdwn: & < > as entities, so a value cannot mention @channel or add links
};

// A template longer than this is refused: templates live in channel configs, and a bound
// keeps a config row and each rendering small.
inline constexpr size_t kMaxTemplateBytes = 16 * 1024;
// Sections nested deeper than this are refused: kainjow recurses once per level, so the bound
// keeps the stack of the notifier thread safe from a hostile template.
inline constexpr int kMaxSectionDepth = 16;

// Whether `text` is a template Render accepts. The error names what is wrong and where:
// `unclosed section "watch" at line 1, column 1`.
base::Status CheckTemplate(std::string_view text);

// Renders `text` with `context` (any JSON; normally TemplateContext's result). Missing keys
// render as nothing. An error only when CheckTemplate fails.
base::Result<std::string> Render(std::string_view text, const nlohmann::json& context,
                                 Escape escape = Escape::kNone);

// Subject and body templates (mustache). An empty part means "use the default".
struct MessageTemplate {
  std::string subject;
  std::string body;
};

// The built-in templates for `event` (an unknown event gets a generic text).
MessageTemplate DefaultTemplate(std::string_view event);

// The variables a channel template sees: `context` plus the derived `message` object, and
// `event` set to `event` when the context lacks it. `event` empty: the context's own.
nlohmann::json TemplateContext(std::string_view event, const nlohmann::json& context);

// A rendered message. `subject` is one line: control characters (CR, LF, ...) are replaced by
// spaces, so it is safe in a mail or HTTP header.
struct MessageText {
  std::string subject;
  std::string body;
};

// Renders subject and body of `event` from `custom` where set, else from DefaultTemplate,
// with TemplateContext(event, context). An error only when a custom template is invalid.
base::Result<MessageText> RenderMessage(std::string_view event, const nlohmann::json& context,
                                        const MessageTemplate& custom,
                                        Escape escape = Escape::kNone);

}  // namespace overdue::notify
