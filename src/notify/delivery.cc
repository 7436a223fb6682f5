#include "notify/delivery.h"

namespace overdue::notify {

std::string_view FailureReasonName(FailureReason r) {
  switch (r) {
    case FailureReason::kNone:
      return "";
    case FailureReason::kTimeout:
      return "timeout";
    case FailureReason::kRefused:
      return "refused";
    case FailureReason::kDns:
      return "dns";
    case FailureReason::kTls:
      return "tls";
    case FailureReason::kBlocked:
      return "blocked";
    case FailureReason::kRateLimited:
      return "rate_limited";
    case FailureReason::kClientError:
      return "4xx";
    case FailureReason::kServerError:
      return "5xx";
    case FailureReason::kCommandFailed:
      return "command_failed";
    case FailureReason::kProtocol:
      return "protocol";
  }
  return "protocol";
}

bool Retryable(FailureReason r) {
  return r != FailureReason::kClientError && r != FailureReason::kBlocked &&
         r != FailureReason::kNone;
}

}  // namespace overdue::notify
