#include "notify/channels.h"

#include <sodium.h>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace overdue::notify {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int64_t kNowUnix = 1795600801;  // 2026-11-25T10:00:01Z

json SampleContext(std::string_view event = "down") {
  json c = json::parse(R"({
    "incident": {"id": 12, "cause": "timeout",
                 "cause_detail": "no check-in since 2026-11-25T09:58:00Z", "state": "open",
                 "opened_at": "2026-11-25T10:00:00Z",
                 "url": "http://host:8000/api/v1/incidents/12",
                 "ack_url": "http://host:8000/ack/tok123", "step": 1, "round": 1,
                 "acked_by": "", "resolved_by": "", "resolve_reason": ""},
    "watch": {"id": "6f1c2b8e-0d1a-4e57-9a3b-2f4c5d6e7f80", "name": "nightly-backup",
              "slug": "nightly-backup", "kind": "job", "tags": "prod db", "desc": "",
              "status": "down", "last_ping": "2026-11-25T09:00:00Z",
              "ping_url": "http://host:8000/ping/6f1c2b8e-0d1a-4e57-9a3b-2f4c5d6e7f80"},
    "last_check_in": {"at": "2026-11-25T09:00:00Z", "signal": "fail", "exit_status": null,
                      "remote_addr": "10.0.0.5", "body": "rsync: error 23\n"},
    "server": {"url": "http://host:8000"},
    "now": "2026-11-25T10:00:01Z"})");
  c["event"] = std::string(event);
  // A recovery after a check-in (the usual one): the watch is up again.
  if (event == "recovery") c["watch"]["status"] = "up";
  return c;
}

MessageInput Input(std::string_view event = "down", json context = json()) {
  MessageInput in;
  in.event = std::string(event);
  in.context = context.is_null() ? SampleContext(event) : std::move(context);
  in.idempotency_key = "overdue-12-7";
  in.now = base::TimePoint(std::chrono::seconds(kNowUnix));
  return in;
}

model::Channel Channel(std::string kind, const json& config) {
  model::Channel c;
  c.kind = std::move(kind);
  c.name = "test channel";
  c.config = config.dump();
  return c;
}

// Validates `config` (as the API does) and builds the delivery of `input` for it.
Delivery Build(const std::string& kind, const json& config, const MessageInput& input = Input()) {
  auto valid = ValidateChannel(kind, config);
  EXPECT_TRUE(valid.ok()) << kind << ": " << (valid.ok() ? "" : valid.error().message);
  if (!valid.ok()) return HttpDelivery{};
  auto d = BuildDelivery(Channel(kind, *valid), input);
  EXPECT_TRUE(d.ok()) << kind << ": " << (d.ok() ? "" : d.error().message);
  if (!d.ok()) return HttpDelivery{};
  return *d;
}

HttpDelivery BuildHttp(const std::string& kind, const json& config,
                       const MessageInput& input = Input()) {
  Delivery d = Build(kind, config, input);
  EXPECT_TRUE(std::holds_alternative<HttpDelivery>(d));
  return std::holds_alternative<HttpDelivery>(d) ? std::get<HttpDelivery>(d) : HttpDelivery{};
}

std::string Header(const HttpDelivery& d, std::string_view name) {
  for (const auto& [n, v] : d.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

std::map<std::string, std::string> ParseForm(std::string_view body) {
  std::map<std::string, std::string> out;
  auto decode = [](std::string_view s) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        r += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        r += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        r += s[i];
      }
    }
    return r;
  };
  size_t start = 0;
  while (start < body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(start, amp - start);
    const size_t eq = pair.find('=');
    out[decode(pair.substr(0, eq))] = decode(pair.substr(eq + 1));
    start = amp + 1;
  }
  return out;
}

