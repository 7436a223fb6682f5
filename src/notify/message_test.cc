#include "notify/message.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace overdue::notify {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// The context of message.h's reference, as the incident desk builds it.
json SampleContext(std::string_view event = "down") {
  json c = json::parse(R"({
    "incident": {"id": 12, "cause": "timeout",
                 "cause_detail": "no check-in since 2026-11-25 09:58:00 UTC", "state": "open",
                 "opened_at": "2026-11-25T10:00:00.250000+00:00",
                 "url": "http://host:8000/api/v1/incidents/12",
                 "ack_url": "http://host:8000/ack/tok123", "step": 1, "round": 1,
                 "acked_by": "", "resolved_by": "", "resolve_reason": ""},
    "watch": {"id": "6f1c2b8e-0d1a-4e57-9a3b-2f4c5d6e7f80", "name": "nightly-backup",
              "slug": "nightly-backup", "kind": "job", "tags": "prod db", "desc": "",
              "status": "down", "last_ping": "2026-11-25T09:00:00Z",
              "ping_url": "http://host:8000/ping/6f1c2b8e-0d1a-4e57-9a3b-2f4c5d6e7f80"},
    "last_check_in": {"at": "2026-11-25T09:00:00.731002+00:00", "signal": "fail", "exit_status": 3,
                      "remote_addr": "10.0.0.5", "body": "rsync: error 23\nretrying\n"},
    "server": {"url": "http://host:8000"},
    "now": "2026-11-25T10:00:01Z"})");
  c["event"] = std::string(event);
  // A recovery after a check-in (the usual one): the watch is up again.
  if (event == "recovery") c["watch"]["status"] = "up";
  return c;
}

// ---- CheckTemplate -----------------------------------------------------------------------

TEST(CheckTemplateTest, AcceptsVariablesSectionsAndComments) {
  EXPECT_TRUE(CheckTemplate("").ok());
  EXPECT_TRUE(CheckTemplate("{{watch.name}} {{#incident}}#{{id}}{{/incident}} {{! note }}").ok());
  EXPECT_TRUE(CheckTemplate("{{^last_check_in}}none{{/last_check_in}} {{{raw}}} {{&raw}}").ok());
  EXPECT_TRUE(CheckTemplate("{{=<% %>=}}<% watch.name %>").ok());
}

TEST(CheckTemplateTest, UnclosedSectionNamesTheSectionAndWhere) {
  auto st = CheckTemplate("Hello\n  {{#watch}}{{name}}");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "unclosed section \"watch\" at line 2, column 3");
}

TEST(CheckTemplateTest, UnclosedTagAndUnopenedSection) {
  auto tag = CheckTemplate("{{watch.name");
  ASSERT_FALSE(tag.ok());
  EXPECT_EQ(tag.error().message, "unclosed tag at line 1, column 1");
  auto section = CheckTemplate("x{{/watch}}");
  ASSERT_FALSE(section.ok());
  EXPECT_EQ(section.error().message, "unopened section \"watch\" at line 1, column 2");
}

TEST(CheckTemplateTest, MismatchedSectionIsRefused) {
  auto st = CheckTemplate("{{#a}}{{#b}}{{/a}}{{/b}}");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("section"));
}

TEST(CheckTemplateTest, InvalidSetDelimiterIsRefused) {
  auto st = CheckTemplate("{{=<%%>=}}");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, StartsWith("invalid set delimiter tag"));
}

TEST(CheckTemplateTest, PartialsAreRefused) {
  auto st = CheckTemplate("a {{> event}}");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("partials"));
  EXPECT_THAT(st.error().message, HasSubstr("line 1, column 3"));
}

TEST(CheckTemplateTest, DeepNestingIsRefusedEvenBehindOtherDelimiters) {
  std::string ok;
  std::string deep;
  for (int i = 0; i < kMaxSectionDepth; ++i) ok = "{{#a}}" + ok + "{{/a}}";
  EXPECT_TRUE(CheckTemplate(ok).ok());
  for (int i = 0; i < kMaxSectionDepth + 1; ++i) deep = "<%#a%>" + deep + "<%/a%>";
  auto st = CheckTemplate("{{=<% %>=}}" + deep);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("nested deeper than 16"));
}

TEST(CheckTemplateTest, TooLongIsRefused) {
  auto st = CheckTemplate(std::string(kMaxTemplateBytes + 1, 'x'));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "must be at most 16384 bytes");
}

