#include "cli/incidents_command.h"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/checks_command.h"
#include "cli/management_commands.h"
#include "cli/test_receiver.h"

namespace overdue::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Verb = IncidentsRequest::Verb;

constexpr const char* kWatch = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10";
constexpr const char* kChannel = "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01";
constexpr const char* kSilence = "7d0f9c4a-3b2e-4f1d-8c6b-5a4e3d2c1b01";

base::TimePoint At(const char* iso) { return *ParseIsoTime(iso); }

json Incident() {
  return json::parse(R"({
    "id": 12, "watch": "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10", "watch_name": "nightly backup",
    "cause": "fail", "cause_detail": "exit status 3", "state": "acknowledged",
    "opened_at": "2026-01-10T11:00:00+00:00", "acked_at": "2026-01-10T11:50:00+00:00",
    "acked_by": "alice", "resolved_at": null, "resolved_by": "", "resolve_reason": "",
    "policy": "default", "step": 2, "round": 1,
    "next_escalation_at": null,
    "escalation": {"steps": [{"channels": ["0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01"], "wait": 600},
                             {"channels": ["0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01"], "wait": 600}],
                   "repeat": 2, "remind_every": 1800, "ack_timeout": 3600},
    "url": "http://127.0.0.1:8000/incidents/12",
    "timeline": [
      {"at": "2026-01-10T11:00:00+00:00", "kind": "opened", "actor": "system",
       "message": "nightly backup is down: exit status 3", "data": {}},
      {"at": "2026-01-10T11:00:01.250000+00:00", "kind": "attempt", "actor": "system",
       "message": "email: delivered", "data": {"ok": true}},
      {"at": "2026-01-10T11:50:00+00:00", "kind": "acknowledged", "actor": "alice",
       "message": "", "data": {}}
    ],
    "notifications": [
      {"id": 7, "incident": 12, "watch": "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10",
       "channel": "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01", "event": "down",
       "status": "delivered", "attempts": 1, "last_error": "", "created":
       "2026-01-10T11:00:00+00:00", "finished_at": "2026-01-10T11:00:01+00:00",
       "idempotency_key": "k"},
      {"id": 8, "incident": 12, "watch": "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10",
       "channel": "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01", "channel_name": "ops mail",
       "channel_kind": "email", "event": "down", "status": "failed", "attempts": 5,
       "last_error": "refused", "created": "2026-01-10T11:10:00+00:00",
       "finished_at": "2026-01-10T11:20:00+00:00", "idempotency_key": "k2"}
    ]})");
}

TEST(FormatIncidentsTableTest, AlignedColumnsWithoutTrailingSpaces) {
  const auto now = At("2026-01-10T12:00:00+00:00");
  const json incidents = json::array({
      {{"id", 12},
       {"state", "acknowledged"},
       {"watch", kWatch},
       {"watch_name", "nightly backup"},
       {"cause", "fail"},
       {"opened_at", "2026-01-10T11:00:00+00:00"},
       {"acked_by", "alice"}},
      {{"id", 9},
       {"state", "open"},
       {"watch", kWatch},
       {"watch_name", ""},
       {"cause", "timeout"},
       {"opened_at", "2026-01-10T11:55:00Z"},
       {"acked_by", ""}},
  });
  EXPECT_EQ(FormatIncidentsTable(incidents, now),
            "ID  STATE         WATCH                                 CAUSE    OPENED  ACK BY\n"
            "12  acknowledged  nightly backup                        fail     1h ago  alice\n"
            "9   open          5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10  timeout  5m ago  -\n");
}