std::string HmacHex(std::string_view key, std::string_view message) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[sizeof mac * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return hex;
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

const json kSecret = "0123456789abcdef0123456789abcdef";

// ---- kinds and validation ----------------------------------------------------------------

TEST(ChannelKindsTest, ListsEveryKind) {
  EXPECT_THAT(ChannelKinds(),
              ElementsAre("email", "webhook", "slack", "mattermost", "discord", "teams", "ntfy",
                          "telegram", "pushover", "sms", "voice", "command"));
}

struct BadConfig {
  std::string kind;
  json config;
  std::string error;  // exact message, or its start when it ends with "…"
};

TEST(ValidateChannelTest, ErrorsNameTheFieldAndTheRule) {
  const json ok_email = {{"to", "a@example.com"},
                         {"from", "overdue@example.com"},
                         {"smtp_url", "smtp://mail.example.com:587"}};
  auto email = [&](const char* key, json value) {
    json c = ok_email;
    if (value.is_null()) {
      c.erase(key);
    } else {
      c[key] = std::move(value);
    }
    return c;
  };
  const std::vector<BadConfig> cases = {
      {"pager", json::object(),
       "kind: unknown channel kind 'pager' (one of: email, webhook, slack, mattermost, discord, "
       "teams, ntfy, telegram, pushover, sms, voice, command)"},
      {"webhook", json::array(), "config: must be a JSON object"},
      {"webhook", "https://x.example", "config: must be a JSON object"},
      {"webhook", json::object(), "config.url: required"},
      {"webhook", {{"url", ""}}, "config.url: required"},
      {"webhook", {{"url", 5}}, "config.url: must be a string"},
      {"webhook",
       {{"url", "ftp://x.example"}},
       "config.url: must be an http:// or https:// URL with a host"},
      {"webhook",
       {{"url", "https://"}},
       "config.url: must be an http:// or https:// URL with a host"},
      {"webhook",
       {{"url", "https://:80/x"}},
       "config.url: must be an http:// or https:// URL with a host"},
      {"webhook",
       {{"url", "https://exa mple.com/"}},
       "config.url: must be an http:// or https:// URL with a host"},
      {"webhook",
       {{"url", "https://example.com/\r\nX: y"}},
       "config.url: must be an http:// or https:// URL with a host"},
      {"webhook",
       {{"url", "https://example.com:99999/"}},
       "config.url: must be an http:// or https:// URL with a host"},
      {"webhook",
       {{"url", "example.com/hook"}},
       "config.url: must be an http:// or https:// URL with a host"},
      {"webhook", {{"url", "https://x.example"}, {"foo", 1}}, "config.foo: unknown field…"},
      {"webhook",
       {{"url", "https://x.example"}, {"method", "DELETE"}},
       "config.method: must be one of POST, PUT, PATCH, GET"},
      {"webhook",
       {{"url", "https://x.example"}, {"headers", "X-A: b"}},
       "config.headers: must be an object of strings"},
      {"webhook",
       {{"url", "https://x.example"}, {"headers", {{"X-Test", "a\r\nInjected: 1"}}}},
       "config.headers.X-Test: must not contain CR, LF or other control characters"},
      {"webhook",
       {{"url", "https://x.example"}, {"headers", {{"X\r\nY", "v"}}}},
       "config.headers.\"X\\x0d\\x0aY\": must be a header name…"},
      {"webhook",
       {{"url", "https://x.example"}, {"headers", {{"X-Test", 1}}}},
       "config.headers.X-Test: must be a string"},
      {"webhook",
       {{"url", "https://x.example"}, {"headers", {{"x-overdue-signature", "v"}}}},
       "config.headers.x-overdue-signature: is set by overdue and cannot be configured"},
      {"webhook",
       {{"url", "https://x.example"}, {"secret", "short"}},
       "config.secret: must be 16 to 256 characters without control characters"},
      {"webhook",
       {{"url", "https://x.example"}, {"body", "{{#watch}}"}},
       "config.body: unclosed section \"watch\" at line 1, column 1"},
      {"slack",
       {{"url", "https://hooks.slack.com/x"}, {"template", {{"body", "{{#watch}}"}}}},
       "config.template.body: unclosed section \"watch\" at line 1, column 1"},
      {"slack",
       {{"url", "https://hooks.slack.com/x"}, {"template", {{"subject", "{{x"}}}},
       "config.template.subject: unclosed tag at line 1, column 1"},
      {"slack",
       {{"url", "https://hooks.slack.com/x"}, {"template", {{"title", "x"}}}},
       "config.template.title: unknown field…"},
      {"slack",
       {{"url", "https://hooks.slack.com/x"}, {"template", "{{x}}"}},
       "config.template: must be an object…"},
      {"slack",
       {{"url", "https://hooks.slack.com/x"}, {"template", {{"body", 3}}}},
       "config.template.body: must be a string"},
      {"discord", json::object(), "config.url: required"},
      {"teams",
       {{"url", "javascript:alert(1)"}},
       "config.url: must be an http:// or https:// URL with a host"},
      {"email", email("to", nullptr), "config.to: required"},
      {"email", email("to", "a@example.com\r\nBcc: b@example.com"),
       "config.to: must be email addresses (name@example.com)"},
      {"email", email("to", json::array({"a@example.com", "not-an-address"})),
       "config.to[1]: must be an email address (name@example.com)"},
      {"email", email("to", json::array()), "config.to: required"},
      {"email", email("from", nullptr), "config.from: required"},
      {"email", email("from", "Overdue <o@example.com>"),
       "config.from: must be an email address (name@example.com)"},
      {"email", email("smtp_url", "https://mail.example.com"),
       "config.smtp_url: must be an smtp:// or smtps:// URL with a host"},
      {"email", email("starttls", "yes"), "config.starttls: must be true or false"},
      {"email", email("password", "a\nb"),
       "config.password: must not contain control characters (CR, LF, ...)"},
      {"ntfy",
       {{"topic", "alerts"}, {"priority", 6}},
       "config.priority: must be an integer from 1 to 5"},
      {"ntfy",
       {{"topic", "alerts"}, {"priority", "3"}},
       "config.priority: must be an integer from 1 to 5"},
      {"ntfy", {{"topic", "a/b"}}, "config.topic: must be 1 to 64 letters, digits, '-' or '_'"},
      {"ntfy", json::object(), "config.topic: required"},
      {"ntfy",
       {{"topic", "alerts"}, {"token", "tk x"}},
       "config.token: must be printable ASCII without spaces"},
      {"telegram",
       {{"bot_token", "abc"}, {"chat_id", 1}},
       "config.bot_token: must be a bot token as BotFather gives it (123456:ABC-DEF...)"},
      {"telegram",
       {{"bot_token", "123:abc/../x"}, {"chat_id", 1}},
       "config.bot_token: must be a bot token as BotFather gives it (123456:ABC-DEF...)"},
      {"telegram", {{"bot_token", "123:abc"}}, "config.chat_id: required"},
      {"telegram",
       {{"bot_token", "123:abc"}, {"chat_id", true}},
       "config.chat_id: must be a chat id (a number) or a channel username (@name)"},
      {"pushover",
       {{"user_key", "u1"}, {"app_token", "a1"}, {"priority", 3}},
       "config.priority: must be an integer from -2 to 2"},
      {"pushover", {{"user_key", "u1"}}, "config.app_token: required"},
      {"pushover",
       {{"user_key", "u 1"}, {"app_token", "a1"}},
       "config.user_key: must contain only letters and digits"},
      {"sms",
       {{"account_sid", "AC1"}, {"auth_token", "t"}, {"from", "+15550001111"}, {"to", "555-1234"}},
       "config.to: must be a phone number in E.164 form (+15551234567)"},
      {"voice",
       {{"account_sid", "AC1"}, {"auth_token", "t"}, {"to", "+15550001111"}},
       "config.from: required"},
      {"sms",
       {{"account_sid", "AC1"},
        {"auth_token", "t"},
        {"from", "+15550001111"},
        {"to", "+15550002222"},
        {"base_url", "api.twilio.com"}},
       "config.base_url: must be an http:// or https:// URL with a host"},
      {"command", json::object(), "config.command: required"},
      {"command",
       {{"command", "true"}, {"timeout_seconds", 0}},
       "config.timeout_seconds: must be an integer from 1 to 300"},
      {"command",
       {{"command", "true"}, {"timeout_seconds", 301}},
       "config.timeout_seconds: must be an integer from 1 to 300"},
      {"command",
       {{"command", "true"}, {"timeout_seconds", 2.5}},
       "config.timeout_seconds: must be an integer from 1 to 300"},
  };
  for (const BadConfig& c : cases) {
    auto r = ValidateChannel(c.kind, c.config);
    ASSERT_FALSE(r.ok()) << c.kind << " " << c.config.dump();
    EXPECT_EQ(r.error().code, base::ErrorCode::kInvalidArgument);
    constexpr std::string_view kMore = "…";
    if (std::string_view(c.error).ends_with(kMore)) {
      EXPECT_THAT(r.error().message, StartsWith(c.error.substr(0, c.error.size() - kMore.size())))
          << c.config.dump();
    } else {
      EXPECT_EQ(r.error().message, c.error) << c.config.dump();
    }
  }
}

TEST(ValidateChannelTest, UnknownFieldListsTheAllowedOnes) {
  auto r = ValidateChannel("slack", {{"url", "https://hooks.slack.com/x"}, {"channel", "#ops"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "config.channel: unknown field (allowed: url, template)");
}

TEST(ValidateChannelTest, AcceptsTheUrlsPeopleUse) {
  for (const char* url :
       {"https://hooks.slack.com/services/T0/B0/XYZ", "http://10.0.0.5:8080/hook?x=1&y=2#f",
        "https://user:pw@example.com/path", "http://[::1]:9000/", "https://EXAMPLE.com",
        "HTTPS://example.com/", "https://bücher.example/"}) {
    EXPECT_TRUE(ValidateChannel("webhook", {{"url", url}}).ok()) << url;
  }
}

TEST(ValidateChannelTest, WebhookDefaultsAndGeneratedSecret) {
  auto a = ValidateChannel("webhook", {{"url", "https://x.example/hook"}, {"method", "put"}});
  auto b = ValidateChannel("webhook", {{"url", "https://x.example/hook"}});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*a)["method"], "PUT");
  EXPECT_EQ((*b)["method"], "POST");
  EXPECT_EQ((*b)["headers"], json::object());
  const std::string secret = (*a)["secret"];
  EXPECT_EQ(secret.size(), 64u);
  EXPECT_EQ(secret.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE((*a)["secret"], (*b)["secret"]);
}

TEST(ValidateChannelTest, WebhookKeepsAGivenSecretAndRevalidatesToTheSame) {
  const json config = {{"url", "https://x.example/hook"},
                       {"secret", kSecret},
                       {"headers", {{"Authorization", "Bearer t"}}},
                       {"body", "{\"w\": \"{{watch.name}}\"}"}};
  auto first = ValidateChannel("webhook", config);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["secret"], kSecret);
  auto second = ValidateChannel("webhook", *first);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *first);
}

