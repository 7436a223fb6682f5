// `overdue incidents|channels|silences …`: incidents, notification channels and silences
// (maintenance windows) from the command line, against overdue's /api/v1 (not healthchecks').
//
//   incidents list [--state S[,S…]] [--watch UUID] [--limit N]   table, newest first
//   incidents show ID                        the incident, its timeline and its notifications
//   incidents ack|unack ID [--by NAME]       acknowledge (stops the escalation) or undo that
//   incidents note ID TEXT [--by NAME]       add a note to the timeline
//   incidents resolve ID --reason TEXT [--by NAME]
//   channels list;  channels test ID         send a "test" notification through a channel
//   silences list;  silences create (--watch UUID | --tag TAG | --project)
//                                   (--duration 2h | --ends ISO) [--reason R]
//   silences delete ID
//
// Human-readable output by default; with --json the server's JSON is printed unchanged. Usage
// errors are found before anything is sent. Exit statuses are api_client.h's ExitCode.
//
// The formatting functions are pure and exposed for tests; RunIncidents does the HTTP exchange
// (blocking, one request per command).
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/time.h"
#include "cli/api_client.h"

namespace overdue::cli {

struct IncidentsRequest {
  enum class Verb {
    kIncidentsList,
    kIncidentsShow,
    kIncidentsAck,
    kIncidentsUnack,
    kIncidentsNote,
    kIncidentsResolve,
    kChannelsList,
    kChannelsTest,
    kSilencesList,
    kSilencesCreate,
    kSilencesDelete,
  };
  Verb verb = Verb::kIncidentsList;
  ClientConfig client;
  std::string config_path;  // for the "no API key" message
  std::string id;           // an incident's number, a channel's or a silence's UUID
  bool json = false;

  // incidents list
  std::optional<std::string> state;  // open, acknowledged, resolved or active; comma-separated
  std::optional<std::string> watch;  // also silences create
  std::optional<std::string> limit;  // 1-1000, as typed

  std::optional<std::string> by;      // ack, unack, note, resolve: who (default: the key's name)
  std::string text;                   // note
  std::optional<std::string> reason;  // resolve (required), silences create

  // silences create: exactly one scope and one end.
  std::optional<std::string> tag;
  bool project = false;
  std::optional<std::string> duration;  // "2h", "90m", "1d"
  std::optional<std::string> ends;      // "2026-11-25T10:00:00Z" (an offset is required)
};

// `incidents list`: ID STATE WATCH CAUSE OPENED ACK BY, one row per element of `incidents`
// (the list's "incidents" array). Widths count UTF-8 code points; no trailing spaces.
std::string FormatIncidentsTable(const nlohmann::json& incidents, base::TimePoint now);

// `incidents show`: "label: value" lines for the incident, then its timeline (time, kind, actor,
// message; oldest first) and its notifications, each under a heading when not empty.
std::string FormatIncidentDetails(const nlohmann::json& incident, base::TimePoint now);

// `channels list`: ID NAME KIND CREATED.
std::string FormatChannelsTable(const nlohmann::json& channels);

// `silences list`: ID SCOPE STARTS ENDS REASON; SCOPE is "watch <uuid>", "tag <tag>" or
// "project".
std::string FormatSilencesTable(const nlohmann::json& silences, base::TimePoint now);

// Runs one command: prints to `out` on success, names the problem on `err` otherwise.
// Returns an ExitCode.
int RunIncidents(const IncidentsRequest& request, std::ostream& out, std::ostream& err);

}  // namespace overdue::cli
