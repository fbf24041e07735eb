// The demo's terminal view, refreshed every second: each server's id, state, queue, speed
// and requests served (from the balancer's GET /api/status, or from what the controller
// itself knows when that is unreachable), the server count over time as a sparkline, and
// the latest events. Parsing and rendering are pure; only StatusPoller touches the network.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline::controller {

struct ViewServer {
  uint32_t id = 0;
  std::string address;
  std::string state;       // "up", "draining", "down" from the balancer; ours otherwise
  int64_t queue = -1;      // reported queue; -1 = unknown
  int64_t in_flight = -1;  // the balancer's requests there; -1 = unknown
  double speed = -1;       // relative speed the balancer learnt; < 0 = unknown
  int64_t requests = -1;   // dispatched there; -1 = unknown
};

struct ViewFrame {
  double elapsed_s = 0;
  double duration_s = 0;    // 0: no end set
  double offered_rps = -1;  // the demo clients' rate now; < 0 = no demo load
  uint32_t servers_min = 0;
  uint32_t servers_max = 0;
  uint32_t servers_running = 0;  // by the controller's count
  std::string source;            // where the rows come from, one short phrase
  std::vector<ViewServer> servers;
  std::vector<uint32_t> server_count_history;  // one sample per second, oldest first
  std::deque<std::string> events;
};

// The servers of an /api/status JSON document (lb_status.h's field names; missing fields
// stay unknown), sorted by id; nullopt when the text is not such a document.
[[nodiscard]] std::optional<std::vector<ViewServer>> parse_status_servers(std::string_view json);

// One character per value, from ' ' (0) up to a full block (at `top`); the newest
// `width_max` values only.
[[nodiscard]] std::string sparkline(const std::vector<uint32_t>& values, uint32_t top,
                                    std::size_t width_max);

// The whole view as text, lines ending in '\n'.
[[nodiscard]] std::string render_frame(const ViewFrame& frame);

// GET /api/status from the balancer's admin endpoint, with short timeouts so that an
// unreachable balancer costs the controller's loop little.
class StatusPoller {
 public:
  explicit StatusPoller(const NetAddress& admin);
  ~StatusPoller();
  StatusPoller(const StatusPoller&) = delete;
  StatusPoller& operator=(const StatusPoller&) = delete;

  // The response body on HTTP 200, else nullopt.
  [[nodiscard]] std::optional<std::string> fetch();
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }

 private:
  struct Client;  // holds the httplib client: only status_poller.cpp includes httplib
  std::unique_ptr<Client> client_;
  std::string endpoint_;
};

}  // namespace shortline::controller
