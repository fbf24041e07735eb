// Active health checks for static backends, in the manner of dnsdist, keepalived and nginx
// Plus: a configured probe datagram every interval, judged by whether a matching reply comes
// back in time; `fall` failures in a row make a target unhealthy, `rise` successes healthy.
// Single-threaded (the control thread drives tick()); times are passed in as arguments so
// that tests drive it, and nothing in it blocks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "control/health_check_config.h"
#include "dataplane/net_address.h"

namespace shortline {

// X(name, help): the checker's counters: probe results summed over targets, and each thing
// it dropped or put off.
#define SHORTLINE_HEALTH_CHECK_COUNTERS(X)                                                  \
  X(probes_sent, "health probes sent")                                                      \
  X(probes_ok, "health probes answered in time with a matching reply")                      \
  X(probes_failed, "health probes failed (timeout, wrong reply, ICMP error, send error)")   \
  X(replies_unexpected, "datagrams from no target, or from a target with no probe waiting") \
  X(errors_unexpected, "ICMP errors for no target, or a target with no probe waiting")      \
  X(receive_errors, "receive calls that failed with something other than EAGAIN")           \
  X(send_deferred, "probe sends put off to the next tick (EAGAIN, ENOBUFS, send bound)")    \
  X(drain_bound_reached, "ticks that left datagrams queued: per-tick receive bound reached")

enum class HealthCheckCounter : uint8_t {
#define SHORTLINE_HEALTH_CHECK_COUNTER_ENUM(name, help) name,
  SHORTLINE_HEALTH_CHECK_COUNTERS(SHORTLINE_HEALTH_CHECK_COUNTER_ENUM)
#undef SHORTLINE_HEALTH_CHECK_COUNTER_ENUM
      count
};

inline constexpr std::size_t kHealthCheckCounterCount =
    static_cast<std::size_t>(HealthCheckCounter::count);

struct HealthCheckCounterInfo {
  std::string_view name;  // "health_probes_sent", ...: prefixed to sit beside other counters
  std::string_view help;
};

inline constexpr std::array<HealthCheckCounterInfo, kHealthCheckCounterCount>
    kHealthCheckCounterInfo = {{
#define SHORTLINE_HEALTH_CHECK_COUNTER_INFO(name, help) {"health_" #name, help},
        SHORTLINE_HEALTH_CHECK_COUNTERS(SHORTLINE_HEALTH_CHECK_COUNTER_INFO)
#undef SHORTLINE_HEALTH_CHECK_COUNTER_INFO
    }};

// Sockets: one per address family in use, opened by the first add_target of that family,
// nonblocking, unconnected and bound to the wildcard address with port 0. The IPv6 one is
// IPV6_V6ONLY: IPv4-mapped targets ([::ffff:a.b.c.d]:p) are probed as plain IPv4 through the
// IPv4 socket, so every address compared is in one canonical form. IP_RECVERR/IPV6_RECVERR
// put ICMP errors (port unreachable and the like) on the error queue, read with
// MSG_ERRQUEUE; the original destination in msg_name names the target that failed. The
// kernel also raises such an error once on the socket's next send or receive, whatever
// target that is for: a send retries once, a receive skips it.
//
// A reply is matched by its source address and port only (UDP probes carry no id), so a
// backend must answer from the address it is probed at, and a reply that comes later than
// the timeout but while the next probe waits counts for that probe. One probe is outstanding
// per target; replies while none waits are counted in replies_unexpected.
class HealthChecker {
 public:
  explicit HealthChecker(HealthCheckConfig config);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts probing `address` for `slot` (first probe on the next tick at or after now_ms),
  // healthy. Replaces what `slot` held. Returns "" or what failed: checks off, a family other
  // than IPv4/IPv6, an address another slot is probing, or the socket (errno text).
  [[nodiscard]] std::string add_target(uint32_t slot, const NetAddress& address, int64_t now_ms);
  // Stops probing `slot`; its pending transition, if any, is dropped. Unknown slots: no-op.
  void remove_target(uint32_t slot);