TEST(ValidateChannelTest, FillsDefaults) {
  auto ntfy = ValidateChannel("ntfy", {{"topic", "ops-alerts"}});
  ASSERT_TRUE(ntfy.ok());
  EXPECT_EQ(*ntfy, json({{"url", "https://ntfy.sh"}, {"topic", "ops-alerts"}, {"priority", 4}}));

  auto tg = ValidateChannel("telegram", {{"bot_token", "123:AbC_d-e"}, {"chat_id", "@ops"}});
  ASSERT_TRUE(tg.ok());
  EXPECT_EQ((*tg)["api_url"], "https://api.telegram.org");

  auto po = ValidateChannel("pushover", {{"user_key", "u1"}, {"app_token", "a1"}});
  ASSERT_TRUE(po.ok());
  EXPECT_EQ((*po)["priority"], 0);
  EXPECT_EQ((*po)["api_url"], "https://api.pushover.net");

  auto sms = ValidateChannel("sms", {{"account_sid", "AC1"},
                                     {"auth_token", "t"},
                                     {"from", "+15550001111"},
                                     {"to", "+15550002222"}});
  ASSERT_TRUE(sms.ok());
  EXPECT_EQ((*sms)["base_url"], "https://api.twilio.com");

  auto cmd = ValidateChannel("command", {{"command", "logger overdue"}, {"token", nullptr}});
  EXPECT_FALSE(cmd.ok());  // token is not a command field, even when null
  cmd = ValidateChannel("command", {{"command", "logger overdue"}});
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ((*cmd)["timeout_seconds"], 10);
}

TEST(ValidateChannelTest, EmailNormalisesRecipientsAndTls) {
  auto a = ValidateChannel("email", {{"to", "a@example.com, b@example.com"},
                                     {"from", "o@example.com"},
                                     {"smtp_url", "smtp://mail.example.com:587"}});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)["to"], json::array({"a@example.com", "b@example.com"}));
  EXPECT_EQ((*a)["starttls"], true);
  auto b = ValidateChannel("email", {{"to", json::array({"a@example.com"})},
                                     {"from", "o@example.com"},
                                     {"smtp_url", "smtps://mail.example.com"},
                                     {"starttls", true}});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)["starttls"], false);  // smtps is TLS from the first byte
  auto c = ValidateChannel("email", {{"to", "a@example.com"},
                                     {"from", "o@example.com"},
                                     {"smtp_url", "smtp://relay.local:25"},
                                     {"starttls", false},
                                     {"username", nullptr}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)["starttls"], false);
  EXPECT_FALSE(c->contains("username"));
}

