// shortline-server: the reference UDP backend. Thin: parse flags, open the log, run.
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <string>

#include "control/common/event_log_file.h"
#include "tools/server/server_options.h"
#include "control/common/stop_signal.h"
#include "tools/server/udp_server.h"

namespace {

using shortline::g_stop_requested;

std::string number(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}

// Built by append: gcc 12 warns falsely (-Wrestrict) on chained operator+ at -O3.
std::string describe(const shortline::tools::ServerOptions& o, const std::string& bound) {
  const bool fixed = o.service_distribution == shortline::tools::ServiceDistribution::fixed;
  std::string text;
  text.append("started on ").append(bound);
  text.append(", workers ").append(std::to_string(o.workers));
  text.append(", service ").append(number(o.service_ms)).append(" ms ");
  text.append(fixed ? "fixed" : "exponential");
  text.append(", speed ").append(number(o.speed));
  text.append(", queue max ").append(std::to_string(o.queue_max));
  text.append(", reports every ").append(std::to_string(o.report_interval_ms)).append(" ms to");
  if (o.balancers.empty()) text.append(" nobody");
  for (const auto& balancer : o.balancers) text.append(" ").append(balancer.to_string());
  if (!o.auth_key_file.empty()) text.append(" (signed)");
  return text;
}

std::string describe_stop(const shortline::tools::ServerCounters& c, bool drained) {
  std::string text;
  text.append("stopped: received ").append(std::to_string(c.received.load()));
  text.append(", answered ").append(std::to_string(c.answered.load()));
  text.append(" (echoed ").append(std::to_string(c.echoed.load())).append(")");
  text.append(", dropped queue full ").append(std::to_string(c.drop_queue_full.load()));
  text.append(", dropped oversize ").append(std::to_string(c.drop_oversize.load()));
  text.append(", send errors ").append(std::to_string(c.send_errors.load()));
  if (!drained) text.append(", drain timed out");
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shortline::tools;
  using shortline::EventLog;
  ServerOptions options;
  std::string error;
  if (!parse_server_options(argc, argv, options, error)) {
    std::fprintf(stderr, "shortline-server: %s\n", error.c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(server_usage(), stdout);
    return 0;
  }
  std::optional<shortline::wire::AuthKey> key;
  if (!options.auth_key_file.empty()) {
    key = shortline::wire::AuthKey::load_file(options.auth_key_file, error);
    if (!key) {
      std::fprintf(stderr, "shortline-server: %s\n", error.c_str());
      return 2;
    }
  }
  for (const auto& choice : options.config_choices)
    std::printf("shortline-server: %s\n", choice.c_str());
  EventLog log;
  const std::string id_text = std::to_string(options.server_id);
  log.set_source(std::string("server ").append(id_text));
  const std::string folder =
      options.log_dir + "/" + std::string(shortline::kServersLogFolder);
  if (!log.open(folder, std::string("server-").append(id_text).append(".log"), error)) {
    std::fprintf(stderr, "shortline-server: %s\n", error.c_str());
    return 1;
  }
  for (const auto& choice : options.config_choices) log.write(choice);
  shortline::install_stop_signal_handlers();
  UdpServer server(options, key, log);
  if (!server.start(error)) {
    log.write(std::string("failed to start: ").append(error));
    std::fprintf(stderr, "shortline-server: %s\n", error.c_str());
    return 1;
  }
  const std::string bound = server.bound_address().to_string();
  log.write(describe(options, bound));
  std::printf("shortline-server: listening on %s\n", bound.c_str());
  std::fflush(stdout);

  const bool drained = server.run(g_stop_requested);
  log.write(describe_stop(server.counters(), drained));
  return 0;
}