// ---- Render ------------------------------------------------------------------------------

TEST(RenderTest, InsertsNestedVariables) {
  auto out = Render("{{watch.name}} #{{incident.id}} step {{incident.step}}", SampleContext());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "nightly-backup #12 step 1");
}

TEST(RenderTest, MissingVariablesRenderEmpty) {
  auto out =
      Render("[{{nope}}][{{incident.nope}}][{{a.b.c}}][{{#nope}}x{{/nope}}]", SampleContext());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "[][][][]");
}

TEST(RenderTest, NullAndEmptyStringAreFalse) {
  json c = SampleContext("late");
  c["last_check_in"] = nullptr;
  c["watch"]["last_ping"] = "";
  auto out = Render(
      "{{#last_check_in}}A{{/last_check_in}}{{^last_check_in}}none{{/last_check_in}} "
      "{{#watch.last_ping}}B{{/watch.last_ping}}{{^watch.last_ping}}never{{/watch.last_ping}}",
      c);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "none never");
}

TEST(RenderTest, NumbersBooleansAndLists) {
  json c{{"n", 0}, {"f", 1.5}, {"yes", true}, {"no", false}, {"items", {"a", "b", "c"}}};
  auto out = Render("{{n}} {{f}} {{#yes}}Y{{/yes}}{{#no}}N{{/no}} {{#items}}<{{.}}>{{/items}}", c);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "0 1.5 Y <a><b><c>");
}

TEST(RenderTest, TextModeDoesNotHtmlEscape) {
  json c{{"name", "a&b <x> \"q\" 'y'"}};
  auto out = Render("{{name}}", c);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "a&b <x> \"q\" 'y'");
}

TEST(RenderTest, JsonModeEscapesQuotesNewlinesAndBackslashes) {
  json c{{"watch", {{"name", "say \"hi\"\nline2\\end\t\x01"}}}};
  auto out = Render(R"({"name": "{{watch.name}}", "n": {{missing}}0})", c, Escape::kJson);
  ASSERT_TRUE(out.ok());
  json parsed = json::parse(*out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << *out;
  EXPECT_EQ(parsed["name"], "say \"hi\"\nline2\\end\t\x01");
}

TEST(RenderTest, JsonModeReplacesInvalidUtf8) {
  json c{{"v", std::string("ok\xff")}};
  auto out = Render(R"({"v": "{{v}}"})", c, Escape::kJson);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(json::parse(*out, nullptr, false).is_discarded()) << *out;
}

TEST(RenderTest, TripleMustacheIsNeverEscaped) {
  json c{{"v", "a\"b"}};
  auto out = Render("{{{v}}}|{{&v}}|{{v}}", c, Escape::kJson);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "a\"b|a\"b|a\\\"b");
}

TEST(RenderTest, SlackModeEscapesControlCharacters) {
  json c{{"v", "<!channel> & <http://x|y>"}};
  auto out = Render("*{{v}}*", c, Escape::kSlack);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "*&lt;!channel&gt; &amp; &lt;http://x|y&gt;*");
}

TEST(RenderTest, ValuesAreNeverParsedAsTemplates) {
  json c{{"v", "{{#x}}"}, {"event", "{{> event}}"}};
  auto out = Render("{{v}}{{event}}", c);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "{{#x}}{{> event}}");
}

TEST(RenderTest, InvalidTemplateIsAnError) {
  auto out = Render("{{#watch}}", SampleContext());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, base::ErrorCode::kInvalidArgument);
  EXPECT_THAT(out.error().message, HasSubstr("unclosed section \"watch\""));
}

TEST(RenderTest, NonObjectContextRendersEmpty) {
  for (const json& c : {json(), json(3), json::array(), json("text")}) {
    auto out = Render("[{{watch.name}}]", c);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(*out, "[]");
  }
}

// ---- TemplateContext ---------------------------------------------------------------------

TEST(TemplateContextTest, AddsMessageFieldsAndEvent) {
  json c = SampleContext();
  c.erase("event");
  json v = TemplateContext("down", c);
  EXPECT_EQ(v["event"], "down");
  EXPECT_EQ(v["message"]["label"], "DOWN");
  EXPECT_EQ(v["message"]["watch"], "nightly-backup");
  EXPECT_EQ(v["message"]["cause"], "missed its deadline");
  EXPECT_EQ(v["message"]["headline"], "DOWN: nightly-backup (missed its deadline)");
  EXPECT_EQ(v["message"]["excerpt"], "  | rsync: error 23\n  | retrying");
  EXPECT_EQ(v["watch"], c["watch"]);  // the stored context is untouched
}