TEST(ValidateChannelTest, KeepsValidTemplates) {
  auto r = ValidateChannel("slack", {{"url", "https://hooks.slack.com/x"},
                                     {"template", {{"subject", "{{watch.name}} is down"}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["template"], json({{"subject", "{{watch.name}} is down"}}));
}

// ---- webhook -----------------------------------------------------------------------------

TEST(BuildDeliveryTest, WebhookSendsTheSignedContext) {
  const HttpDelivery d = BuildHttp("webhook", {{"url", "https://x.example/hook"},
                                               {"secret", kSecret},
                                               {"headers", {{"Authorization", "Bearer t0k"}}}});
  EXPECT_EQ(d.method, "POST");
  EXPECT_EQ(d.url, "https://x.example/hook");
  EXPECT_EQ(Header(d, "Content-Type"), "application/json");
  EXPECT_EQ(Header(d, "User-Agent"), "overdue-notifier");
  EXPECT_EQ(Header(d, "Idempotency-Key"), "overdue-12-7");
  EXPECT_EQ(Header(d, "X-Overdue-Event"), "down");
  EXPECT_EQ(Header(d, "Authorization"), "Bearer t0k");
  const json body = json::parse(d.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded());
  EXPECT_EQ(body, SampleContext("down"));
  const std::string t = std::to_string(kNowUnix);
  EXPECT_EQ(Header(d, "X-Overdue-Signature"),
            "t=" + t + ",v1=" + HmacHex(kSecret.get<std::string>(), t + "." + d.body));
}

// The notifier passes a default webhook's stored context as text, unparsed: the delivery is
// the same, byte for byte, as from the parsed context.
TEST(BuildDeliveryTest, WebhookFromTheContextTextIsTheSameDelivery) {
  const json config{{"url", "https://x.example/hook"}, {"secret", kSecret}};
  auto valid = ValidateChannel("webhook", config);
  ASSERT_TRUE(valid.ok());
  const model::Channel channel = Channel("webhook", *valid);
  EXPECT_TRUE(SendsContextAsText(channel, *valid));
  const std::string text = SampleContext("down").dump();
  MessageInput as_text = Input();
  as_text.context = json();
  as_text.context_text = text;
  auto from_text = BuildDelivery(channel, *valid, as_text);
  auto parsed = BuildDelivery(channel, *valid, Input());
  ASSERT_TRUE(from_text.ok() && parsed.ok());
  const auto& a = std::get<HttpDelivery>(*from_text);
  const auto& b = std::get<HttpDelivery>(*parsed);
  EXPECT_EQ(a.body, text);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.headers, b.headers);  // the signature included

  // Channels that shape the message need the parsed context.
  for (const json& other : {json{{"url", "https://x.example/hook"}, {"method", "GET"}},
                            json{{"url", "https://x.example/hook"}, {"body", "{{event}}"}}}) {
    auto v = ValidateChannel("webhook", other);
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(SendsContextAsText(Channel("webhook", *v), *v)) << other.dump();
  }
  auto slack = ValidateChannel("slack", json{{"url", "https://hooks.slack.com/services/x"}});
  ASSERT_TRUE(slack.ok());
  EXPECT_FALSE(SendsContextAsText(Channel("slack", *slack), *slack));
}

TEST(BuildDeliveryTest, WebhookAddsTheEventWhenTheContextLacksIt) {
  json context = SampleContext();
  context.erase("event");
  const HttpDelivery d =
      BuildHttp("webhook", {{"url", "https://x.example/hook"}}, Input("recovery", context));
  EXPECT_EQ(json::parse(d.body)["event"], "recovery");
  EXPECT_EQ(Header(d, "X-Overdue-Event"), "recovery");
}

TEST(BuildDeliveryTest, WebhookBodyTemplateEscapesJson) {
  json context = SampleContext();
  context["watch"]["name"] = "db \"primary\"\nnightly";
  const HttpDelivery d = BuildHttp(
      "webhook",
      {{"url", "https://x.example/hook"},
       {"method", "PUT"},
       {"secret", kSecret},
       {"headers", {{"content-type", "application/vnd.custom+json"}}},
       {"body",
        R"({"summary": "{{message.headline}}", "id": {{incident.id}}, "w": "{{watch.name}}"})"}},
      Input("down", context));
  EXPECT_EQ(d.method, "PUT");
  const json body = json::parse(d.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << d.body;
  EXPECT_EQ(body["w"], "db \"primary\"\nnightly");
  EXPECT_EQ(body["id"], 12);
  EXPECT_EQ(body["summary"], "DOWN: db \"primary\"\nnightly (missed its deadline)");
  // The configured header replaces ours; the signature still covers the body sent.
  EXPECT_EQ(Header(d, "content-type"), "application/vnd.custom+json");
  EXPECT_EQ(Header(d, "Content-Type"), "<absent>");
  const std::string t = std::to_string(kNowUnix);
  EXPECT_EQ(Header(d, "X-Overdue-Signature"),
            "t=" + t + ",v1=" + HmacHex(kSecret.get<std::string>(), t + "." + d.body));
}

TEST(BuildDeliveryTest, WebhookGetHasNoBody) {
  const HttpDelivery d =
      BuildHttp("webhook", {{"url", "https://x.example/hook?x=1"}, {"method", "GET"}});
  EXPECT_EQ(d.method, "GET");
  EXPECT_EQ(d.body, "");
  EXPECT_EQ(Header(d, "Content-Type"), "<absent>");
  EXPECT_THAT(Header(d, "X-Overdue-Signature"), StartsWith("t=1795600801,v1="));
}

TEST(BuildDeliveryTest, HeaderValuesNeverCarryLineBreaks) {
  MessageInput in = Input();
  in.idempotency_key = "k\r\nX-Evil: 1";
  in.event = "down\nX: y";
  const HttpDelivery d = BuildHttp("webhook", {{"url", "https://x.example/hook"}}, in);
  for (const auto& [name, value] : d.headers) {
    EXPECT_EQ(value.find_first_of("\r\n"), std::string::npos) << name;
  }
}

// ---- chat services -----------------------------------------------------------------------

TEST(BuildDeliveryTest, SlackPostsTextWithEscapedValues) {
  json context = SampleContext();
  context["watch"]["name"] = "<!channel> a&b";
  const HttpDelivery d = BuildHttp("slack", {{"url", "https://hooks.slack.com/services/T/B/X"}},
                                   Input("down", context));
  EXPECT_EQ(d.method, "POST");
  EXPECT_EQ(d.url, "https://hooks.slack.com/services/T/B/X");
  EXPECT_EQ(Header(d, "Content-Type"), "application/json");
  const json body = json::parse(d.body);
  const std::string text = body["text"];
  EXPECT_THAT(text,
              StartsWith("*[overdue] DOWN: &lt;!channel&gt; a&amp;b (missed its deadline)*\n"));
  EXPECT_THAT(text, HasSubstr("Acknowledge: http://host:8000/ack/tok123"));
  EXPECT_THAT(text, Not(HasSubstr("<!channel>")));
}

TEST(BuildDeliveryTest, MattermostPostsTextAndUsername) {
  const HttpDelivery d = BuildHttp("mattermost", {{"url", "https://mm.example/hooks/abc"}});
  const json body = json::parse(d.body);
  EXPECT_EQ(body["username"], "overdue");
  EXPECT_THAT(body["text"].get<std::string>(),
              StartsWith("**[overdue] DOWN: nightly-backup (missed its deadline)**\n"
                         "nightly-backup is DOWN"));
}

TEST(BuildDeliveryTest, DiscordContentIsCutToTheLimitAndMentionsAreOff) {
  json context = SampleContext();
  context["watch"]["name"] = "@everyone";
  const HttpDelivery d =
      BuildHttp("discord",
                {{"url", "https://discord.com/api/webhooks/1/x"},
                 {"template", {{"body", "{{#watch}}" + std::string(3000, 'x') + "é{{/watch}}"}}}},
                Input("down", context));
  const json body = json::parse(d.body);
  const std::string content = body["content"];
  EXPECT_EQ(CodePoints(content), 2000u);
  EXPECT_THAT(content, StartsWith("**[overdue] DOWN: @everyone"));
  EXPECT_TRUE(std::string_view(content).ends_with("x…"));
  EXPECT_EQ(body["username"], "overdue");
  EXPECT_EQ(body["allowed_mentions"], json({{"parse", json::array()}}));
}

TEST(BuildDeliveryTest, DiscordShortContentIsUncut) {
  const HttpDelivery d = BuildHttp("discord", {{"url", "https://discord.com/api/webhooks/1/x"},
                                               {"template", {{"body", "short"}}}});
  EXPECT_EQ(json::parse(d.body)["content"],
            "**[overdue] DOWN: nightly-backup (missed its deadline)**\nshort");
}

TEST(BuildDeliveryTest, TeamsSendsAMessageCard) {
  const json config = {{"url", "https://x.webhook.office.com/webhookb2/abc"}};
  const json down = json::parse(BuildHttp("teams", config).body);
  EXPECT_EQ(down["@type"], "MessageCard");
  EXPECT_EQ(down["@context"], "https://schema.org/extensions");
  EXPECT_EQ(down["summary"], "[overdue] DOWN: nightly-backup (missed its deadline)");
  EXPECT_EQ(down["title"], "[overdue] DOWN: nightly-backup (missed its deadline)");
  EXPECT_EQ(down["themeColor"], "D70000");
  EXPECT_THAT(down["text"].get<std::string>(), HasSubstr("nightly-backup is DOWN"));
  EXPECT_EQ(down["potentialAction"], json::parse(R"([{"@type": "OpenUri", "name": "Acknowledge",
                             "targets": [{"os": "default", "uri": "http://host:8000/ack/tok123"}]}])"));

  const json recovery = json::parse(BuildHttp("teams", config, Input("recovery")).body);
  EXPECT_EQ(recovery["themeColor"], "2EB886");
  EXPECT_FALSE(recovery.contains("potentialAction"));

  json late_context = SampleContext("late");
  late_context.erase("incident");
  const json late = json::parse(BuildHttp("teams", config, Input("late", late_context)).body);
  EXPECT_EQ(late["themeColor"], "FFA500");
  EXPECT_FALSE(late.contains("potentialAction"));
}

// ---- push services -----------------------------------------------------------------------

TEST(BuildDeliveryTest, NtfyPublishesToTheTopicWithHeaders) {
  const HttpDelivery d =
      BuildHttp("ntfy", {{"url", "https://ntfy.example/"}, {"topic", "ops"}, {"token", "tk_abc"}});
  EXPECT_EQ(d.method, "POST");
  EXPECT_EQ(d.url, "https://ntfy.example/ops");
  EXPECT_THAT(d.body, StartsWith("nightly-backup is DOWN: it missed its deadline.\n"));
  EXPECT_EQ(Header(d, "Title"), "[overdue] DOWN: nightly-backup (missed its deadline)");
  EXPECT_EQ(Header(d, "Priority"), "4");
  EXPECT_EQ(Header(d, "Tags"), "rotating_light");
  EXPECT_EQ(Header(d, "Click"), "http://host:8000/api/v1/incidents/12");
  EXPECT_EQ(Header(d, "Actions"), "view, Acknowledge, http://host:8000/ack/tok123, clear=true");
  EXPECT_EQ(Header(d, "Authorization"), "Bearer tk_abc");
}

TEST(BuildDeliveryTest, NtfyRecoveryIsCalmerAndHasNoAction) {
  const HttpDelivery d = BuildHttp("ntfy", {{"topic", "ops"}, {"priority", 5}}, Input("recovery"));
  EXPECT_EQ(d.url, "https://ntfy.sh/ops");
  EXPECT_EQ(Header(d, "Priority"), "3");
  EXPECT_EQ(Header(d, "Tags"), "white_check_mark");
  EXPECT_EQ(Header(d, "Actions"), "<absent>");
  EXPECT_EQ(Header(d, "Authorization"), "<absent>");
  const HttpDelivery low = BuildHttp("ntfy", {{"topic", "ops"}, {"priority", 1}}, Input("late"));
  EXPECT_EQ(Header(low, "Priority"), "1");
  EXPECT_EQ(Header(low, "Tags"), "warning");
  // Resolved by a person while the watch is still down: no check mark.
  json still_down = SampleContext("recovery");
  still_down["watch"]["status"] = "down";
  const HttpDelivery by_hand =
      BuildHttp("ntfy", {{"topic", "ops"}}, Input("recovery", std::move(still_down)));
  EXPECT_EQ(Header(by_hand, "Tags"), "warning");
}

TEST(BuildDeliveryTest, NtfyEncodesANonAsciiTitle) {
  json context = SampleContext();
  context["watch"]["name"] = "Sauvegarde nocturne — base de données";
  const HttpDelivery d = BuildHttp("ntfy", {{"topic", "ops"}}, Input("down", context));
  const std::string title = Header(d, "Title");
  EXPECT_THAT(title, StartsWith("=?UTF-8?B?"));
  for (char c : title) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << title;
  }
}

TEST(BuildDeliveryTest, TelegramSendsMessage) {
  const HttpDelivery d =
      BuildHttp("telegram", {{"bot_token", "123456:AbC-dEf_g"}, {"chat_id", -1001}});
  EXPECT_EQ(d.url, "https://api.telegram.org/bot123456:AbC-dEf_g/sendMessage");
  EXPECT_EQ(Header(d, "Content-Type"), "application/json");
  const json body = json::parse(d.body);
  EXPECT_EQ(body["chat_id"], -1001);
  EXPECT_EQ(body["disable_web_page_preview"], true);
  EXPECT_THAT(body["text"].get<std::string>(),
              StartsWith("[overdue] DOWN: nightly-backup (missed its deadline)\n\nnightly-backup"));

  const HttpDelivery named = BuildHttp(
      "telegram", {{"bot_token", "1:a"}, {"chat_id", "@ops"}, {"api_url", "http://tg.local/"}});
  EXPECT_EQ(named.url, "http://tg.local/bot1:a/sendMessage");
  EXPECT_EQ(json::parse(named.body)["chat_id"], "@ops");
}

TEST(BuildDeliveryTest, PushoverPostsAForm) {
  const HttpDelivery d = BuildHttp("pushover", {{"user_key", "uKey1"}, {"app_token", "aTok1"}});
  EXPECT_EQ(d.url, "https://api.pushover.net/1/messages.json");
  EXPECT_EQ(Header(d, "Content-Type"), "application/x-www-form-urlencoded");
  auto form = ParseForm(d.body);
  EXPECT_EQ(form["token"], "aTok1");
  EXPECT_EQ(form["user"], "uKey1");
  EXPECT_EQ(form["title"], "[overdue] DOWN: nightly-backup (missed its deadline)");
  EXPECT_THAT(form["message"], StartsWith("nightly-backup is DOWN"));
  EXPECT_EQ(form["priority"], "0");
  EXPECT_EQ(form["url"], "http://host:8000/ack/tok123");
  EXPECT_EQ(form["url_title"], "Acknowledge");
  EXPECT_EQ(form.count("retry"), 0u);
}

TEST(BuildDeliveryTest, PushoverEmergencyNeedsRetryAndExpire) {
  const json config = {{"user_key", "u1"}, {"app_token", "a1"}, {"priority", 2}};
  auto down = ParseForm(BuildHttp("pushover", config).body);
  EXPECT_EQ(down["priority"], "2");
  EXPECT_EQ(down["retry"], "60");
  EXPECT_EQ(down["expire"], "3600");
  auto recovery = ParseForm(BuildHttp("pushover", config, Input("recovery")).body);
  EXPECT_EQ(recovery["priority"], "0");
  EXPECT_EQ(recovery.count("retry"), 0u);
  EXPECT_EQ(recovery["url"], "http://host:8000/api/v1/incidents/12");
}

// ---- phone -------------------------------------------------------------------------------

const json kTwilio = {{"account_sid", "AC0123abcd"},
                      {"auth_token", "secret-token"},
                      {"from", "+15550001111"},
                      {"to", "+15550002222"}};

TEST(BuildDeliveryTest, SmsUsesTwilioWithBasicAuthAndAShortText) {
  const HttpDelivery d = BuildHttp("sms", kTwilio);
  EXPECT_EQ(d.method, "POST");
  EXPECT_EQ(d.url, "https://api.twilio.com/2010-04-01/Accounts/AC0123abcd/Messages.json");
  EXPECT_EQ(d.username, "AC0123abcd");
  EXPECT_EQ(d.password, "secret-token");
  EXPECT_EQ(Header(d, "Content-Type"), "application/x-www-form-urlencoded");
  auto form = ParseForm(d.body);
  EXPECT_EQ(form["To"], "+15550002222");
  EXPECT_EQ(form["From"], "+15550001111");
  EXPECT_EQ(form["Body"],
            "[overdue] DOWN: nightly-backup (missed its deadline)\n"
            "Acknowledge: http://host:8000/ack/tok123");
}

TEST(BuildDeliveryTest, SmsUsesACustomBody) {
  json config = kTwilio;
  config["base_url"] = "http://twilio.mock:8080";
  config["template"] = {{"body", "{{watch.name}} down, ack {{incident.ack_url}}"}};
  const HttpDelivery d = BuildHttp("sms", config);
  EXPECT_EQ(d.url, "http://twilio.mock:8080/2010-04-01/Accounts/AC0123abcd/Messages.json");
  EXPECT_EQ(ParseForm(d.body)["Body"], "nightly-backup down, ack http://host:8000/ack/tok123");
}

TEST(BuildDeliveryTest, VoiceSaysTheHeadlineTwiceAsEscapedTwiml) {
  json context = SampleContext();
  context["watch"]["name"] = "db <primary> & co";
  const HttpDelivery d = BuildHttp("voice", kTwilio, Input("down", context));
  EXPECT_EQ(d.url, "https://api.twilio.com/2010-04-01/Accounts/AC0123abcd/Calls.json");
  auto form = ParseForm(d.body);
  EXPECT_EQ(form["To"], "+15550002222");
  EXPECT_EQ(form["From"], "+15550001111");
  const std::string say =
      "This is an alert from overdue. DOWN: db &lt;primary&gt; &amp; co (missed its deadline).";
  EXPECT_EQ(form["Twiml"], "<Response><Say>" + say + "</Say><Pause length=\"1\"/><Say>" + say +
                               "</Say></Response>");
}

// ---- email -------------------------------------------------------------------------------

const json kEmail = {{"to", json::array({"ops@example.com", "oncall@example.com"})},
                     {"from", "overdue@example.com"},
                     {"smtp_url", "smtp://mail.example.com:587"},
                     {"username", "overdue"},
                     {"password", "pw"}};

MailDelivery BuildMail(const json& config, const MessageInput& input = Input()) {
  Delivery d = Build("email", config, input);
  EXPECT_TRUE(std::holds_alternative<MailDelivery>(d));
  return std::holds_alternative<MailDelivery>(d) ? std::get<MailDelivery>(d) : MailDelivery{};
}

std::vector<std::string> SplitCrlf(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find("\r\n", start);
    if (end == std::string::npos) end = s.size();
    lines.push_back(s.substr(start, end - start));
    start = end + 2;
  }
  return lines;
}