TEST(FormatIncidentDetailsTest, FieldsThenTimelineThenNotifications) {
  const auto now = At("2026-01-10T12:00:00+00:00");
  EXPECT_EQ(FormatIncidentDetails(Incident(), now),
            "incident:     12\n"
            "watch:        nightly backup (5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10)\n"
            "state:        acknowledged\n"
            "cause:        fail: exit status 3\n"
            "opened:       1h ago (2026-01-10 11:00:00 UTC)\n"
            "acknowledged: 10m ago (2026-01-10 11:50:00 UTC) by alice\n"
            "policy:       default\n"
            "escalation:   step 2 of 2, round 1 of 2\n"
            "reminders:    every 30m after the last round\n"
            "ack timeout:  1h\n"
            "url:          http://127.0.0.1:8000/incidents/12\n"
            "\n"
            "timeline (UTC):\n"
            "  2026-01-10 11:00:00  opened        system  nightly backup is down: exit status 3\n"
            "  2026-01-10 11:00:01  attempt       system  email: delivered\n"
            "  2026-01-10 11:50:00  acknowledged  alice\n"
            "\n"
            "notifications:\n"
            "  ID  EVENT  CHANNEL                               STATUS     ATTEMPTS  LAST ERROR\n"
            // A server before channel names, or a deleted channel: its id.
            "  7   down   0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01  delivered  1\n"
            "  8   down   ops mail (email)                      failed     5         refused\n");
}

TEST(FormatIncidentDetailsTest, ResolvedIncidentWithImplicitPolicy) {
  const auto now = At("2026-01-10T12:00:00+00:00");
  json i = Incident();
  i["state"] = "resolved";
  i["acked_at"] = nullptr;
  i["resolved_at"] = "2026-01-10T11:58:00+00:00";
  i["resolved_by"] = "check-in";
  i["resolve_reason"] = "success check-in";
  i["policy"] = "";
  i["next_escalation_at"] = "2026-01-10T12:05:00+00:00";
  i["timeline"] = json::array();
  i["notifications"] = json::array();
  const std::string text = FormatIncidentDetails(i, now);
  EXPECT_THAT(text, HasSubstr("resolved:        2m ago (2026-01-10 11:58:00 UTC) by check-in\n"));
  EXPECT_THAT(text, HasSubstr("reason:          success check-in\n"));
  EXPECT_THAT(text, HasSubstr("policy:          (implicit)\n"));
  EXPECT_THAT(text, HasSubstr("next escalation: in 5m (2026-01-10 12:05:00 UTC)\n"));
  EXPECT_THAT(text, Not(HasSubstr("acknowledged:")));
  EXPECT_THAT(text, Not(HasSubstr("timeline")));
  EXPECT_THAT(text, Not(HasSubstr("notifications")));
  EXPECT_EQ(FormatIncidentDetails(json::array(), now), "");
}

TEST(FormatIncidentDetailsTest, TheNextTimerSaysWhatItDoes) {
  const auto now = At("2026-01-10T12:00:00+00:00");
  json i = Incident();
  i["timeline"] = json::array();
  i["notifications"] = json::array();
  i["next_escalation_at"] = "2026-01-10T12:50:00+00:00";
  EXPECT_THAT(FormatIncidentDetails(i, now),
              HasSubstr("reopens:      in 50m (2026-01-10 12:50:00 UTC) if still down\n"));
  i["state"] = "open";
  i["acked_at"] = nullptr;
  i["next_escalation_at"] = "2026-01-10T12:05:00+00:00";
  i["step"] = 1;
  EXPECT_THAT(FormatIncidentDetails(i, now),
              HasSubstr("next escalation: in 5m (2026-01-10 12:05:00 UTC)\n"));
  i["step"] = 2;  // the last step of the last run
  i["round"] = 2;
  EXPECT_THAT(FormatIncidentDetails(i, now),
              HasSubstr("next reminder: in 5m (2026-01-10 12:05:00 UTC)\n"));
  i["escalation"]["remind_every"] = 0;
  EXPECT_THAT(FormatIncidentDetails(i, now),
              HasSubstr("chain ends:  in 5m (2026-01-10 12:05:00 UTC), nothing more is sent\n"));
  i["round"] = 1;  // a second run follows
  EXPECT_THAT(FormatIncidentDetails(i, now), HasSubstr("next escalation: in 5m"));
}

TEST(FormatChannelsTableTest, IdNameKindCreated) {
  const json channels = json::array({{{"id", kChannel},
                                      {"name", "ops mail"},
                                      {"kind", "email"},
                                      {"config", {{"to", "ops@example.com"}}},
                                      {"created", "2026-01-10T11:00:00.5+00:00"}}});
  EXPECT_EQ(FormatChannelsTable(channels),
            "ID                                    NAME      KIND   CREATED\n"
            "0b6c3b1e-8a3f-4c2e-9d51-2f1a6e7c9b01  ops mail  email  2026-01-10 11:00:00\n");
}

