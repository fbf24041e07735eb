// Every limit and setting of the data plane, with its default. Filled by control/ from
// config.json and the command line, validated there, and fixed for the process's life:
// the data plane allocates everything from these numbers at start-up.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline {

enum class Policy : uint8_t { shortest_queue, power_of_two, round_robin, random };
enum class Affinity : uint8_t { packet, flow };

[[nodiscard]] std::string_view policy_name(Policy policy);
[[nodiscard]] std::string_view affinity_name(Affinity affinity);

struct BackendSpec {
  NetAddress address;
  uint32_t weight = 1;
};

struct DataplaneConfig {
  NetAddress listen;                       // where clients send (config: client_side_port)
  uint32_t workers = 0;                    // 0 = one per online CPU
  bool pin_workers = false;                // pin worker i to CPU i (mod CPU count)
  Policy policy = Policy::shortest_queue;
  Affinity affinity = Affinity::packet;
  uint32_t responses_per_request = 1;      // 0 = one-way traffic (syslog, statsd)
  uint32_t request_timeout_ms = 1000;      // unanswered requests stop counting as in flight
  uint32_t session_idle_timeout_ms = 30000;
  uint32_t max_sessions = 65536;           // all workers together
  uint32_t max_servers = 1024;             // server table slots
  uint32_t max_datagram_bytes = 4096;      // larger datagrams are counted and dropped
  uint32_t buffers_per_worker = 4096;      // provided-buffer ring entries (power of two)
  uint32_t batch_size_max = 64;            // completions handled per loop iteration
  uint32_t drain_timeout_ms = 2000;        // on SIGTERM, how long to wait for replies
  bool udp_gso = true;                     // runs of equal-size datagrams as one GSO send
  std::vector<BackendSpec> backends;       // static pool, registered at start

  // Limits checked here so that the data plane can assert them; control/ validates
  // user input against the same numbers and reports errors by key.
  static constexpr uint32_t kWorkersMax = 256;
  static constexpr uint32_t kServersMax = 65536;
  static constexpr uint32_t kSessionsMax = 1u << 24;
  static constexpr uint32_t kDatagramBytesMax = 65507;  // UDP over IPv4
  static constexpr uint32_t kBuffersPerWorkerMax = 32768;  // io_uring buffer ring limit
  static constexpr uint32_t kBatchSizeMax = 1024;
  static constexpr uint32_t kResponsesPerRequestMax = 1024;
};

}  // namespace shortline
