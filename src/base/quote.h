// Quote: a value as it appears in an error message — in double quotes, with quotes,
// backslashes and control characters escaped, so any input (an environment variable, a
// config value, a cron field) prints on one readable log line.
#pragma once

#include <string>
#include <string_view>

namespace overdue::base {

std::string Quote(std::string_view s);

}  // namespace overdue::base