TEST(FormatSilencesTableTest, ScopeIsWatchTagOrProject) {
  const auto now = At("2026-01-10T12:00:00+00:00");
  const json silences = json::array({
      {{"id", kSilence},
       {"watch", kWatch},
       {"tag", ""},
       {"starts", "2026-01-10T11:00:00Z"},
       {"ends", "2026-01-10T14:00:00Z"},
       {"reason", "migration"}},
      {{"id", kSilence},
       {"watch", nullptr},
       {"tag", "db"},
       {"starts", "2026-01-10T13:00:00Z"},
       {"ends", "2026-01-12T13:00:00Z"},
       {"reason", ""}},
      {{"id", kSilence},
       {"watch", nullptr},
       {"tag", ""},
       {"starts", "2026-01-10T12:00:00Z"},
       {"ends", "2026-01-10T12:30:00Z"},
       {"reason", "deploy"}},
  });
  EXPECT_EQ(FormatSilencesTable(silences, now),
            "ID                                    SCOPE                                       "
            "STARTS    ENDS    REASON\n"
            "7d0f9c4a-3b2e-4f1d-8c6b-5a4e3d2c1b01  watch 5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10  "
            "1h ago    in 2h   migration\n"
            "7d0f9c4a-3b2e-4f1d-8c6b-5a4e3d2c1b01  tag db                                      "
            "in 1h     in 2d\n"
            "7d0f9c4a-3b2e-4f1d-8c6b-5a4e3d2c1b01  project                                     "
            "just now  in 30m  deploy\n");
}

class RunIncidentsTest : public ::testing::Test {
 protected:
  IncidentsRequest Request(Verb verb, std::string id = "") {
    IncidentsRequest r;
    r.verb = verb;
    r.client.url = receiver_.url();
    r.client.api_key = "key";
    r.client.api_key_source = "OVERDUE_API_KEY";
    r.id = std::move(id);
    return r;
  }
  int Run(const IncidentsRequest& r) { return RunIncidents(r, out_, err_); }
  RecordedRequest Last() const { return receiver_.requests().back(); }

  TestReceiver receiver_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(RunIncidentsTest, ListSendsFiltersAndPrintsATable) {
  receiver_.QueueReply(200, json{{"incidents", json::array({Incident()})}}.dump());
  IncidentsRequest r = Request(Verb::kIncidentsList);
  r.state = "open,acknowledged";
  r.watch = kWatch;
  r.limit = "5";
  EXPECT_EQ(Run(r), kExitOk) << err_.str();
  const RecordedRequest req = Last();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, std::string("/api/v1/incidents?state=open%2Cacknowledged&watch=") + kWatch +
                            "&limit=5");
  EXPECT_EQ(req.headers.at("x-api-key"), "key");
  EXPECT_EQ(req.body, "");
  EXPECT_THAT(out_.str(), HasSubstr("ID  STATE         WATCH           CAUSE  OPENED"));
  EXPECT_THAT(out_.str(), HasSubstr("12  acknowledged  nightly backup  fail"));
  EXPECT_THAT(out_.str(), HasSubstr("alice\n"));
}

TEST_F(RunIncidentsTest, EmptyListsSaySo) {
  receiver_.QueueReply(200, R"({"incidents": []})");
  receiver_.QueueReply(200, R"({"channels": []})");
  receiver_.QueueReply(200, R"({"silences": []})");
  EXPECT_EQ(Run(Request(Verb::kIncidentsList)), kExitOk);
  EXPECT_EQ(Run(Request(Verb::kChannelsList)), kExitOk);
  EXPECT_EQ(Run(Request(Verb::kSilencesList)), kExitOk);
  EXPECT_EQ(out_.str(), "no incidents\nno channels\nno silences\n");
  const auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method + " " + reqs[0].target, "GET /api/v1/incidents");
  EXPECT_EQ(reqs[1].method + " " + reqs[1].target, "GET /api/v1/channels");
  EXPECT_EQ(reqs[2].method + " " + reqs[2].target, "GET /api/v1/silences");
}

