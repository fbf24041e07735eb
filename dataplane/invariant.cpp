// The always-on assertion's failure path.
#include "dataplane/invariant.h"

#include <cstdio>
#include <cstdlib>

namespace shortline {

void invariant_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: shortline invariant failed: %s\n", file, line, condition);
  std::abort();
}

}  // namespace shortline
