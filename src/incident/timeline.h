// An incident's timeline as responders read it (the API, the CLI).
//
// Design note. Most entries are stored as they happen (opened, state changes, escalation
// steps, acknowledgements, notes, held notifications, a delivery that finally failed). Two
// kinds are not: one "notification" entry per outbox row written for the incident, and one
// "attempt" entry per delivery attempt. The outbox row and the attempt row already hold
// those facts, so the timeline derives the entries from them when it is read. In an incident
// storm that leaves the journal's writer two rows fewer to write per incident (BENCHMARKS.md,
// "Derived timeline entries"); schema 5 dropped the stored copies of older ones.
//
// Thread-safety: pure functions; ReadTimeline uses the store's read methods.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "base/result.h"
#include "model/incident.h"
#include "store/store.h"

namespace overdue::incident {

// The entries of `stored` (oldest first, as Store::ListTimeline returns them) merged in time
// order with a "notification" entry for each of `notifications` that was not held back (held
// ones have a stored "held" entry) and an "attempt" entry for each of its `attempts` (keyed by
// notification id, oldest first). At the same instant stored entries come first, then
// notifications, then attempts, each in their own order.
std::vector<model::TimelineEntry> MergeTimeline(
    std::vector<model::TimelineEntry> stored, const std::vector<model::Notification>& notifications,
    const std::map<int64_t, std::vector<store::Attempt>>& attempts);

// Reads the incident's stored entries, every outbox row of it and their attempts, and merges
// them. `project_id`: the incident's project.
base::Result<std::vector<model::TimelineEntry>> ReadTimeline(store::Store& store,
                                                             int64_t project_id,
                                                             int64_t incident_id);

}  // namespace overdue::incident
