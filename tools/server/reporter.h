// Sends ServerReports (queue length, workers, state, mean service time) to every balancer:
// periodically from its own thread, and at once on a state change. One connected UDP
// socket per balancer. Reports are milliseconds apart because a balancer between reports
// sees only its own in-flight count; stale reports herd every worker onto one server.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "control/wire/messages.h"
#include "control/common/event_log_file.h"
#include "tools/server/request_queue.h"

namespace shortline::tools {

// Served-request totals the workers add to; the reporter turns them into a mean per report.
struct ServiceTotals {
  std::atomic<uint64_t> served{0};
  std::atomic<uint64_t> service_us{0};
};

struct ReporterConfig {
  uint32_t server_id = 0;
  NetAddress data_address;  // advertised: where balancers send requests
  uint16_t workers = 1;
  uint32_t interval_ms = 2;
  uint64_t mean_service_us_initial = 0;
  std::optional<wire::AuthKey> key;
};

class Reporter {
 public:
  Reporter(ReporterConfig config, const std::vector<NetAddress>& balancers,
           const RequestQueue& queue, const ServiceTotals& totals, EventLog& log);
  ~Reporter();
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  // Opens the sockets and starts the periodic thread. False (with `error`) if a socket
  // cannot be opened.
  [[nodiscard]] bool start(std::string& error);
  // Changes the state and sends a report to every balancer from the calling thread.
  void publish(wire::ServerState state);
  // Stops the periodic thread (no more reports after it returns).
  void stop();
  [[nodiscard]] uint64_t reports_sent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  struct Target {
    NetAddress address;
    int fd = -1;
    bool failing = false;  // logged once per failure streak, not per report
    uint32_t successes = 0;  // consecutive sends since the last failure
  };
  void run();
  void send_all();  // caller holds send_mutex_
  uint32_t mean_service_us();

  ReporterConfig config_;
  std::vector<Target> targets_;
  const RequestQueue& queue_;
  const ServiceTotals& totals_;
  EventLog& log_;

  std::mutex send_mutex_;  // guards everything below and the sockets
  wire::ServerState state_ = wire::ServerState::up;
  uint64_t sequence_ = 0;
  uint64_t auth_sequence_ = 0;
  uint64_t last_served_ = 0;
  uint64_t last_service_us_ = 0;
  uint32_t mean_us_ = 0;
  double smoothed_us_ = -1;                  // below 0 until a request is served
  static constexpr double kMeanRequests = 64;  // the reported mean's memory, in requests

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

}  // namespace shortline::tools
