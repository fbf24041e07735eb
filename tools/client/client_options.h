// shortline-client's settings, every limit with its default, parsed from the command line;
// without --target, the target and id come from config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/net_address.h"
#include "tools/client/retry_policy.h"

namespace shortline::tools {

struct ClientOptions {
  NetAddress target;
  double rate = 0;           // open loop: requests per second (0: closed loop)
  bool poisson = false;      // open loop: exponential gaps (a Poisson process), not even ones
  uint32_t concurrency = 0;  // closed loop: requests kept outstanding
  uint64_t requests = 0;     // stop issuing after this many (0: no count bound)
  double duration_s = 0;     // stop issuing after this long (0: no time bound)
  uint32_t size_bytes = 0;   // datagram size, >= a ClientRequest (0: the minimum)
  uint32_t work_us = 0;      // requested service time; 0 = the server's default
  RetryPolicy retry;
  double retry_budget = 0.1;  // retries <= this fraction of requests
  uint32_t client_id = 0;
  bool json = false;
  std::string log_dir = "logs";  // the event log is <log_dir>/clients/client-<id>.log
  std::string config_path;       // --config; empty: ./config.json when it exists
  bool no_config = false;        // --no-config: never read a config file
  // What came from the config file and why, one line each ("target ... from config.json").
  std::vector<std::string> config_choices;
  uint32_t max_outstanding = 65536;  // unfinished requests at once (open loop skips beyond)
  uint64_t seed = 0;                 // jitter; 0: from the client id
  bool help = false;
};

inline constexpr uint32_t kClientConcurrencyMax = 65536;

// Parses argv; on error returns false and sets `error` (one line naming the flag).
[[nodiscard]] bool parse_client_options(int argc, char** argv, ClientOptions& options,
                                        std::string& error);
[[nodiscard]] const char* client_usage();

}  // namespace shortline::tools
