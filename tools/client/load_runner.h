// The client's send/receive loop, single-threaded on one connected UDP socket: issues
// requests open loop (at a rate) or closed loop (keeping C outstanding), retries timed-out
// attempts within the retry budget, matches replies and tallies a ClientSummary.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "tools/client/arrival_schedule.h"
#include "tools/client/client_options.h"
#include "tools/client/latency_histogram.h"
#include "tools/client/request_tracker.h"
#include "control/common/event_log_file.h"

namespace shortline::tools {

struct ServerCount {
  uint32_t server_id = 0;
  uint64_t answered = 0;
};

struct ClientSummary {
  uint64_t requests = 0;      // requests issued (first attempts)
  uint64_t sent = 0;          // datagrams sent, retries included
  uint64_t answered = 0;
  uint64_t retried = 0;       // retry datagrams sent
  uint64_t retry_denied = 0;  // timeouts not retried because the budget was spent
  uint64_t failed = 0;        // gave up: attempts or budget exhausted, or the run ended
  uint64_t duplicates = 0;    // replies for an already answered request
  uint64_t late = 0;          // replies for a request already given up
  uint64_t skipped = 0;       // open loop: not issued, --max-outstanding reached
  uint64_t send_errors = 0;
  uint64_t foreign = 0;       // datagrams that were no reply of ours
  uint64_t echo_answers = 0;  // answered by an echo (our request came back unchanged)
  std::vector<ServerCount> servers;  // answers per responding server id (first 64 ids)
  uint64_t servers_other = 0;        // answers from server ids beyond the first 64
  uint64_t queue_wait_us_total = 0;  // as the servers reported in ClientResponses
  uint64_t service_us_total = 0;
  uint64_t timed_responses = 0;
  // Each answer's time at its server (queue wait + service): what placement decides,
  // without the network path and the balancer's own scheduling.
  LatencyHistogram server_side;
  uint64_t elapsed_ns = 0;
  LatencyHistogram latency;
};

class LoadRunner {
 public:
  LoadRunner(const ClientOptions& options, EventLog& log);
  ~LoadRunner();
  LoadRunner(const LoadRunner&) = delete;
  LoadRunner& operator=(const LoadRunner&) = delete;

  [[nodiscard]] bool open(std::string& error);
  // Runs until the request count or duration is reached and every request is answered or
  // given up (bounded: attempts x (timeout + backoff) after the last issue).
  void run();
  [[nodiscard]] const ClientSummary& summary() const { return summary_; }

 private:
  void issue_due(uint64_t now_ns);
  void issue(uint64_t now_ns);
  bool send_request(uint64_t request_id, uint64_t now_ns);
  void handle_timers(uint64_t now_ns);
  void receive_all(uint64_t now_ns);
  void on_datagram(std::span<const uint8_t> datagram, uint64_t now_ns);
  void count_server(uint32_t server_id);
  [[nodiscard]] uint64_t next_wake_ns(uint64_t now_ns) const;

  ClientOptions options_;
  EventLog& log_;
  int fd_ = -1;
  RequestTracker tracker_;
  RetryBudget budget_;
  std::mt19937_64 rng_;
  ArrivalSchedule arrivals_;  // open loop: when the next request is due
  std::vector<uint8_t> send_buffer_;
  std::vector<uint8_t> receive_buffer_;
  ClientSummary summary_;

  uint64_t start_ns_ = 0;
  uint64_t issue_end_ns_ = 0;  // duration bound
  uint64_t scheduled_ = 0;     // open loop: issued + skipped
  uint64_t next_request_id_ = 1;
  bool issuing_ = true;
  uint64_t issuing_stopped_ns_ = 0;
  uint64_t grace_ns_ = 0;
  bool send_failing_ = false;  // logged once per failure streak
};

}  // namespace shortline::tools
