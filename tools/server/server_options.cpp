// Command-line parsing for shortline-server.
#include "tools/server/server_options.h"

#include "control/common/command_line_flags.h"
#include "tools/server/server_config_defaults.h"

namespace shortline::tools {

const char* server_usage() {
  return R"(usage: shortline-server --port P [--id N] [--balancer HOST:PORT] [options]

Reference UDP backend: a FIFO request queue served by worker threads. A ClientRequest
datagram gets a ClientResponse (server id, queue wait, service time), padded to the
request's size; any other datagram is echoed back unchanged after its service time.

What the flags leave out is taken from ./config.json (or --config FILE) when --id or
--balancer is missing, and printed with where it came from: the id from server.start_id
and the port (start_id + port - server.port_range_start inside the range, otherwise
start_id + the range's size + port), the balancer from load_balancer.listen_address and
server_side_port, the report interval from load_balancer.report_interval_ms and the key
from load_balancer.auth_key_file. Flags always win.

  --port P                 UDP port to serve (0: any free port, printed on stdout)
  --id N                   server id (u32), carried in reports and responses
  --balancer HOST:PORT     send ServerReports there (repeatable; "none": no reports)
  --config FILE            take what the flags leave out from FILE (default ./config.json)
  --no-config              never read a config file
  --listen-address A       address to bind (default 127.0.0.1; ::1, 0.0.0.0, :: work)
  --service-ms M           mean service time in ms (default 1)
  --service-dist D         fixed | exponential (default fixed)
  --speed F                service time is divided by F (default 1)
  --workers W              worker threads (default 1)
  --report-interval-ms I   time between reports (default 2)
  --queue-max Q            queued + in-service requests kept; more are dropped (default 1024)
  --max-datagram-bytes B   larger datagrams are dropped (default 2048)
  --drain-timeout-ms T     on SIGTERM, stop waiting for the queue after T (default 5000)
  --auth-key-file F        sign reports with this 32-byte key (raw or 64 hex digits)
  --log-dir D              log folder: events go to D/servers/server-<id>.log (default logs)
  --seed S                 random seed for exponential service times (default: the id)
  --help                   this text
)";
}

namespace {

bool parse_listen(const std::string& text, ServerOptions& options, std::string& error) {
  const std::string probe =
      text.find(':') != std::string::npos ? "[" + text + "]:1" : text + ":1";
  if (!NetAddress::parse(probe)) {
    error = "--listen-address: '" + text + "' is not a numeric IPv4 or IPv6 address";
    return false;
  }
  options.listen_address = text;
  return true;
}

void parse_one(CliFlags& flags, ServerOptions& o, std::string& error) {
  if (flags.is("--port")) {
    o.port = flags.integer<uint16_t>(0);
    o.port_given = true;
  } else if (flags.is("--id")) {
    o.server_id = flags.integer<uint32_t>(0);
    o.id_given = true;
  } else if (flags.is("--balancer")) {
    const std::string text = flags.text();
    if (text == "none") {
      o.no_reports = true;
      return;
    }
    const auto address = NetAddress::parse(text);
    if (!address) flags.fail("--balancer: '" + text + "' is not HOST:PORT or [V6]:PORT");
    if (address && o.balancers.size() >= kServerBalancersMax) {
      flags.fail("--balancer: more than " + std::to_string(kServerBalancersMax) + " balancers");
    }
    if (address && o.balancers.size() < kServerBalancersMax) o.balancers.push_back(*address);
  } else if (flags.is("--listen-address")) {
    if (!parse_listen(flags.text(), o, error)) flags.fail(error);
  } else if (flags.is("--service-ms")) {
    o.service_ms = flags.number(0, 3'600'000);
  } else if (flags.is("--service-dist")) {
    const std::string text = flags.text();
    if (text == "fixed") {
      o.service_distribution = ServiceDistribution::fixed;
    } else if (text == "exponential") {
      o.service_distribution = ServiceDistribution::exponential;
    } else {
      flags.fail("--service-dist: '" + text + "' is not fixed or exponential");
    }
  } else if (flags.is("--speed")) {
    o.speed = flags.number(1e-3, 1e6);
  } else if (flags.is("--workers")) {
    o.workers = flags.integer<uint16_t>(1, kServerWorkersMax);
  } else if (flags.is("--report-interval-ms")) {
    o.report_interval_ms = flags.integer<uint32_t>(1, 60'000);
    o.report_interval_given = true;
  } else if (flags.is("--queue-max")) {
    o.queue_max = flags.integer<uint32_t>(1, kServerQueueMax);
  } else if (flags.is("--max-datagram-bytes")) {
    o.max_datagram_bytes = flags.integer<uint32_t>(64, 65535);
  } else if (flags.is("--drain-timeout-ms")) {
    o.drain_timeout_ms = flags.integer<uint32_t>(0, 3'600'000);
  } else if (flags.is("--auth-key-file")) {
    o.auth_key_file = flags.text();
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

}  // namespace

bool parse_server_options(int argc, char** argv, ServerOptions& options, std::string& error) {
  CliFlags flags(argc, argv);
  while (flags.next()) parse_one(flags, options, error);
  if (!flags.error().empty()) {
    error = flags.error();
    return false;
  }
  if (options.help) return true;
  if (!options.port_given) {
    error = "--port is required (0 picks a free port)";
    return false;
  }
  if (options.no_reports && !options.balancers.empty()) {
    error = "--balancer none excludes --balancer HOST:PORT";
    return false;
  }
  error = fill_server_options_from_config(options);
  if (!error.empty()) return false;
  if (!options.id_given) {
    error = "--id is required (or run where a config.json is, or give --config FILE: the id "
            "then comes from server.start_id and the port)";
    return false;
  }
  if (uint64_t{options.queue_max} * options.max_datagram_bytes > (uint64_t{1} << 31)) {
    error = "--queue-max x --max-datagram-bytes exceeds 2 GiB of request buffers";
    return false;
  }
  return true;
}

}  // namespace shortline::tools
