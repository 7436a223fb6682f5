// A flip: one durable change of a watch's stored status (healthchecks' Flip).
#pragma once

#include <string>

#include "base/time.h"
#include "base/uuid.h"
#include "model/watch.h"

namespace overdue::model {

struct Flip {
  base::Uuid watch_id;
  base::TimePoint at{};  // when the change took effect (the deadline, for a timeout)
  Status old_status = Status::kNew;
  Status new_status = Status::kNew;
  // "fail" (a fail/exit signal), "timeout" (a missed deadline), "" otherwise.
  std::string reason;
  // A deadline that passed while the server was down is detected at start-up, late;
  // `at` is still the deadline, `detected_at` is when it was noticed.
  bool detected_late = false;
  base::TimePoint detected_at{};
};

}  // namespace overdue::model
