// Signed, expiring acknowledgement links (/ack/<token>): put in every notification so the
// person who reads it can acknowledge without an API key. The token names the incident and
// the expiry and carries an HMAC-SHA256 of both under the server's secret: it cannot be
// forged or stretched, and it stops working at its expiry. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/time.h"

namespace overdue::api {

// "<incident id>.<expiry, unix seconds>.<signature>", URL-safe.
std::string MakeAckToken(std::string_view secret, int64_t incident_id, base::TimePoint expires);

// The incident id, or kNotFound (malformed or forged) or kConflict ("expired").
base::Result<int64_t> CheckAckToken(std::string_view secret, std::string_view token,
                                    base::TimePoint now);

}  // namespace overdue::api
