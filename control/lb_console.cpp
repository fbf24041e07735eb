// shortline-lb's console and event log: the lines operators and tests read.
#include "control/lb_console.h"

#include <cstdio>
#include <string>

#include "control/common/event_log_file.h"
#include "dataplane/maglev_table.h"

namespace shortline {
namespace {

// "shortline-lb: control on HOST:PORT (...)": tests read the port from this line.
void print_control_line(const ControlThread& control, const ControlThreadConfig& c) {
  std::string sources;
  for (const auto& prefix : c.ingest.allowed_sources)
    sources.append(sources.empty() ? "" : " ").append(prefix.to_string());
  std::string scaling("scale requests off");
  if (const auto to = compose_address(c.scale.controller_host, c.scale.controller_port);
      to && c.scale.controller_port != 0)
    scaling = "scale requests to " + to->to_string();
  std::printf("shortline-lb: control on %s (reports from %s, auth %s, down after %lld ms of "
              "silence, %s)\n",
              control.control_address().to_string().c_str(), sources.c_str(),
              c.ingest.key ? "on" : "off",
              static_cast<long long>(c.ingest.silence_timeout_ms()), scaling.c_str());
}

EventLog& balancer_log() {
  static EventLog log;
  return log;
}

}  // namespace

void print_event(const std::string& line) { balancer_log().write(line); }

std::string open_balancer_log(const LbCommandLine& command_line) {
  balancer_log().echo_to_stdout("shortline-lb");
  balancer_log().set_source("balancer");
  if (!command_line.config_path.empty())
    std::printf("shortline-lb: config from %s\n", command_line.config_path.c_str());
  if (command_line.log_dir.empty()) return {};
  std::string error;
  const std::string folder =
      command_line.log_dir + "/" + std::string(kBalancerLogFolder);
  if (!balancer_log().open(folder, "balancer.log", error)) return error;
  std::printf("shortline-lb: events also in %s\n", balancer_log().path().c_str());
  return {};
}

namespace {

// "shortline-lb: limits: ...": what fits into the open-file limit, and why.
void print_limits_line(const Balancer& balancer) {
  const auto& plan = balancer.capacity();
  const auto& files = balancer.file_limit();
  const auto& dp = balancer.config();
  std::string sessions = std::to_string(plan.sessions_total);
  if (plan.sessions_total < dp.max_sessions)
    sessions += " (max_sessions " + std::to_string(dp.max_sessions) + ", capped by the sockets)";
  std::printf("shortline-lb: limits: open files %llu (soft limit raised from %llu, hard %llu), "
              "upstream sockets %u (%u per worker, %u fit, %u files kept for the rest), "
              "sessions %s\n",
              static_cast<unsigned long long>(files.soft),
              static_cast<unsigned long long>(files.soft_before),
              static_cast<unsigned long long>(files.hard), plan.sockets_total,
              plan.per_worker.sockets, plan.sockets_room, plan.files_reserved, sessions.c_str());
}

void print_control_counters(const ControlThread& control) {
  std::printf("shortline-lb: control counters\n");
  for (const auto& [name, value] : control.counters())
    std::printf("  %-34s %llu\n", name.c_str(), static_cast<unsigned long long>(value));
}

}  // namespace

void print_exit_counters(Balancer& balancer, const ControlThread& control) {
  const auto totals = balancer.totals();
  std::printf("shortline-lb: counters\n");
  for (std::size_t c = 0; c < kCounterInfo.size(); ++c)
    std::printf("  %-28s %llu\n", std::string(kCounterInfo[c].name).c_str(),
                static_cast<unsigned long long>(totals.values[c]));
  std::printf("  %-28s %llu\n", "drops_total", static_cast<unsigned long long>(totals.drops()));
  std::printf("  %-28s %llu\n", "sockets_quarantined",
              static_cast<unsigned long long>(totals.sockets_quarantined));
  std::printf("shortline-lb: servers\n");
  for (const auto& member : balancer.servers().members()) {
    const auto& slot = balancer.servers().slot(member.slot);
    std::printf("  %-24s requests %llu replies %llu timeouts %llu in_flight %lld errors %u\n",
                member.address.to_string().c_str(),
                static_cast<unsigned long long>(slot.requests_total.load()),
                static_cast<unsigned long long>(slot.replies_total.load()),
                static_cast<unsigned long long>(slot.timeouts_total.load()),
                static_cast<long long>(slot.in_flight.load()), slot.passive_errors.load());
  }
  print_control_counters(control);
  std::fflush(stdout);
}


void print_start_lines(const Balancer& balancer, const ControlThread& control,
                       const ControlThreadConfig& control_config, const AdminServer& admin,
                       bool admin_token) {
  const auto& dp = balancer.config();
  std::printf("shortline-lb: listening on %s (workers %u, policy %s, affinity %s, servers %zu)\n",
              balancer.listen_address().to_string().c_str(), dp.workers,
              std::string(policy_name(dp.policy)).c_str(),
              std::string(affinity_name(dp.affinity)).c_str(), dp.backends.size());
  print_limits_line(balancer);
  // Balancers of one pool agree on flows only with equal tables: the size says whether.
  if (dp.policy == Policy::maglev)
    std::printf("shortline-lb: maglev table %u entries (max_servers %u), load bound %g\n",
                MaglevTable::size_for(dp.max_servers), dp.max_servers, dp.maglev_load_bound);
  if (control.control_address().family() != 0) print_control_line(control, control_config);
  if (admin.bound_address().family() != 0)
    std::printf("shortline-lb: admin on http://%s/ (runtime changes %s)\n",
                admin.bound_address().to_string().c_str(),
                admin_token ? "with the admin token" : "from loopback only");
  std::fflush(stdout);
}

}  // namespace shortline