TEST(TemplateContextTest, EventDefaultsToTheContexts) {
  json v = TemplateContext("", SampleContext("recovery"));
  EXPECT_EQ(v["message"]["label"], "RESOLVED");
  EXPECT_EQ(v["message"]["headline"], "RESOLVED: nightly-backup");
}

TEST(TemplateContextTest, CauseTexts) {
  const std::pair<const char*, const char*> cases[] = {
      {"timeout", "missed its deadline"}, {"fail", "reported a failure"},
      {"exit", "exited with status 3"},   {"sos", "sent an SOS"},
      {"duress", "sent a duress signal"},
  };
  for (const auto& [cause, text] : cases) {
    json c = SampleContext();
    c["incident"]["cause"] = cause;
    EXPECT_EQ(TemplateContext("down", c)["message"]["cause"], text) << cause;
  }
  json c = SampleContext();
  c["incident"]["cause"] = "exit";
  c["last_check_in"]["exit_status"] = nullptr;
  EXPECT_EQ(TemplateContext("down", c)["message"]["cause"], "exited with a non-zero status");
}

TEST(TemplateContextTest, ExcerptKeepsFiveShortLines) {
  json c = SampleContext();
  std::string body;
  for (int i = 1; i <= 8; ++i) body += "line " + std::to_string(i) + "\r\n";
  body += std::string(500, 'x');
  c["last_check_in"]["body"] = body;
  const std::string excerpt = TemplateContext("down", c)["message"]["excerpt"];
  EXPECT_EQ(excerpt, "  | line 1\n  | line 2\n  | line 3\n  | line 4\n  | line 5\n  | …");
  c["last_check_in"]["body"] = std::string(300, 'y') + "\x01";
  const std::string one = TemplateContext("down", c)["message"]["excerpt"];
  EXPECT_EQ(one, "  | " + std::string(200, 'y') + "…");
}

TEST(TemplateContextTest, WatchNameFallsBackToSlugThenId) {
  json c = SampleContext();
  c["watch"]["name"] = "";
  EXPECT_EQ(TemplateContext("down", c)["message"]["watch"], "nightly-backup");
  c["watch"]["slug"] = "";
  EXPECT_EQ(TemplateContext("down", c)["message"]["watch"], "6f1c2b8e-0d1a-4e57-9a3b-2f4c5d6e7f80");
  EXPECT_EQ(TemplateContext("down", json::object())["message"]["watch"], "(unnamed watch)");
}

TEST(TemplateContextTest, TimesForPeople) {
  const json m = TemplateContext("down", SampleContext())["message"];
  EXPECT_EQ(m["opened_at"], "2026-11-25 10:00:00 UTC");
  EXPECT_EQ(m["last_check_in_at"], "2026-11-25 09:00:00 UTC");
  json c = SampleContext();
  c["last_check_in"] = nullptr;
  c["incident"]["opened_at"] = "yesterday";  // not a time: shown as it is
  const json n = TemplateContext("down", c)["message"];
  EXPECT_EQ(n["last_check_in_at"], "");
  EXPECT_EQ(n["opened_at"], "yesterday");
  EXPECT_EQ(TemplateContext("late", json::object())["message"]["opened_at"], "");
}

// ---- default messages --------------------------------------------------------------------

