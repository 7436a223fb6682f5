// Names the calling thread (what `top -H`, `ps -L`, perf and /proc/<pid>/task/*/comm show),
// so an operator can tell overdue's threads apart. Linux keeps at most 15 characters.
#pragma once

namespace overdue::base {

void NameThisThread(const char* name);

}  // namespace overdue::base
