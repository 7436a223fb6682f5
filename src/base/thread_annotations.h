// Clang thread-safety annotations (no-ops on other compilers). Checked by the clang CI leg
// with -Werror=thread-safety.
#pragma once

#if defined(__clang__)
#define OVERDUE_TSA(x) __attribute__((x))
#else
#define OVERDUE_TSA(x)
#endif

#define CAPABILITY(x) OVERDUE_TSA(capability(x))
#define SCOPED_CAPABILITY OVERDUE_TSA(scoped_lockable)
#define GUARDED_BY(x) OVERDUE_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) OVERDUE_TSA(pt_guarded_by(x))
#define REQUIRES(...) OVERDUE_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) OVERDUE_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) OVERDUE_TSA(release_capability(__VA_ARGS__))
#define EXCLUDES(...) OVERDUE_TSA(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS OVERDUE_TSA(no_thread_safety_analysis)
