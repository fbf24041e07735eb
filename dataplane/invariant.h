// The data plane's two assertion levels: SHORTLINE_INVARIANT is always on (a broken
// invariant in a bounded array or a list would corrupt state silently in release builds,
// where it matters most) and prints the condition before aborting; assert() stays for
// debug-only checks inside the per-packet path.
#pragma once

namespace shortline {

[[noreturn]] [[gnu::cold]] void invariant_failed(const char* condition, const char* file,
                                                 int line);

}  // namespace shortline

#define SHORTLINE_INVARIANT(condition)                                  \
  do {                                                                  \
    if (!(condition)) [[unlikely]]                                      \
      ::shortline::invariant_failed(#condition, __FILE__, __LINE__);    \
  } while (false)
