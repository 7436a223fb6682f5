// Moving checks into and out of overdue:
//   - `overdue import --from-healthchecks URL --api-key KEY [--dry-run]` reads every check of a
//     healthchecks project (GET /api/v3/checks/) and recreates each in overdue under the same
//     UUID (PUT /api/v1/checks/<uuid>), so ping URLs keep working; paused checks are paused.
//     Idempotent: it compares with what overdue has (GET /api/v3/checks/<uuid>) and only
//     writes what differs. OnCalendar schedules, which overdue cannot represent, are reported
//     and skipped. Integrations (channels) are not migrated.
//   - `overdue export [--history]` writes GET /api/v1/export to a stream;
//   - `overdue import FILE` posts an export to /api/v1/import and prints the server's summary.
// Each function blocks for its HTTP exchanges and returns an ExitCode (api_client.h).
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "cli/api_client.h"

namespace overdue::cli {

// One of healthchecks' v3 check objects → the body of PUT /api/v1/checks/<uuid> (the v3
// create spec: name, slug, tags, desc, grace, manual_resume, methods, the keywords and
// filters, and timeout or schedule + tz). Errors (kInvalidArgument) say why overdue cannot
// take the check: no "uuid" (a read-only key), or a schedule that is not 5 cron fields.
base::Result<nlohmann::json> SpecFromHealthchecks(const nlohmann::json& check);

// The fields of `spec` (as SpecFromHealthchecks builds it) whose value differs from
// `current` (an overdue check as GET /api/v3/checks/<uuid> returns it), in spec order. A
// timeout in `spec` also differs from a cron schedule in `current`, and vice versa.
std::vector<std::string> ChangedFields(const nlohmann::json& spec, const nlohmann::json& current);

struct HealthchecksImport {
  std::string source_url;  // healthchecks' site root, e.g. https://healthchecks.io
  std::string source_key;  // a read-write API key of the project to copy
  ClientConfig target;     // the overdue server
  std::string config_path;
  bool dry_run = false;
};

// Prints one line per check (create / update / unchanged / skip / failed) and a summary to
// `out`, problems to `err`. Exit status: 0 when every check is in overdue; kExitRejected when
// some were skipped or refused as input; otherwise the first fatal problem's code (the
// healthchecks key is wrong or read-only → kExitAuth, a server is unreachable → ...).
int ImportFromHealthchecks(const HealthchecksImport& options, std::ostream& out, std::ostream& err);

struct ExportOptions {
  ClientConfig target;
  std::string config_path;
  bool history = false;  // ?history=1: check-ins and flips as well
};

// Writes the export to `out` as it arrives.
int ExportCommand(const ExportOptions& options, std::ostream& out, std::ostream& err);

struct ImportFileOptions {
  ClientConfig target;
  std::string config_path;
  std::string path;   // "-" reads `in`
  bool json = false;  // print the server's summary unchanged
};

int ImportFileCommand(const ImportFileOptions& options, std::istream& in, std::ostream& out,
                      std::ostream& err);

}  // namespace overdue::cli
