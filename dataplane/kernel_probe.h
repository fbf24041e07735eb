// Start-up check that the running kernel has the io_uring features the data plane uses.
#pragma once

#include <string>

namespace shortline {

// Returns an empty string when everything is there, otherwise one line naming what is
// missing (and the kernel version that brings it).
[[nodiscard]] std::string probe_kernel_features();

}  // namespace shortline