  // Call every ~1 ms: reads both sockets' error queues and datagrams (at most
  // kReceivesPerTickMax each), times out waiting probes, sends due ones (at most
  // kSendsPerTickMax; the rest go next tick). Never blocks.
  void tick(int64_t now_ms);

  struct Transition {
    uint32_t slot;
    bool healthy;
    std::string reason;  // "health check: 3 failures (timeout)", "health check: 2 successes"
  };
  // The targets whose health differs from what the last call returned, in slot order. A
  // target that flipped and flipped back between two calls is not listed.
  [[nodiscard]] std::vector<Transition> take_transitions();

  struct TargetStatus {
    bool healthy = true;
    uint32_t successes_in_row = 0;
    uint32_t failures_in_row = 0;
    uint64_t probes_sent = 0;  // started, a failed send included: = ok + failed (+ 1 waiting)
    uint64_t probes_ok = 0;
    uint64_t probes_failed = 0;
    // "timeout", "wrong reply", "refused", "unreachable: <errno text>", "send: <errno text>"
    // or "" before the first failure.
    std::string last_failure;
    double last_rtt_ms = -1;  // of the last matching reply, at tick resolution; -1 = none yet
  };
  [[nodiscard]] std::optional<TargetStatus> status(uint32_t slot) const;
  [[nodiscard]] std::size_t target_count() const { return targets_.size(); }

  [[nodiscard]] uint64_t counter(HealthCheckCounter c) const {
    return counters_[static_cast<std::size_t>(c)];
  }
  [[nodiscard]] uint64_t unexpected_replies() const {
    return counter(HealthCheckCounter::replies_unexpected);
  }
  // The local address of the socket for `family` (family 0 when it is not open).
  [[nodiscard]] NetAddress local_address(int family) const;

  static constexpr int kReceivesPerTickMax = 256;  // per socket and queue: a flood cannot stall
  static constexpr int kSendsPerTickMax = 256;     // spreads a large first round over ticks

 private:
  struct Target {
    uint32_t slot = 0;
    NetAddress address;
    std::size_t socket = 0;  // index into fds_
    bool awaiting = false;   // a probe is out
    int64_t sent_ms = 0;
    int64_t next_send_ms = 0;
    bool reported_healthy = true;  // as take_transitions last returned it
    std::string transition_reason;
    TargetStatus status;
  };
  struct AddressHash {
    std::size_t operator()(const NetAddress& address) const { return address.hash(); }
  };

  [[nodiscard]] std::string open_socket(std::size_t socket, int family);
  void drain_errors(std::size_t socket, int64_t now_ms);
  void drain_replies(std::size_t socket, int64_t now_ms);
  void on_reply(const NetAddress& source, std::span<const uint8_t> reply, int64_t now_ms);
  void on_error(const NetAddress& destination, int error, int64_t now_ms);
  void expire_and_send(int64_t now_ms);
  void send_probe(Target& target, int64_t now_ms);
  void end_probe(Target& target, int64_t now_ms);
  void succeed(Target& target, int64_t now_ms);
  void fail(Target& target, std::string why, int64_t now_ms);
  void set_health(Target& target, bool healthy, std::string reason);
  void add(HealthCheckCounter c) { ++counters_[static_cast<std::size_t>(c)]; }
  [[nodiscard]] Target* awaiting_target(const NetAddress& address);

  HealthCheckConfig config_;
  std::array<int, 2> fds_{-1, -1};                     // [0] IPv4, [1] IPv6
  std::vector<Target> targets_;                        // dense; removal swaps in the last
  std::unordered_map<uint32_t, std::size_t> by_slot_;  // slot -> index into targets_
  std::unordered_map<NetAddress, std::size_t, AddressHash> by_address_;
  std::vector<uint8_t> reply_buffer_;    // sized once: as much of a reply as the match reads
  std::size_t transitions_pending_ = 0;  // targets with healthy != reported_healthy
  // The earliest timeout or due send; tick() skips the scan of every target until then.
  int64_t next_event_ms_ = std::numeric_limits<int64_t>::max();
  std::array<uint64_t, kHealthCheckCounterCount> counters_{};
};

}  // namespace shortline
