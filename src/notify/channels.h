// Channels: for each kind, what its configuration must hold and how a message becomes a
// Delivery. Pure (no I/O): the notifier calls BuildDelivery, the API calls ValidateChannel.
//
// Kinds and their `config` (JSON object) fields — * marks required:
//   email:      to* (string or array of addresses), from*, smtp_url* (smtp:// or smtps://),
//               starttls (bool), username, password
//   webhook:    url*, method (POST|PUT|PATCH|GET, default POST), headers (object of strings),
//               secret (signs X-Overdue-Signature; generated at creation when absent),
//               body (mustache template of the body; default: the context as JSON)
//   slack, mattermost, discord, teams: url* (the incoming-webhook URL)
//   ntfy:       url* (server, default https://ntfy.sh), topic*, priority (1-5), token
//   telegram:   bot_token*, chat_id*, api_url (default https://api.telegram.org)
//   pushover:   user_key*, app_token*, priority (-2..2), api_url (default https://api.pushover.net)
//   sms, voice: account_sid*, auth_token*, from*, to*, base_url (default https://api.twilio.com)
//   command:    command* (run with /bin/sh -c, incident JSON on stdin), timeout_seconds (1-300)
// Every kind also takes `template`: {"subject": "...", "body": "..."} (mustache), replacing the
// default message text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "model/incident.h"
#include "notify/delivery.h"

namespace overdue::notify {

const std::vector<std::string>& ChannelKinds();

// Checks a channel's kind and config; the error names the field and the rule
// ("config.url: must be an http:// or https:// URL", "kind: unknown channel kind 'pager'",
// "config.template.body: unclosed section 'watch'"). Returns the config to store: normalised,
// with defaults filled in (and a generated webhook secret).
base::Result<nlohmann::json> ValidateChannel(std::string_view kind, const nlohmann::json& config);

// What to send. `context` is the message's template variables (message.h); the webhook
// signature uses `now` and the channel's secret; `idempotency_key` goes in the
// Idempotency-Key header (webhooks) or Message-ID (mail).
struct MessageInput {
  std::string event;  // "down", "late", "escalation", "reminder", "reopened", "recovery", "test"
  nlohmann::json context;
  std::string idempotency_key;
  base::TimePoint now{};
  // Instead of `context`: the context as JSON text (an object whose first key is "event", as
  // the desk writes it), for a channel that sends it as it is (SendsContextAsText), so that
  // it need not be parsed and dumped again. Must outlive the BuildDelivery call.
  std::string_view context_text;
};

// REQUIRES: channel.config passed ValidateChannel. An error only if a template fails to render.
base::Result<Delivery> BuildDelivery(const model::Channel& channel, const MessageInput& message);

// The same in two steps, for a caller that sends many messages to one channel: its stored
// config parsed and checked once (an error if it no longer passes), then each message built
// from that. BuildDelivery(channel, m) == BuildDelivery(channel, PrepareConfig(channel), m).
base::Result<nlohmann::json> PrepareConfig(const model::Channel& channel);
// Whether the channel's messages are the context as it is (a webhook without a body
// template), so that MessageInput::context_text may stand for `context`.
bool SendsContextAsText(const model::Channel& channel, const nlohmann::json& prepared_config);
base::Result<Delivery> BuildDelivery(const model::Channel& channel,
                                     const nlohmann::json& prepared_config,
                                     const MessageInput& message);

}  // namespace overdue::notify