TEST(DefaultMessageTest, DownSaysWhatWhichSinceLastCheckInAndLinks) {
  auto m = RenderMessage("down", SampleContext(), {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->subject, "[overdue] DOWN: nightly-backup (missed its deadline)");
  EXPECT_EQ(m->body,
            "nightly-backup is DOWN: it missed its deadline.\n"
            "Down since: 2026-11-25 10:00:00 UTC (incident #12)\n"
            "Detail: no check-in since 2026-11-25 09:58:00 UTC\n"
            "Tags: prod db\n"
            "\n"
            "Last check-in: 2026-11-25 09:00:00 UTC (fail, exit status 3, from 10.0.0.5)\n"
            "  | rsync: error 23\n"
            "  | retrying\n"
            "\n"
            "Acknowledge: http://host:8000/ack/tok123\n"
            "Incident: http://host:8000/api/v1/incidents/12\n");
}

TEST(DefaultMessageTest, RecoveryHasNoAckLink) {
  json c = SampleContext("recovery");
  c["incident"]["state"] = "resolved";
  c["incident"]["resolved_by"] = "check-in";
  auto m = RenderMessage("recovery", c, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->subject, "[overdue] RESOLVED: nightly-backup");
  EXPECT_THAT(m->body, StartsWith("nightly-backup is back UP: incident #12 is resolved by "
                                  "check-in.\n"));
  EXPECT_THAT(m->body, Not(HasSubstr("Acknowledge")));
  EXPECT_THAT(m->body, HasSubstr("Incident: http://host:8000/api/v1/incidents/12\n"));
}

// A person resolving an incident (a false alarm, a job retired) while its watch is still down
// must not be told "back UP": the watch is still silent.
TEST(DefaultMessageTest, RecoveryByHandSaysTheWatchIsStillDown) {
  json c = SampleContext("recovery");
  c["watch"]["status"] = "down";
  c["incident"]["state"] = "resolved";
  c["incident"]["resolved_by"] = "Dana";
  c["incident"]["resolve_reason"] = "false alarm";
  EXPECT_EQ(TemplateContext("recovery", c)["message"]["still"], "The watch is still DOWN.");
  auto m = RenderMessage("recovery", c, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->subject, "[overdue] RESOLVED: nightly-backup (by hand; the watch is still down)");
  EXPECT_THAT(m->body, StartsWith("nightly-backup: incident #12 is resolved by Dana (false "
                                  "alarm). The watch is still DOWN.\n"));
  EXPECT_THAT(m->body, Not(HasSubstr("back UP")));

  c["watch"]["status"] = "paused";
  c["incident"]["resolved_by"] = "system";
  c["incident"]["resolve_reason"] = "watch paused";
  m = RenderMessage("recovery", c, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->subject, "[overdue] RESOLVED: nightly-backup (the watch is paused)");
  EXPECT_THAT(m->body, StartsWith("nightly-backup: incident #12 is resolved by system (watch "
                                  "paused). The watch is PAUSED: nothing is watched until it "
                                  "is resumed.\n"));

  // Only a recovery has it.
  EXPECT_EQ(TemplateContext("down", SampleContext("down"))["message"]["still"], "");
  EXPECT_EQ(TemplateContext("recovery", SampleContext("recovery"))["message"]["still"], "");
}

TEST(DefaultMessageTest, EveryEventHasASubjectAndABody) {
  const std::pair<const char*, const char*> subjects[] = {
      {"down", "[overdue] DOWN: nightly-backup (missed its deadline)"},
      {"late",
       "[overdue] LATE: nightly-backup (no check-in by its deadline, grace period "
       "running)"},
      {"escalation",
       "[overdue] ESCALATION: nightly-backup still down, not acknowledged (missed its deadline)"},
      {"reminder", "[overdue] REMINDER: nightly-backup still down (missed its deadline)"},
      {"reopened", "[overdue] REOPENED: nightly-backup still down after acknowledgement"},
      {"recovery", "[overdue] RESOLVED: nightly-backup"},
      {"test", "[overdue] TEST: a test message from overdue"},
  };
  for (const auto& [event, subject] : subjects) {
    json c = SampleContext(event);
    if (std::string_view(event) == "late" || std::string_view(event) == "test") {
      c.erase("incident");
    }
    auto m = RenderMessage(event, c, {});
    ASSERT_TRUE(m.ok()) << event;
    EXPECT_EQ(m->subject, subject);
    EXPECT_THAT(m->body, Not(HasSubstr("\n\n\n"))) << event << "\n" << m->body;
    EXPECT_THAT(m->body, Not(HasSubstr("{{"))) << event;
    ASSERT_FALSE(m->body.empty());
    EXPECT_EQ(m->body.back(), '\n');
    if (std::string_view(event) != "test") {
      EXPECT_THAT(m->body, HasSubstr("nightly-backup")) << event;
      EXPECT_THAT(m->body, HasSubstr("Last check-in: 2026-11-25 09:00:00 UTC")) << event;
    }
  }
}

TEST(DefaultMessageTest, AlarmsCarryTheAckLink) {
  for (const char* event : {"down", "escalation", "reminder", "reopened"}) {
    auto m = RenderMessage(event, SampleContext(event), {});
    ASSERT_TRUE(m.ok());
    EXPECT_THAT(m->body, HasSubstr("Acknowledge: http://host:8000/ack/tok123\n")) << event;
  }
}

TEST(DefaultMessageTest, EscalationNamesStepAndRound) {
  json c = SampleContext("escalation");
  c["incident"]["step"] = 2;
  c["incident"]["round"] = 3;
  auto m = RenderMessage("escalation", c, {});
  ASSERT_TRUE(m.ok());
  EXPECT_THAT(m->body, HasSubstr("(escalation step 2, round 3)"));
}

TEST(DefaultMessageTest, LateWithoutCheckInsOrIncident) {
  json c = SampleContext("late");
  c.erase("incident");
  c["last_check_in"] = nullptr;
  c["watch"]["tags"] = "";
  auto m = RenderMessage("late", c, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->body,
            "nightly-backup is LATE: it has not checked in by its deadline. It goes DOWN when "
            "its grace period ends without a check-in.\n"
            "\n"
            "No check-in received yet.\n"
            "\n"
            "Ping URL: http://host:8000/ping/6f1c2b8e-0d1a-4e57-9a3b-2f4c5d6e7f80\n");
}

TEST(DefaultMessageTest, LateSaysWhenTheWatchGoesDown) {
  json c = SampleContext("late");
  c.erase("incident");
  c["watch"]["grace_ends_at"] = "2026-11-25T10:05:00.120000+00:00";
  auto m = RenderMessage("late", c, {});
  ASSERT_TRUE(m.ok());
  EXPECT_THAT(m->body, StartsWith("nightly-backup is LATE: it has not checked in by its deadline. "
                                  "It goes DOWN when its grace period ends at 2026-11-25 "
                                  "10:05:00 UTC without a check-in.\n"));
}

TEST(DefaultMessageTest, TestMessageNamesTheChannel) {
  json c{{"event", "test"},
         {"watch", {{"name", "(test message)"}}},
         {"last_check_in", nullptr},
         {"server", {{"url", "http://host:8000"}}},
         {"channel", {{"id", "x"}, {"name", "ops pager"}}}};
  auto m = RenderMessage("test", c, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->body,
            "This is a test message from overdue to the channel \"ops pager\". If you can read "
            "it, the channel works.\n\nServer: http://host:8000\n");
}

TEST(DefaultMessageTest, EmptyContextDoesNotBreak) {
  for (const char* event :
       {"down", "late", "escalation", "reminder", "reopened", "recovery", "test", "unknown", ""}) {
    auto m = RenderMessage(event, json(), {});
    ASSERT_TRUE(m.ok()) << event;
    EXPECT_FALSE(m->subject.empty()) << event;
  }
}

// ---- custom templates --------------------------------------------------------------------

TEST(RenderMessageTest, CustomTemplateReplacesSubjectAndBody) {
  MessageTemplate t{"{{message.label}} {{watch.name}} #{{incident.id}}",
                    "{{watch.name}} ({{watch.tags}}) via {{last_check_in.remote_addr}}"};
  auto m = RenderMessage("down", SampleContext(), t);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->subject, "DOWN nightly-backup #12");
  EXPECT_EQ(m->body, "nightly-backup (prod db) via 10.0.0.5\n");
}

