// How many upstream sockets and sessions fit into the process's open-file limit: raises
// RLIMIT_NOFILE's soft limit to the hard one at start, then derives each worker's socket
// pool and session table from what is left after the descriptors the balancer always holds.
// plan_capacity() is pure, so the arithmetic has unit tests.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/dataplane_config.h"

namespace shortline {

struct WorkerCapacity {
  uint32_t sockets = 0;   // upstream sockets in the worker's pool
  uint32_t sessions = 0;  // session table entries (each open session holds a socket)
};

struct CapacityPlan {
  uint64_t files_limit = 0;      // RLIMIT_NOFILE (soft, after raising it)
  uint32_t files_reserved = 0;   // kept for listen sockets, rings, control, admin, stdio
  uint32_t sockets_room = 0;     // upstream sockets that fit in the limit
  uint32_t sockets_total = 0;    // opened, all workers together
  uint32_t sessions_total = 0;
  WorkerCapacity per_worker;
  std::string error;             // set when the config asks for more than fits
};

// With upstream_sockets 0 the pool is as large as fits, at most max_sessions, an eighth of
// the ephemeral port range (each socket holds a port; other programs, and a second
// balancer on the host, need ports too) and kAutoSocketsMax (4096 sockets carry 400 k
// requests/s at a 10 ms round trip).
inline constexpr uint32_t kAutoSocketsMax = 4096;
// ...and at most an eighth of the ephemeral port range: other programs on the host pick
// ports from it too, and each pooled socket holds one for the process's life.
inline constexpr uint32_t kAutoSocketsPortShare = 8;

[[nodiscard]] CapacityPlan plan_capacity(const DataplaneConfig& config, uint32_t workers,
                                         uint64_t files_limit, uint32_t ephemeral_ports);

struct FileLimit {
  uint64_t soft_before = 0;
  uint64_t soft = 0;  // after raising
  uint64_t hard = 0;
};
// Raises the soft RLIMIT_NOFILE to the hard limit (as systemd's LimitNOFILE=N:M and nginx's
// worker_rlimit_nofile intend) and returns the limits before and after.
FileLimit raise_file_limit();
// Ports in net.ipv4.ip_local_port_range (shared by IPv4 and IPv6); 28232, the kernel's
// default, when it cannot be read.
[[nodiscard]] uint32_t ephemeral_port_count();

}  // namespace shortline
