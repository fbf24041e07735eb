// The one declared list of data-plane counters. Every dropped packet bumps exactly one
// drop counter, named by its reason; the other counters describe the traffic. Each worker
// owns a WorkerStats (single writer, relaxed atomics) and readers sum them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace shortline {

// X(name, help): datagrams dropped, by reason.
#define SHORTLINE_DROP_COUNTERS(X)                                                          \
  X(drop_no_server, "request dropped: no UP server in the pool")                           \
  X(drop_session_table_full, "request dropped: session table full, nothing evictable")     \
  X(drop_datagram_oversize, "datagram dropped: larger than max_datagram_bytes")             \
  X(drop_bad_source, "request dropped: its source is neither IPv4 nor IPv6")                \
  X(drop_upstream_socket, "request dropped: no upstream socket free (busy or quarantined)") \
  X(drop_upstream_send, "request dropped: send to the server failed")                     \
  X(drop_client_send, "reply dropped: send to the client failed")                         \
  X(drop_reply_no_session, "reply dropped: no session holds its socket (a late reply)")    \
  X(drop_reply_wrong_source, "reply dropped: not from the server its session sent to")    \
  X(drop_source_rate, "request dropped: its source is over source_requests_per_s")        \
  X(drop_prefix_rate, "request dropped: its /24 or /56 is over prefix_requests_per_s")     \
  X(drop_source_sessions, "request dropped: its source is over its new or open sessions") \
  X(drop_source_table_full, "request dropped: no room to track its source address")        \
  X(drop_kernel_receive_queue, "datagram dropped by the kernel: listen socket queue full")

// X(name, help): traffic and session events.
#define SHORTLINE_EVENT_COUNTERS(X)                                                         \
  X(requests_received, "datagrams received from clients")                                  \
  X(requests_forwarded, "requests sent to a server")                                       \
  X(replies_received, "datagrams received from servers")                                   \
  X(replies_forwarded, "replies sent to clients")                                          \
  X(replies_unexpected, "replies beyond the expected responses per request (forwarded)")  \
  X(requests_timed_out, "requests whose replies did not come within request_timeout_ms") \
  X(sessions_created, "sessions opened")                                                   \
  X(sessions_completed, "sessions closed as soon as every expected reply came (packet)")   \
  X(sessions_expired, "sessions closed by a timeout: idle, unreplied or timed out")        \
  X(sessions_evicted, "sessions closed early to make room (unreplied ones first)")        \
  X(upstream_refused, "ECONNREFUSED seen on an upstream socket (server port closed)")      \
  X(receive_rearmed, "multishot receives re-armed (buffer ring ran dry or kernel ended it)") \
  X(flows_bounded_moves,                                                                    \
    "new flows placed past their Maglev server: it was over maglev_load_bound")              \
  X(requests_fail_open,                                                                     \
    "requests placed on a server DOWN for missed reports: none was UP (fail_open)")

enum class Counter : uint16_t {
#define SHORTLINE_COUNTER_ENUM(name, help) name,
  SHORTLINE_DROP_COUNTERS(SHORTLINE_COUNTER_ENUM) SHORTLINE_EVENT_COUNTERS(SHORTLINE_COUNTER_ENUM)
#undef SHORTLINE_COUNTER_ENUM
      count
};

inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::count);

struct CounterInfo {
  std::string_view name;
  std::string_view help;
  bool is_drop;
};

inline constexpr std::array<CounterInfo, kCounterCount> kCounterInfo = {{
#define SHORTLINE_DROP_INFO(name, help) {#name, help, true},
#define SHORTLINE_EVENT_INFO(name, help) {#name, help, false},
    SHORTLINE_DROP_COUNTERS(SHORTLINE_DROP_INFO) SHORTLINE_EVENT_COUNTERS(SHORTLINE_EVENT_INFO)
#undef SHORTLINE_DROP_INFO
#undef SHORTLINE_EVENT_INFO
}};

// One worker's counters: written only by that worker, read by anyone.
struct alignas(64) WorkerStats {
  std::array<std::atomic<uint64_t>, kCounterCount> values{};
  std::atomic<uint64_t> sessions_open{0};     // gauge
  std::atomic<uint64_t> sessions_pending{0};  // gauge: sessions awaiting replies
  std::atomic<uint64_t> sockets_busy{0};      // gauge: upstream sockets held by sessions
  std::atomic<uint64_t> sockets_quarantined{0};  // gauge: waiting out late replies
  std::atomic<uint64_t> batches{0};          // loop iterations that received datagrams
  std::atomic<uint64_t> batch_datagrams{0};  // the datagrams those iterations received

  void add_batch(uint64_t datagrams) {
    batches.store(batches.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    batch_datagrams.store(batch_datagrams.load(std::memory_order_relaxed) + datagrams,
                          std::memory_order_relaxed);
  }
  void add(Counter counter, uint64_t amount = 1) {
    auto& value = values[static_cast<std::size_t>(counter)];
    value.store(value.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  void set(Counter counter, uint64_t amount) {
    values[static_cast<std::size_t>(counter)].store(amount, std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t get(Counter counter) const {
    return values[static_cast<std::size_t>(counter)].load(std::memory_order_relaxed);
  }
};

// A plain sum of counters, for printing and tests.
struct StatsTotals {
  std::array<uint64_t, kCounterCount> values{};
  [[nodiscard]] uint64_t operator[](Counter counter) const {
    return values[static_cast<std::size_t>(counter)];
  }
  uint64_t sessions_open = 0;
  uint64_t sessions_pending = 0;
  uint64_t sockets_busy = 0;
  uint64_t sockets_quarantined = 0;
  uint64_t batches = 0;
  uint64_t batch_datagrams = 0;
  [[nodiscard]] uint64_t drops() const;
  void add(const StatsTotals& other);
};

}  // namespace shortline