TEST(RenderMessageTest, EmptyPartsFallBackToDefaults) {
  auto m = RenderMessage("down", SampleContext(), MessageTemplate{"", "custom"});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->subject, "[overdue] DOWN: nightly-backup (missed its deadline)");
  EXPECT_EQ(m->body, "custom\n");
}

TEST(RenderMessageTest, SubjectIsOneLine) {
  json c = SampleContext();
  c["watch"]["name"] = "evil\r\nBcc: victim@example.com";
  auto m = RenderMessage("down", c, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->subject.find_first_of("\r\n"), std::string::npos);
  EXPECT_THAT(m->subject, HasSubstr("evil  Bcc: victim@example.com"));
}

TEST(RenderMessageTest, InvalidCustomTemplateIsAnError) {
  auto m = RenderMessage("down", SampleContext(), MessageTemplate{"{{#x}}", ""});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.error().message, HasSubstr("unclosed section \"x\""));
}

TEST(RenderMessageTest, EscapeModeAppliesToDefaults) {
  json c = SampleContext();
  c["watch"]["name"] = "<!here>";
  auto m = RenderMessage("down", c, {}, Escape::kSlack);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->subject, "[overdue] DOWN: &lt;!here&gt; (missed its deadline)");
  EXPECT_THAT(m->body, Not(HasSubstr("<!here>")));
}

}  // namespace
}  // namespace overdue::notify
