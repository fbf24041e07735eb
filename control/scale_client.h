// Sends the balancer's ScaleRequests to the controller (controller.address:port) and
// retries each with exponential backoff until a ScaleReply with its sequence arrives, or
// gives up after a bounded number of attempts. At most one request is outstanding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "control/control_counters.h"
#include "control/wire/messages.h"

namespace shortline {

struct ScaleClientConfig {
  uint16_t controller_port = 55000;  // 0 = off (decisions are counted only)
  std::string controller_host = "127.0.0.1";  // controller.address (checked by the loader)
  std::optional<wire::AuthKey> key;  // sign requests, and accept only signed replies
  uint32_t sender_id = 0;            // this balancer's auth sender id
  int64_t retry_initial_ms = 50;     // first resend after this; doubles each time
  int64_t retry_max_ms = 1000;
  uint32_t attempts_max = 20;        // sends per request, the first included (~15 s)
};

class ScaleClient {
 public:
  ScaleClient(ScaleClientConfig config, ControlCounters& counters);
  ~ScaleClient();
  ScaleClient(const ScaleClient&) = delete;
  ScaleClient& operator=(const ScaleClient&) = delete;

  // Opens a UDP socket connected to the controller. "" on success (or when off).
  [[nodiscard]] std::string open();
  [[nodiscard]] bool enabled() const { return config_.controller_port != 0; }
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] bool busy() const { return outstanding_.has_value(); }
  [[nodiscard]] const ScaleClientConfig& config() const { return config_; }

  // Sends `request` with the next sequence (returned). Requires enabled() and !busy().
  uint64_t request(wire::ScaleRequest request, int64_t now_ms);
  // Reads what the socket holds; returns the reply that completed the outstanding request.
  [[nodiscard]] std::optional<wire::ScaleReply> on_readable(int64_t now_ms);
  // Resends when due; gives up after attempts_max sends (then returns true, once).
  [[nodiscard]] bool tick(int64_t now_ms);

 private:
  void send_outstanding();

  ScaleClientConfig config_;
  ControlCounters& counters_;
  int fd_ = -1;
  uint64_t next_sequence_;
  uint64_t auth_sequence_;
  wire::ReplayGuard reply_guard_{8};
  std::optional<wire::ScaleRequest> outstanding_;
  uint32_t attempts_ = 0;
  int64_t next_send_ms_ = 0;
};

}  // namespace shortline