TEST(BuildDeliveryTest, EmailIsACompleteRfc5322Message) {
  const MailDelivery m = BuildMail(kEmail);
  EXPECT_EQ(m.smtp_url, "smtp://mail.example.com:587");
  EXPECT_TRUE(m.starttls);
  EXPECT_EQ(m.username, "overdue");
  EXPECT_EQ(m.password, "pw");
  EXPECT_EQ(m.from, "overdue@example.com");
  EXPECT_THAT(m.to, ElementsAre("ops@example.com", "oncall@example.com"));

  // Every line ends with CRLF; no bare CR or LF anywhere.
  ASSERT_TRUE(std::string_view(m.message).ends_with("\r\n"));
  for (size_t i = 0; i < m.message.size(); ++i) {
    if (m.message[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(m.message[i - 1], '\r') << i;
    }
    if (m.message[i] == '\r') {
      ASSERT_LT(i + 1, m.message.size());
      EXPECT_EQ(m.message[i + 1], '\n') << i;
    }
  }
  const size_t split = m.message.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos);
  EXPECT_THAT(
      SplitCrlf(m.message.substr(0, split)),
      ElementsAre("From: overdue@example.com", "To: ops@example.com, oncall@example.com",
                  "Subject: [overdue] DOWN: nightly-backup (missed its deadline)",
                  "Date: Wed, 25 Nov 2026 10:00:01 +0000", "Message-ID: <overdue-12-7@overdue>",
                  "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                  "Content-Transfer-Encoding: 8bit", "Auto-Submitted: auto-generated",
                  "X-Overdue-Event: down"));
  const std::string body = m.message.substr(split + 4);
  EXPECT_THAT(body, StartsWith("nightly-backup is DOWN: it missed its deadline.\r\n"
                               "Down since: 2026-11-25 10:00:00 UTC (incident #12)\r\n"));
  EXPECT_THAT(body, HasSubstr("\r\nAcknowledge: http://host:8000/ack/tok123\r\n"));
}

