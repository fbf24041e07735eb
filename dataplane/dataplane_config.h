// Every limit and setting of the data plane, with its default. Filled by control/ from
// config.json and the command line, validated there, and fixed for the process's life:
// the data plane allocates everything from these numbers at start-up.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline {

enum class Policy : uint8_t { shortest_queue, power_of_two, round_robin, random, maglev };
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
  // maglev: a new flow whose server's load is above this times the mean load per UP
  // server goes on along its preference list (consistent hashing with bounded loads);
  // 0 = off, else at least 1.
  double maglev_load_bound = 2.0;
  uint32_t responses_per_request = 1;      // 0 = one-way traffic (syslog, statsd)
  uint32_t request_timeout_ms = 1000;      // unanswered requests stop counting as in flight
  uint32_t session_idle_timeout_ms = 30000;  // flow affinity: an answered session idle this long
  uint32_t session_unreplied_timeout_ms = 3000;  // flow affinity: a never-answered one, idle
  uint32_t max_sessions = 65536;           // all workers together
  // Upstream sockets, all workers together, opened at start; 0 = as many as RLIMIT_NOFILE
  // leaves room for (at most max_sessions). Each open session holds one.
  uint32_t upstream_sockets = 0;
  // A socket whose request went unanswered (timed out, evicted) is not reused towards the
  // same server for this long, so a late reply never reaches the socket's next user.
  uint32_t late_reply_quarantine_ms = 2000;
  // Per-source admission, per worker (0 = no limit). A source is an IP address; a prefix
  // is its /24 (IPv4) or /56 (IPv6).
  uint32_t source_requests_per_s = 0;      // token bucket on requests per source address
  uint32_t source_requests_burst = 0;      // bucket depth; 0 = one second's worth
  uint32_t source_sessions_per_s = 0;      // token bucket on new sessions per source address
  uint32_t prefix_requests_per_s = 0;      // token bucket on requests per prefix
  uint32_t peer_balancers = 0;             // other balancers in front of the same servers
  bool fail_open = true;                   // no server UP: place on those DOWN for silence
  uint32_t source_sessions_max = 0;        // open sessions per source; 0 = 1/4 of a worker's
  uint32_t socket_buffer_bytes = 4u << 20; // SO_RCVBUF and SO_SNDBUF of each listen socket
  uint32_t timer_work_max = 256;           // sessions a timer pass may close per iteration
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
  static constexpr uint32_t kPeerBalancersMax = 63;  // controller.balancers holds at most 64
  static constexpr uint32_t kDatagramBytesMax = 65507;  // UDP over IPv4
  static constexpr uint32_t kBuffersPerWorkerMax = 32768;  // io_uring buffer ring limit
  static constexpr uint32_t kBatchSizeMax = 1024;
  static constexpr uint32_t kResponsesPerRequestMax = 1024;
  static constexpr uint32_t kSocketBufferBytesMin = 4096;
  static constexpr uint32_t kSocketBufferBytesMax = 1u << 30;
  static constexpr uint32_t kTimerWorkMax = 1u << 20;
  static constexpr uint32_t kRateMax = 100'000'000;
  static constexpr double kMaglevLoadBoundMax = 100;  // per second, for the source limits
  // Always-on sockets and descriptors besides the upstream pool: listen sockets, rings,
  // the control and admin sockets, log files, stdio.
  static constexpr uint32_t kFilesReservedBase = 64;
  static constexpr uint32_t kFilesReservedPerWorker = 4;
};

}  // namespace shortline
