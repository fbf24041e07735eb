// Command-line parsing for shortline-client.
#include "tools/client/client_options.h"

#include <unistd.h>

#include "control/wire/messages.h"
#include "control/common/command_line_flags.h"
#include "control/peer_config.h"

namespace shortline::tools {

const char* client_usage() {
  return R"(usage: shortline-client [--target HOST:PORT] [--rate R | --concurrency C]
                        (--requests N | --duration S) [options]

Sends ClientRequests and matches replies by request id. Works against shortline-server
(directly or through shortline-lb) and against any UDP echo server. Without --target, the
target is load_balancer.listen_address + client_side_port from ./config.json (or --config
FILE), and the id client.start_id unless --id is given; what was taken is printed.

  --target HOST:PORT     where to send (IPv4, or [IPv6]:PORT)
  --config FILE          take the target and id from FILE (default ./config.json)
  --no-config            never read a config file
  --rate R               open loop: R requests per second, whatever the replies do
  --poisson              open loop: exponential gaps between requests (Poisson arrivals)
                         instead of even spacing; same mean rate
  --concurrency C        closed loop: keep C requests outstanding (default 1)
  --requests N           issue N requests (with --duration: whichever ends first)
  --duration S           issue requests for S seconds
  --size B               datagram size in bytes, padded (default and minimum 32)
  --work-us W            requested service time per request (0: the server's default)
  --timeout-ms T         per-attempt timeout (default 1000)
  --retries K            retries after a timeout (default 0)
  --backoff-ms B         wait before the first retry, doubled each retry (default 10)
  --backoff-max-ms M     cap on that wait (default 1000)
  --retry-budget F       retries never exceed F x requests (default 0.1)
  --max-outstanding N    unfinished requests at once; open loop skips beyond (default 65536)
  --id N                 client id (default: client.start_id from the config file read,
                         otherwise the process id)
  --json                 print the summary as one JSON object
  --log-dir D            log folder: events go to D/clients/client-<id>.log (default logs)
  --seed S               random seed for retry jitter and Poisson gaps (default: the id)
  --help                 this text
)";
}

namespace {

void parse_one(CliFlags& flags, ClientOptions& o, bool& id_given) {
  if (flags.is("--target")) {
    const std::string text = flags.text();
    const auto address = NetAddress::parse(text);
    if (!address || address->port() == 0) {
      flags.fail("--target: '" + text + "' is not HOST:PORT or [V6]:PORT");
    } else {
      o.target = *address;
    }
  } else if (flags.is("--rate")) {
    o.rate = flags.number(1e-3, 1e8);
  } else if (flags.is("--poisson")) {
    o.poisson = true;
  } else if (flags.is("--concurrency")) {
    o.concurrency = flags.integer<uint32_t>(1, kClientConcurrencyMax);
  } else if (flags.is("--requests")) {
    o.requests = flags.integer<uint64_t>(1, uint64_t{1} << 48);
  } else if (flags.is("--duration")) {
    o.duration_s = flags.number(1e-3, 30.0 * 86400);
  } else if (flags.is("--size")) {
    o.size_bytes = flags.integer<uint32_t>(0, 65507);
  } else if (flags.is("--work-us")) {
    o.work_us = flags.integer<uint32_t>(0, 60'000'000);
  } else if (flags.is("--timeout-ms")) {
    o.retry.timeout_ms = flags.integer<uint32_t>(1, 3'600'000);
  } else if (flags.is("--retries")) {
    o.retry.retries_max = flags.integer<uint32_t>(0, 100);
  } else if (flags.is("--backoff-ms")) {
    o.retry.backoff_base_ms = flags.integer<uint32_t>(0, 3'600'000);
  } else if (flags.is("--backoff-max-ms")) {
    o.retry.backoff_max_ms = flags.integer<uint32_t>(0, 3'600'000);
  } else if (flags.is("--retry-budget")) {
    o.retry_budget = flags.number(0, 1);
  } else if (flags.is("--max-outstanding")) {
    o.max_outstanding = flags.integer<uint32_t>(1, 1u << 22);
  } else if (flags.is("--id")) {
    o.client_id = flags.integer<uint32_t>(0);
    id_given = true;
  } else if (flags.is("--json")) {
    o.json = true;
  } else if (flags.is("--log-dir")) {
    o.log_dir = flags.text();
    if (o.log_dir.empty()) flags.fail("--log-dir: empty");
  } else if (flags.is("--config")) {
    o.config_path = flags.text();
  } else if (flags.is("--no-config")) {
    o.no_config = true;
  } else if (flags.is("--seed")) {
    o.seed = flags.integer<uint64_t>(0);
  } else if (flags.is("--help")) {
    o.help = true;
  } else {
    flags.unknown();
  }
}

// Without --target (or with --config), the target and the id come from the config file.
std::string fill_from_config(ClientOptions& o, bool& id_given) {
  if (o.no_config) return {};
  const bool wanted = o.target.family() == AF_UNSPEC;
  const PeerConfig peer = load_peer_config(o.config_path, wanted);
  if (!peer.error.empty()) return peer.error;
  if (!peer.config) return {};
  if (o.target.family() == AF_UNSPEC) {
    o.target = config_client_target(*peer.config);
    o.config_choices.push_back("target " + o.target.to_string() + " from " + peer.path +
                               " (load_balancer.listen_address + client_side_port)");
  }
  if (!id_given) {
    o.client_id = peer.config->client.start_id;
    id_given = true;
    o.config_choices.push_back("id " + std::to_string(o.client_id) + " from " + peer.path +
                               " (client.start_id)");
  }
  return {};
}

std::string check(ClientOptions& o) {
  if (o.target.family() == AF_UNSPEC)
    return "--target is required (or run where a config.json is, or give --config FILE: the "
           "target then is load_balancer.listen_address + client_side_port)";
  if (o.rate > 0 && o.concurrency > 0) return "--rate and --concurrency exclude each other";
  if (o.poisson && o.rate == 0) return "--poisson needs --rate (it shapes the open loop)";
  if (o.rate == 0 && o.concurrency == 0) o.concurrency = 1;
  if (o.requests == 0 && o.duration_s == 0) return "--requests or --duration is required";
  if (o.size_bytes == 0) o.size_bytes = wire::kClientRequestBytes;
  if (o.size_bytes < wire::kClientRequestBytes) {
    return "--size: " + std::to_string(o.size_bytes) + " is below a ClientRequest (" +
           std::to_string(wire::kClientRequestBytes) + " bytes)";
  }
  if (o.concurrency > o.max_outstanding) return "--concurrency exceeds --max-outstanding";
  return {};
}

}  // namespace

bool parse_client_options(int argc, char** argv, ClientOptions& options, std::string& error) {
  CliFlags flags(argc, argv);
  bool id_given = false;
  while (flags.next()) parse_one(flags, options, id_given);
  if (!flags.error().empty()) {
    error = flags.error();
    return false;
  }
  if (options.help) return true;
  error = fill_from_config(options, id_given);
  if (!error.empty()) return false;
  if (!id_given) options.client_id = static_cast<uint32_t>(::getpid());
  error = check(options);
  return error.empty();
}

}  // namespace shortline::tools
