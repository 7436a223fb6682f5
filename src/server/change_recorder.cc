#include "server/change_recorder.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

namespace overdue::server {

namespace {

// Completes `done` once, with the first success of two ways to durability, or with the
// second failure when both failed.
class FirstSuccess {
 public:
  explicit FirstSuccess(engine::Done done) : done_(std::move(done)) {}
  void Complete(const base::Status& st) {
    const bool last = left_.fetch_sub(1) == 1;
    if ((st.ok() || last) && !fired_.exchange(true)) done_(st);
  }

 private:
  engine::Done done_;
  std::atomic<int> left_{2};
  std::atomic<bool> fired_{false};
};

}  // namespace

ChangeRecorder::ChangeRecorder(journal::Journal& journal, journal::CheckInLog* log,
                               int history_limit, int64_t max_log_outstanding,
                               base::Counter* logged)
    : journal_(journal),
      log_(log),
      history_limit_(history_limit),
      prune_every_(std::max(1, history_limit / 10)),
      max_log_outstanding_(max_log_outstanding),
      logged_(logged) {}

void ChangeRecorder::Record(engine::Change&& change, engine::Done done) {
  std::vector<store::Mutation> m;
  m.reserve(3);
  if (change.removed) {
    m.emplace_back(store::DeleteWatch{change.watch_id});
  } else if (change.spec) {
    m.emplace_back(store::UpsertWatch{model::Watch{std::move(*change.spec), change.runtime}});
  } else {
    m.emplace_back(store::UpdateRuntime{change.watch_id, change.runtime});
  }
  const bool deadline_flip =
      change.flip && !change.check_in && !change.spec && !change.removed && !done;
  const bool plain_check_in = change.check_in && !change.flip && !change.spec && !change.removed &&
                              change.check_in->signal != model::Signal::kFail;
  std::function<void()> durable;
  if (log_ && plain_check_in && done && journal_.bulk_busy() && journal_.healthy() &&
      log_->healthy() && log_->outstanding() < max_log_outstanding_) {
    auto first = std::make_shared<FirstSuccess>(std::move(done));
    const uint64_t segment =
        log_->Append(journal::LoggedCheckIn{change.watch_id, change.runtime, *change.check_in},
                     [first](base::Status st) { first->Complete(st); });
    done = [first](base::Status st) { first->Complete(st); };
    durable = [log = log_, segment] { log->Release(segment); };
    if (logged_) logged_->Inc();
  }
  int64_t n = 0;
  if (change.check_in) {
    n = change.check_in->n;
    m.emplace_back(store::InsertCheckIn{std::move(*change.check_in)});
  }
  if (deadline_flip && prefetch_) prefetch_(change.watch_id);
  if (change.flip) m.emplace_back(store::InsertFlip{std::move(*change.flip)});
  journal_.Submit(std::move(m), std::move(done),
                  deadline_flip ? journal::Lane::kBulk : journal::Lane::kNormal, &change.watch_id,
                  std::move(durable));
  // Prune a watch's history every tenth of the limit, so the table stays within
  // limit + limit/10 rows per watch without a delete per check-in.
  if (n > history_limit_ && n % prune_every_ == 0) journal_.RequestPrune(change.watch_id, n);
}

}  // namespace overdue::server
