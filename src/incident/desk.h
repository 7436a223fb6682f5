// Desk: turns watch state changes into incidents, runs their escalation chains, and writes
// the notifications they cause into the outbox — in the same transaction as the change.
//
// Design note. The desk sits on the journal's writer thread as its CommitHook: before each
// commit it reads the batch's new mutations in order (a flip to down opens an incident, a
// fail check-in counts towards alert_after_failures, a flip to grace sends the early "late"
// warning, a recovery resolves) and appends the incident, timeline and outbox rows to the same
// batch, so a transition and its notifications are durable together or not at all. Changes
// made elsewhere (an acknowledgement through the API, an escalation timer) are applied to the
// desk's memory under its lock and queued; the next BeforeCommit appends them in the order
// they were made — the journal is woken by an empty unit — so a later change of an incident
// is never overwritten in the store by an earlier one. After a commit, the new notifications
// go to the notifier and waiting API callers get their answer.
//
// Memory holds what decides quickly: channels, policies and silences of every project (small),
// and the active (open or acknowledged) incidents with their escalation timers (a min-heap of
// (due, incident, escalation id): a timer whose id is stale does nothing). Resolved incidents
// and timelines are read from the store.
//
// Thread-safety: every public method may be called from any thread; BeforeCommit/AfterCommit
// only from the journal's writer thread. Callbacks run without the desk's lock held.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/result.h"
#include "journal/journal.h"
#include "model/escalation.h"
#include "model/incident.h"
#include "store/store.h"

namespace overdue::incident {

using base::Result;
using base::Status;
using base::TimePoint;
using base::Uuid;

struct DeskOptions {
  std::string public_url;  // base of incident and ping URLs in messages
  // The signed acknowledgement link of an incident (api/ack_link.h); empty: none.
  std::function<std::string(int64_t incident_id)> ack_url;
  size_t max_body_in_message = 1000;  // bytes of the last check-in's body put in a message
};

// Completion of a desk change: the incident as committed, or why not.
using IncidentDone = std::function<void(Result<model::Incident>)>;

class Desk final : public journal::CommitHook {
 public:
  // `wake` submits an empty unit to the journal (so queued desk changes get committed);
  // `deliver` receives committed pending notifications (the notifier).
  Desk(const base::Clock& clock, store::Store& store, DeskOptions options,
       std::function<void()> wake, std::function<void(std::vector<model::Notification>)> deliver);
  ~Desk() override;

  // Start-up: channels, policies, silences, active incidents and their timers.
  Status Load();
  // REQUIRES: before the first change (the URL is known once the server listens).
  void SetLinks(std::string public_url, std::function<std::string(int64_t)> ack_url);

  // Reads what opening an incident for `watch_id` needs (its definition and last check-in)
  // on the desk's prefetch thread, so that the commit of the watch's deadline flip finds it in
  // memory instead of reading the store on the journal's writer thread. Never blocks (it is
  // called under the engine's shard lock). A prefetched read older than a committed change of
  // the watch (a check-in, a new definition) is not used.
  void Prefetch(const Uuid& watch_id);
  size_t prefetched() const;  // reads ready and not yet used (tests, metrics)
  // Watches in grace whose read, made for their flip to grace, is kept for their flip to
  // down (at most 32 MiB of them; dropped when a check-in or any change of the watch commits).
  // A flip to grace that committed without a read (the writer got there first) has its watch
  // read after that commit, on the prefetch thread, when no read for a commit waits.
  size_t read_ahead() const;

  // journal::CommitHook (writer thread).
  void BeforeCommit(std::vector<store::Mutation>& batch, size_t first_new) override;
  void AfterCommit(bool ok) override;

  // Fires every escalation step due at Clock::Now(). Returns how many fired.
  size_t Tick();
  // The earliest escalation step not fired yet (kNever if none): the auditor checks that it
  // is not far in the past.
  TimePoint NextDue() const;
  size_t active_incidents() const;

  // --- the API's changes: `done` runs after the change is committed (or failed).
  void Acknowledge(int64_t project_id, int64_t id, std::string by, IncidentDone done);
  void Unacknowledge(int64_t project_id, int64_t id, std::string by, IncidentDone done);
  void Resolve(int64_t project_id, int64_t id, std::string by, std::string reason,
               IncidentDone done);
  void AddNote(int64_t project_id, int64_t id, std::string by, std::string text,
               std::function<void(Result<model::TimelineEntry>)> done);

  // Channels, policies, silences (validated by the caller). `done` after commit.
  // Put* create or replace (by id); Delete* answer kNotFound if absent; DeleteChannel
  // answers kConflict while a policy uses the channel.
  void PutChannel(model::Channel channel, std::function<void(Status)> done);
  void DeleteChannel(int64_t project_id, const Uuid& id, std::function<void(Status)> done);
  void PutPolicy(model::Policy policy, std::function<void(Status)> done);
  void DeletePolicy(int64_t project_id, const Uuid& id, std::function<void(Status)> done);
  void PutSilence(model::Silence silence, std::function<void(Status)> done);
  void DeleteSilence(int64_t project_id, const Uuid& id, std::function<void(Status)> done);
  // Queues a "test" message to the channel; `done` gets the notification id once committed.
  void TestChannel(int64_t project_id, const Uuid& id, std::function<void(Result<int64_t>)> done);

  // Never waits for a commit in progress (the notifier calls it for every delivery).
  std::optional<model::Channel> FindChannel(const Uuid& id) const;
  std::vector<model::Channel> Channels(int64_t project_id) const;
  std::optional<model::Policy> FindPolicy(const Uuid& id) const;
  std::vector<model::Policy> Policies(int64_t project_id) const;
  std::optional<model::Silence> FindSilence(const Uuid& id) const;
  std::vector<model::Silence> Silences(int64_t project_id) const;  // not yet ended

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace overdue::incident