TEST(BuildDeliveryTest, EmailEncodesANonAsciiSubject) {
  json context = SampleContext();
  context["watch"]["name"] = "Sauvegarde nocturne de la base de données — serveur principal ✓";
  const MailDelivery m = BuildMail(kEmail, Input("down", context));
  const size_t start = m.message.find("Subject: ");
  ASSERT_NE(start, std::string::npos);
  const size_t end = m.message.find("\r\nDate: ");
  const std::string header = m.message.substr(start, end - start);
  EXPECT_THAT(header, StartsWith("Subject: =?UTF-8?B?"));
  EXPECT_THAT(header, HasSubstr("?=\r\n =?UTF-8?B?"));  // folded into several words
  // Decoding the words gives the subject back.
  std::string decoded;
  size_t pos = 0;
  while ((pos = header.find("=?UTF-8?B?", pos)) != std::string::npos) {
    pos += 10;
    const size_t close = header.find("?=", pos);
    const std::string b64 = header.substr(pos, close - pos);
    EXPECT_LE(b64.size() + 12, 75u);
    std::string bin(b64.size(), '\0');
    size_t len = 0;
    ASSERT_EQ(
        sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), b64.data(),
                          b64.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL),
        0);
    decoded += bin.substr(0, len);
    pos = close + 2;
  }
  EXPECT_EQ(decoded, "[overdue] DOWN: " + context["watch"]["name"].get<std::string>() +
                         " (missed its deadline)");
  for (char c : header) EXPECT_TRUE(static_cast<unsigned char>(c) < 0x80);
}

