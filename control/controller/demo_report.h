// The demo's closing figures: each client's --json summary read back from its output
// file, and the totals over all clients (counts summed; latency as the answered-weighted
// mean, the median of the clients' p50s and the worst client's p99, p999 and max, since
// percentiles of separate histograms cannot be merged exactly).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shortline::controller {

struct ClientResult {
  uint32_t client_id = 0;
  uint64_t requests = 0;
  uint64_t sent = 0;
  uint64_t answered = 0;
  uint64_t retried = 0;
  uint64_t failed = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
  double mean_us = 0;
  std::map<std::string, uint64_t> answered_by_server;  // server id (or "other") -> answers
};

// The last JSON object line of a client's output; nullopt when there is none.
[[nodiscard]] std::optional<ClientResult> parse_client_output(std::string_view output);

// "clients: 10 of 10 reported; requests ..., answered ..., ...\n  latency ...\n  answered by
// server: 0=..., 1=...\n"
[[nodiscard]] std::string format_client_totals(const std::vector<ClientResult>& results,
                                               uint32_t clients_started);

}  // namespace shortline::controller
