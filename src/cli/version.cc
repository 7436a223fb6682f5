#include "cli/version.h"

namespace overdue::cli {

const char* Version() { return OVERDUE_VERSION; }

}  // namespace overdue::cli