TEST_F(RunIncidentsTest, ShowPrintsTheIncidentAndItsTimeline) {
  receiver_.QueueReply(200, Incident().dump());
  EXPECT_EQ(Run(Request(Verb::kIncidentsShow, "12")), kExitOk) << err_.str();
  EXPECT_EQ(Last().method + " " + Last().target, "GET /api/v1/incidents/12");
  EXPECT_THAT(out_.str(), HasSubstr("watch:        nightly backup ("));
  EXPECT_THAT(out_.str(), HasSubstr("timeline (UTC):\n  2026-01-10 11:00:00  opened"));
  EXPECT_THAT(out_.str(), HasSubstr("notifications:\n"));
}

TEST_F(RunIncidentsTest, JsonPrintsTheAnswerUnchanged) {
  const std::string body = Incident().dump();
  receiver_.QueueReply(200, body);
  IncidentsRequest r = Request(Verb::kIncidentsShow, "12");
  r.json = true;
  EXPECT_EQ(Run(r), kExitOk);
  EXPECT_EQ(out_.str(), body + "\n");
}

TEST_F(RunIncidentsTest, AckUnackNoteAndResolvePostTheirBodies) {
  json acked = Incident();
  receiver_.QueueReply(200, acked.dump());
  json open = Incident();
  open["state"] = "open";
  open["acked_by"] = "";
  receiver_.QueueReply(200, open.dump());
  receiver_.QueueReply(201, R"({"at": "2026-01-10T12:00:00Z", "kind": "note"})");
  receiver_.QueueReply(200, Incident().dump());

  IncidentsRequest ack = Request(Verb::kIncidentsAck, "12");
  ack.by = "alice";
  EXPECT_EQ(Run(ack), kExitOk) << err_.str();
  EXPECT_EQ(Run(Request(Verb::kIncidentsUnack, "12")), kExitOk) << err_.str();
  IncidentsRequest note = Request(Verb::kIncidentsNote, "12");
  note.text = "restarted the job";
  EXPECT_EQ(Run(note), kExitOk) << err_.str();
  IncidentsRequest resolve = Request(Verb::kIncidentsResolve, "12");
  resolve.reason = "disk replaced";
  resolve.by = "bob";
  EXPECT_EQ(Run(resolve), kExitOk) << err_.str();

  const auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method + " " + reqs[0].target, "POST /api/v1/incidents/12/ack");
  EXPECT_EQ(json::parse(reqs[0].body), json({{"by", "alice"}}));
  EXPECT_EQ(reqs[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(reqs[1].method + " " + reqs[1].target, "POST /api/v1/incidents/12/unack");
  EXPECT_EQ(json::parse(reqs[1].body), json::object());  // no --by: the key's name
  EXPECT_EQ(reqs[2].method + " " + reqs[2].target, "POST /api/v1/incidents/12/notes");
  EXPECT_EQ(json::parse(reqs[2].body), json({{"text", "restarted the job"}}));
  EXPECT_EQ(reqs[3].method + " " + reqs[3].target, "POST /api/v1/incidents/12/resolve");
  EXPECT_EQ(json::parse(reqs[3].body), json({{"reason", "disk replaced"}, {"by", "bob"}}));
  EXPECT_EQ(out_.str(),
            "acknowledged incident 12 (nightly backup) by alice\n"
            "incident 12 (nightly backup) is open again\n"
            "added a note to incident 12\n"
            "resolved incident 12 (nightly backup)\n");
}

TEST_F(RunIncidentsTest, ChannelsListAndTest) {
  receiver_.QueueReply(
      200, json{{"channels",
                 {{{"id", kChannel}, {"name", "ops mail"}, {"kind", "email"}, {"config", {}}}}}}
               .dump());
  receiver_.QueueReply(202, R"({"notification": 17})");
  EXPECT_EQ(Run(Request(Verb::kChannelsList)), kExitOk) << err_.str();
  EXPECT_EQ(Run(Request(Verb::kChannelsTest, kChannel)), kExitOk) << err_.str();
  const auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method + " " + reqs[1].target,
            std::string("POST /api/v1/channels/") + kChannel + "/test");
  EXPECT_THAT(out_.str(), HasSubstr("ID                                    NAME      KIND   "
                                    "CREATED\n" +
                                    std::string(kChannel) + "  ops mail  email  -\n"));
  EXPECT_THAT(out_.str(),
              HasSubstr("queued test notification 17 for channel " + std::string(kChannel)));
}

