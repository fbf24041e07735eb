// The reference server's runtime: the listen socket, the receiver loop that fills the
// request queue, the worker threads that serve it, and the drain on stop.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "control/wire/messages.h"
#include "control/common/event_log_file.h"
#include "tools/server/reporter.h"
#include "tools/server/request_queue.h"
#include "tools/server/server_options.h"
#include "tools/server/service_model.h"

namespace shortline::tools {

struct ServerCounters {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> answered{0};
  std::atomic<uint64_t> echoed{0};  // answered by echo: the datagram was not a ClientRequest
  std::atomic<uint64_t> drop_queue_full{0};
  std::atomic<uint64_t> drop_oversize{0};
  std::atomic<uint64_t> send_errors{0};
};

class UdpServer {
 public:
  UdpServer(const ServerOptions& options, std::optional<wire::AuthKey> key, EventLog& log);
  ~UdpServer();
  UdpServer(const UdpServer&) = delete;
  UdpServer& operator=(const UdpServer&) = delete;

  // Binds the socket, starts the workers and the reporter. Exceptions are not used.
  [[nodiscard]] bool start(std::string& error);
  [[nodiscard]] const NetAddress& bound_address() const { return bound_; }
  // Serves until `stop_requested` becomes non-zero (SIGTERM/SIGINT), then drains: reports
  // DRAINING, finishes the queue (bounded by the drain timeout), reports LEAVING.
  // Returns true when the queue was finished, false when the drain timed out.
  bool run(const volatile std::sig_atomic_t& stop_requested);
  [[nodiscard]] const ServerCounters& counters() const { return counters_; }

 private:
  void receive_batch();
  void worker_loop(uint32_t worker_index);
  void serve(uint32_t slot, std::mt19937_64& rng, std::span<uint8_t> reply);
  bool drain();

  ServerOptions options_;
  std::optional<wire::AuthKey> key_;
  EventLog& log_;
  ServiceModel model_;
  RequestQueue queue_;
  ServiceTotals totals_;
  ServerCounters counters_;
  std::unique_ptr<Reporter> reporter_;
  std::vector<std::thread> workers_;
  std::atomic<bool> workers_stop_{false};
  std::atomic<uint64_t> last_receive_ns_{0};
  int fd_ = -1;
  NetAddress bound_;
};

}  // namespace shortline::tools
