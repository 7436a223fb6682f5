// The version of this build ("0.1.0"), from the project version in the top CMakeLists.txt.
#pragma once

namespace overdue::cli {

const char* Version();

}  // namespace overdue::cli
