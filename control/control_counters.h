// The one declared list of control-plane counters (reports, health, scaling). The control
// thread is the only writer; status readers load them relaxed from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/wire/messages.h"

namespace shortline {

// X(name, help): events of the control thread. Rejected reports add one counter per wire
// reason below (reports_rejected_<reason>), generated from SHORTLINE_WIRE_ERRORS.
#define SHORTLINE_CONTROL_COUNTERS(X)                                                       \
  X(reports_accepted, "ServerReports accepted")                                            \
  X(reports_from_disallowed_source, "control datagrams dropped: source not allowed")      \
  X(reports_unexpected_type, "well-formed control messages that are not ServerReports")   \
  X(reports_stale, "ServerReports older than the last one accepted from that server")     \
  X(reports_ignored_leaving, "LEAVING reports from servers not (or no longer) registered") \
  X(reports_address_conflict, "reports naming a data address another server id holds")    \
  X(servers_registered, "servers registered by their first report")                      \
  X(servers_readdressed, "registered servers that reported a new data address")           \
  X(servers_table_full, "reports from new servers dropped: server table full")            \
  X(servers_draining, "servers that reported DRAINING or LEAVING")                        \
  X(servers_down, "servers marked DOWN (for any reason below)")                           \
  X(servers_down_silent, "servers marked DOWN: missed_reports report intervals of silence") \
  X(servers_down_refused, "servers marked DOWN: upstream sockets kept getting ECONNREFUSED") \
  X(servers_down_timeouts, "servers marked DOWN: timeouts_down timeouts with no reply between") \
  X(servers_ejected, "servers ejected as outliers (failure rate far above the pool's)")   \
  X(servers_down_check, "servers marked DOWN by a failed active health check")          \
  X(control_stalls, "control thread not scheduled for over 10 ms (not counted as silence)") \
  X(probes_armed, "half-open probe requests allowed to DOWN servers (one at a time)")    \
  X(probes_failed, "half-open probes that timed out")                                    \
  X(servers_up_again, "DOWN servers back UP (reported, answered a probe, check passed, ejection over)") \
  X(servers_removed, "servers removed: left and drained, or DOWN for too long")          \
  X(backends_added, "static backends added by a reload or the admin endpoint")          \
  X(backends_removed, "static backends removed by a reload or the admin endpoint (then drained)") \
  X(operator_drains, "servers drained by the operator (admin endpoint, shortline-ctl)")  \
  X(reloads, "configuration reloads applied (SIGHUP or the admin endpoint)")            \
  X(reloads_rejected, "reloads refused: the new file did not load; the old config stays") \
  X(scale_decisions_add, "scaling decisions to add a server")                             \
  X(scale_decisions_remove, "scaling decisions to remove a server")                       \
  X(scale_requests_sent, "ScaleRequests sent (first attempts)")                           \
  X(scale_requests_retried, "ScaleRequests sent again (no reply yet)")                    \
  X(scale_requests_abandoned, "ScaleRequests given up after the last retry")             \
  X(scale_send_errors, "ScaleRequest sends that failed (controller not listening, ...)") \
  X(scale_replies, "ScaleReplies matching the outstanding request")                       \
  X(scale_replies_unexpected, "ScaleReplies for no outstanding request (late, duplicate)") \
  X(scale_replies_rejected, "controller datagrams rejected by the decoder")

enum class ControlCounter : uint16_t {
#define SHORTLINE_CONTROL_COUNTER_ENUM(name, help) name,
  SHORTLINE_CONTROL_COUNTERS(SHORTLINE_CONTROL_COUNTER_ENUM)
#undef SHORTLINE_CONTROL_COUNTER_ENUM
#define SHORTLINE_CONTROL_REJECT_ENUM(name, help) reports_rejected_##name,
  SHORTLINE_WIRE_ERRORS(SHORTLINE_CONTROL_REJECT_ENUM)
#undef SHORTLINE_CONTROL_REJECT_ENUM
      count
};

inline constexpr std::size_t kControlCounterCount = static_cast<std::size_t>(ControlCounter::count);

struct ControlCounterInfo {
  std::string_view name;
  std::string_view help;
};

inline constexpr std::array<ControlCounterInfo, kControlCounterCount> kControlCounterInfo = {{
#define SHORTLINE_CONTROL_COUNTER_INFO(name, help) {#name, help},
    SHORTLINE_CONTROL_COUNTERS(SHORTLINE_CONTROL_COUNTER_INFO)
#undef SHORTLINE_CONTROL_COUNTER_INFO
#define SHORTLINE_CONTROL_REJECT_INFO(name, help) {"reports_rejected_" #name, help},
    SHORTLINE_WIRE_ERRORS(SHORTLINE_CONTROL_REJECT_INFO)
#undef SHORTLINE_CONTROL_REJECT_INFO
}};

// The counter for a datagram the decoder rejected (error != ok).
[[nodiscard]] constexpr ControlCounter rejected_counter(wire::WireError error) {
  // WireError numbers its reasons from 1 in the order of SHORTLINE_WIRE_ERRORS.
  return static_cast<ControlCounter>(
      static_cast<std::size_t>(ControlCounter::reports_rejected_truncated) +
      static_cast<std::size_t>(error) - 1);
}

// Single writer (the control thread), any number of readers.
class ControlCounters {
 public:
  void add(ControlCounter counter, uint64_t amount = 1) {
    auto& value = values_[static_cast<std::size_t>(counter)];
    value.store(value.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t get(ControlCounter counter) const {
    return values_[static_cast<std::size_t>(counter)].load(std::memory_order_relaxed);
  }
  // Every counter by name, in declaration order.
  [[nodiscard]] std::vector<std::pair<std::string, uint64_t>> named() const {
    std::vector<std::pair<std::string, uint64_t>> out;
    out.reserve(kControlCounterCount);
    for (std::size_t c = 0; c < kControlCounterCount; ++c)
      out.emplace_back(std::string(kControlCounterInfo[c].name),
                       values_[c].load(std::memory_order_relaxed));
    return out;
  }

 private:
  std::array<std::atomic<uint64_t>, kControlCounterCount> values_{};
};

static_assert(rejected_counter(wire::WireError::truncated) ==
              ControlCounter::reports_rejected_truncated);
static_assert(static_cast<std::size_t>(rejected_counter(wire::WireError::sender_table_full)) ==
              kControlCounterCount - 1);

}  // namespace shortline
