// Assertions on beliefs about our own code, never on input. OVERDUE_DCHECK is compiled
// only in debug builds (cheap invariants on hot paths); OVERDUE_CHECK is always on and
// aborts with the location (a broken invariant must not silently corrupt the store).
#pragma once

#include <cstdio>
#include <cstdlib>

#define OVERDUE_CHECK(cond)                                                         \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

#ifdef NDEBUG
#define OVERDUE_DCHECK(cond) \
  do {                       \
  } while (0 && (cond))
#else
#define OVERDUE_DCHECK(cond) OVERDUE_CHECK(cond)
#endif