TEST(BuildDeliveryTest, EmailBodyIsCrlfAndNotDotStuffed) {
  json config = kEmail;
  config["template"] = {{"subject", "{{watch.name}}"},
                        {"body", "line one\n.\r\n..two\rthree\n" + std::string(1200, 'z')}};
  const MailDelivery m = BuildMail(config);
  const std::string body = m.message.substr(m.message.find("\r\n\r\n") + 4);
  EXPECT_THAT(body, StartsWith("line one\r\n.\r\n..two\r\nthree\r\n"));
  for (const std::string& line : SplitCrlf(body)) EXPECT_LE(line.size(), 998u);
  EXPECT_THAT(m.message, HasSubstr("\r\nSubject: nightly-backup\r\n"));
}

TEST(BuildDeliveryTest, EmailHeadersResistInjection) {
  json context = SampleContext();
  context["watch"]["name"] = "x\r\nBcc: victim@example.com";
  MessageInput in = Input("down", context);
  in.idempotency_key = "a>b\r\nX: y";
  const MailDelivery m = BuildMail(kEmail, in);
  const std::string headers = m.message.substr(0, m.message.find("\r\n\r\n"));
  EXPECT_THAT(headers, Not(HasSubstr("\r\nBcc:")));
  EXPECT_THAT(headers, HasSubstr("\r\nMessage-ID: <a-b--X--y@overdue>\r\n"));
}