TEST_F(RunIncidentsTest, SilencesCreateBodiesAndDelete) {
  const std::string created = json{
      {"id", kSilence},
      {"watch", kWatch},
      {"tag", ""},
      {"starts", "2026-01-10T12:00:00Z"},
      {"ends", "2099-01-10T14:00:00Z"},
      {"reason", "migration"}}.dump();
  receiver_.QueueReply(201, created);
  receiver_.QueueReply(201, created);
  receiver_.QueueReply(201, created);
  receiver_.QueueReply(200, created);

  IncidentsRequest watch = Request(Verb::kSilencesCreate);
  watch.watch = kWatch;
  watch.duration = "2h";
  watch.reason = "migration";
  EXPECT_EQ(Run(watch), kExitOk) << err_.str();
  IncidentsRequest tag = Request(Verb::kSilencesCreate);
  tag.tag = "db";
  tag.ends = "2026-11-25T10:00:00+01:00";
  EXPECT_EQ(Run(tag), kExitOk) << err_.str();
  IncidentsRequest project = Request(Verb::kSilencesCreate);
  project.project = true;
  project.duration = "90m";
  EXPECT_EQ(Run(project), kExitOk) << err_.str();
  EXPECT_EQ(Run(Request(Verb::kSilencesDelete, kSilence)), kExitOk) << err_.str();

  const auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method + " " + reqs[0].target, "POST /api/v1/silences");
  EXPECT_EQ(json::parse(reqs[0].body),
            json({{"watch", kWatch}, {"duration", 7200}, {"reason", "migration"}}));
  EXPECT_EQ(json::parse(reqs[1].body),
            json({{"tag", "db"}, {"ends", "2026-11-25T10:00:00+01:00"}}));
  EXPECT_EQ(json::parse(reqs[2].body), json({{"duration", 5400}}));  // neither: the project
  EXPECT_EQ(reqs[3].method + " " + reqs[3].target,
            std::string("DELETE /api/v1/silences/") + kSilence);
  EXPECT_THAT(out_.str(), HasSubstr("created silence " + std::string(kSilence) + " for watch " +
                                    kWatch + " until 2099-01-10 14:00:00 UTC (in "));
  EXPECT_THAT(out_.str(), HasSubstr("deleted silence " + std::string(kSilence) + "\n"));
}

TEST_F(RunIncidentsTest, StatusesMapToExitCodes) {
  receiver_.QueueReply(404, R"({"error": "not found"})");
  receiver_.QueueReply(409, R"({"error": "incident 12 is resolved"})");
  receiver_.QueueReply(400, R"({"error": "text: must be 1-10000 characters"})");
  receiver_.QueueReply(401, R"({"error": "wrong api key"})");
  receiver_.QueueReply(403, R"({"error": "read-only key"})");
  receiver_.QueueReply(500, "boom");
  EXPECT_EQ(Run(Request(Verb::kIncidentsShow, "12")), kExitNotFound);
  EXPECT_EQ(Run(Request(Verb::kIncidentsAck, "12")), kExitRejected);
  IncidentsRequest note = Request(Verb::kIncidentsNote, "12");
  note.text = "x";
  EXPECT_EQ(Run(note), kExitRejected);
  EXPECT_EQ(Run(Request(Verb::kIncidentsList)), kExitAuth);
  EXPECT_EQ(Run(Request(Verb::kSilencesDelete, kSilence)), kExitAuth);
  EXPECT_EQ(Run(Request(Verb::kChannelsList)), kExitError);
  const std::string err = err_.str();
  EXPECT_THAT(err, HasSubstr("overdue: incident 12: not found (HTTP 404: not found)"));
  EXPECT_THAT(err, HasSubstr("rejected by the server (HTTP 409: incident 12 is resolved)"));
  EXPECT_THAT(err, HasSubstr("(HTTP 400: text: must be 1-10000 characters)"));
  EXPECT_THAT(err, HasSubstr("incidents list: authentication failed (HTTP 401"));
  EXPECT_THAT(err, HasSubstr("the API key came from OVERDUE_API_KEY"));
  EXPECT_THAT(err, HasSubstr("silence " + std::string(kSilence) + ": permission denied"));
  EXPECT_THAT(err, HasSubstr("a read-only key may list and show only"));
  EXPECT_THAT(err, HasSubstr("channels list: server error (HTTP 500: boom)"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RunIncidentsTest, UnreachableServerIsSix) {
  IncidentsRequest r = Request(Verb::kIncidentsList);
  r.client.url = "http://127.0.0.1:" + std::to_string(UnusedPort());
  EXPECT_EQ(Run(r), kExitUnreachable);
  EXPECT_THAT(err_.str(), HasSubstr("cannot reach"));
}

TEST_F(RunIncidentsTest, AnswersThatAreNotTheApisAreErrors) {
  EXPECT_EQ(Run(Request(Verb::kIncidentsList)), kExitError);  // "OK": not JSON
  EXPECT_THAT(err_.str(), HasSubstr("not a JSON object"));
  receiver_.QueueReply(200, R"({"checks": []})");
  EXPECT_EQ(Run(Request(Verb::kIncidentsList)), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("incidents list: the answer has no \"incidents\" array"));
}

TEST_F(RunIncidentsTest, UsageErrorsSendNothing) {
  struct Case {
    IncidentsRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  auto add = [&](IncidentsRequest r, std::string message) {
    cases.push_back({std::move(r), std::move(message)});
  };
  IncidentsRequest no_key = Request(Verb::kIncidentsList);
  no_key.client.api_key = "";
  add(no_key, "no API key");
  add(Request(Verb::kIncidentsShow, ""), "an incident's number is required");
  add(Request(Verb::kIncidentsAck, "abc"), "\"abc\": must be an incident's number");
  add(Request(Verb::kIncidentsUnack, "0"), "\"0\": must be an incident's number");
  add(Request(Verb::kIncidentsShow, "12/../x"), "must be an incident's number");
  IncidentsRequest state = Request(Verb::kIncidentsList);
  state.state = "open,closed";
  add(state, "--state: \"open,closed\": open, acknowledged, resolved or active");
  IncidentsRequest watch = Request(Verb::kIncidentsList);
  watch.watch = "backup";
  add(watch, "--watch: \"backup\": must be a watch's UUID");
  IncidentsRequest limit = Request(Verb::kIncidentsList);
  limit.limit = "0";
  add(limit, "--limit: \"0\": must be a number from 1 to 1000");
  limit.limit = "1001";
  add(limit, "--limit: \"1001\"");
  add(Request(Verb::kIncidentsNote, "12"), "the note's text is required");
  add(Request(Verb::kIncidentsResolve, "12"), "--reason is required");
  IncidentsRequest empty_reason = Request(Verb::kIncidentsResolve, "12");
  empty_reason.reason = "";
  add(empty_reason, "--reason is required");
  add(Request(Verb::kChannelsTest, "ops"), "\"ops\": must be a channel's UUID");
  add(Request(Verb::kSilencesDelete, "x"), "\"x\": must be a silence's UUID");
  IncidentsRequest no_scope = Request(Verb::kSilencesCreate);
  no_scope.duration = "1h";
  add(no_scope, "give one of --watch UUID, --tag TAG or --project");
  IncidentsRequest two_scopes = no_scope;
  two_scopes.tag = "db";
  two_scopes.project = true;
  add(two_scopes, "give one of --watch UUID, --tag TAG or --project");
  IncidentsRequest no_end = Request(Verb::kSilencesCreate);
  no_end.project = true;
  add(no_end, "give one of --duration (e.g. 2h) or --ends");
  IncidentsRequest two_ends = no_end;
  two_ends.duration = "1h";
  two_ends.ends = "2026-11-25T10:00:00Z";
  add(two_ends, "give one of --duration (e.g. 2h) or --ends");
  IncidentsRequest bad_duration = no_end;
  bad_duration.duration = "2 hours";
  add(bad_duration, "--duration: \"2 hours\"");
  bad_duration.duration = "0s";
  add(bad_duration, "--duration: \"0s\": must be at least 1s");
  IncidentsRequest bad_ends = no_end;
  bad_ends.ends = "2026-11-25 10:00";
  add(bad_ends, "--ends: \"2026-11-25 10:00\": must be an ISO 8601 time with an offset");
  IncidentsRequest bad_watch = no_end;
  bad_watch.project = false;
  bad_watch.watch = "x";
  bad_watch.duration = "1h";
  add(bad_watch, "--watch: \"x\": must be a watch's UUID");
  IncidentsRequest bad_tag = bad_watch;
  bad_tag.watch.reset();
  bad_tag.tag = "a b";
  add(bad_tag, "--tag: \"a b\": must be one tag");

  for (const Case& c : cases) {
    err_.str("");
    EXPECT_EQ(Run(c.request), kExitUsage) << c.message;
    EXPECT_THAT(err_.str(), HasSubstr(c.message));
  }
  EXPECT_TRUE(receiver_.requests().empty());
}

// The command line as main.cc wires it (management_commands.h).
class IncidentsCommandLineTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    CLI::App app{"test"};
    app.name("overdue");
    ManagementCommands commands(app);
    std::vector<const char*> argv = {"overdue"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    } catch (const CLI::ParseError& e) {
      return e.get_exit_code() == 0 ? 0 : kExitUsage;
    }
    auto getenv = [this](const char* name) -> const char* {
      const auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
    return commands.RunIfParsed(getenv, in_, out_, err_).value_or(-1);
  }

  TestReceiver receiver_;
  std::map<std::string, std::string> env_ = {{"HOME", "/nonexistent"}, {"OVERDUE_API_KEY", "k"}};
  std::istringstream in_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(IncidentsCommandLineTest, FlagsAndArgumentsBecomeTheRequest) {
  env_["OVERDUE_URL"] = receiver_.url();
  EXPECT_EQ(Run({"incidents", "list", "--state", "active", "--limit", "3", "--json"}), kExitOk);
  EXPECT_EQ(Run({"incidents", "note", "12", "restarted", "the", "job", "--by", "alice", "--json"}),
            kExitOk);
  EXPECT_EQ(Run({"incidents", "resolve", "12", "--reason", "fixed", "--json"}), kExitOk);
  EXPECT_EQ(Run({"silences", "create", "--tag", "db", "--duration", "2h", "--json"}), kExitOk);
  EXPECT_EQ(Run({"channels", "test", kChannel, "--json"}), kExitOk);
  const auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].target, "/api/v1/incidents?state=active&limit=3");
  EXPECT_EQ(reqs[0].headers.at("x-api-key"), "k");
  EXPECT_EQ(json::parse(reqs[1].body), json({{"text", "restarted the job"}, {"by", "alice"}}));
  EXPECT_EQ(json::parse(reqs[2].body), json({{"reason", "fixed"}}));
  EXPECT_EQ(json::parse(reqs[3].body), json({{"tag", "db"}, {"duration", 7200}}));
  EXPECT_EQ(reqs[4].target, std::string("/api/v1/channels/") + kChannel + "/test");
}

TEST_F(IncidentsCommandLineTest, ParseErrorsAreUsageErrors) {
  env_["OVERDUE_URL"] = receiver_.url();
  EXPECT_EQ(Run({"incidents"}), kExitUsage);
  EXPECT_EQ(Run({"incidents", "resolve", "12"}), kExitUsage);  // --reason is required
  EXPECT_EQ(Run({"silences", "create", "--watch", kWatch, "--tag", "db", "--duration", "1h"}),
            kExitUsage);
  EXPECT_EQ(Run({"silences", "create", "--project", "--duration", "1h", "--ends", "x"}),
            kExitUsage);
  EXPECT_TRUE(receiver_.requests().empty());
}

}  // namespace
}  // namespace overdue::cli