// ---- command -----------------------------------------------------------------------------

TEST(BuildDeliveryTest, CommandGetsContextOnStdinAndEnvironment) {
  const Delivery d =
      Build("command", {{"command", "/usr/local/bin/page-me --loud"}, {"timeout_seconds", 30}});
  ASSERT_TRUE(std::holds_alternative<CommandDelivery>(d));
  const CommandDelivery& c = std::get<CommandDelivery>(d);
  EXPECT_EQ(c.command, "/usr/local/bin/page-me --loud");
  EXPECT_EQ(json::parse(c.stdin_data), SampleContext("down"));
  EXPECT_EQ(c.timeout, std::chrono::seconds(30));
  std::map<std::string, std::string> env(c.env.begin(), c.env.end());
  EXPECT_EQ(env["OVERDUE_EVENT"], "down");
  EXPECT_EQ(env["OVERDUE_INCIDENT_ID"], "12");
  EXPECT_EQ(env["OVERDUE_WATCH_ID"], "6f1c2b8e-0d1a-4e57-9a3b-2f4c5d6e7f80");
  EXPECT_EQ(env["OVERDUE_WATCH_NAME"], "nightly-backup");
  EXPECT_EQ(env["OVERDUE_SUBJECT"], "[overdue] DOWN: nightly-backup (missed its deadline)");
  EXPECT_THAT(env["OVERDUE_MESSAGE"], StartsWith("nightly-backup is DOWN"));
}

TEST(BuildDeliveryTest, CommandForALateWarningHasNoIncident) {
  json context = SampleContext("late");
  context.erase("incident");
  const Delivery d = Build("command", {{"command", "true"}}, Input("late", context));
  ASSERT_TRUE(std::holds_alternative<CommandDelivery>(d));
  const CommandDelivery& c = std::get<CommandDelivery>(d);
  EXPECT_EQ(c.timeout, std::chrono::seconds(10));
  std::map<std::string, std::string> env(c.env.begin(), c.env.end());
  EXPECT_EQ(env["OVERDUE_EVENT"], "late");
  EXPECT_EQ(env["OVERDUE_INCIDENT_ID"], "");
}

// ---- templates and errors ----------------------------------------------------------------

TEST(BuildDeliveryTest, CustomTemplateAppliesToEveryKind) {
  const json tmpl = {{"subject", "S {{watch.name}}"}, {"body", "B {{incident.id}}"}};
  const HttpDelivery tg =
      BuildHttp("telegram", {{"bot_token", "1:a"}, {"chat_id", 5}, {"template", tmpl}});
  EXPECT_EQ(json::parse(tg.body)["text"], "S nightly-backup\n\nB 12");
  const HttpDelivery ntfy = BuildHttp("ntfy", {{"topic", "ops"}, {"template", tmpl}});
  EXPECT_EQ(Header(ntfy, "Title"), "S nightly-backup");
  EXPECT_EQ(ntfy.body, "B 12");
  json mail_config = kEmail;
  mail_config["template"] = tmpl;
  const MailDelivery mail = BuildMail(mail_config);
  EXPECT_THAT(mail.message, HasSubstr("\r\nSubject: S nightly-backup\r\n"));
  EXPECT_TRUE(std::string_view(mail.message).ends_with("\r\n\r\nB 12\r\n"));
}

TEST(BuildDeliveryTest, UnknownKindAndBrokenStoredConfigAreErrors) {
  auto unknown = BuildDelivery(Channel("pager", json::object()), Input());
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.error().message, StartsWith("kind: unknown channel kind 'pager'"));

  model::Channel broken = Channel("slack", json::object());
  broken.config = "{not json";
  auto r = BuildDelivery(broken, Input());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "stored channel config: config: must be a JSON object");

  auto bad_template = BuildDelivery(
      Channel("slack", {{"url", "https://h.example"}, {"template", {{"body", "{{#a}}"}}}}),
      Input());
  ASSERT_FALSE(bad_template.ok());
  EXPECT_THAT(bad_template.error().message, HasSubstr("config.template.body"));
}

TEST(BuildDeliveryTest, StoredWebhookWithoutSecretIsSentUnsigned) {
  auto d = BuildDelivery(Channel("webhook", {{"url", "https://x.example"}}), Input());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(Header(std::get<HttpDelivery>(*d), "X-Overdue-Signature"), "<absent>");
}

TEST(BuildDeliveryTest, EmptyContextStillBuilds) {
  MessageInput in = Input("down", json::object());
  for (const std::string& kind : ChannelKinds()) {
    json config;
    if (kind == "email") {
      config = kEmail;
    } else if (kind == "ntfy") {
      config = {{"topic", "t"}};
    } else if (kind == "telegram") {
      config = {{"bot_token", "1:a"}, {"chat_id", 1}};
    } else if (kind == "pushover") {
      config = {{"user_key", "u"}, {"app_token", "a"}};
    } else if (kind == "sms" || kind == "voice") {
      config = kTwilio;
    } else if (kind == "command") {
      config = {{"command", "true"}};
    } else {
      config = {{"url", "https://x.example"}};
    }
    auto valid = ValidateChannel(kind, config);
    ASSERT_TRUE(valid.ok()) << kind;
    EXPECT_TRUE(BuildDelivery(Channel(kind, *valid), in).ok()) << kind;
  }
}

}  // namespace
}  // namespace overdue::notify
