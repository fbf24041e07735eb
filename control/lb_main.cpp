// shortline-lb: parses the command line and config, checks the kernel, runs the data plane
// and the control thread until SIGINT/SIGTERM, drains, prints the counters and exits 0.
#include <signal.h>

#include <cstdio>
#include <string>

#include "control/admin_http.h"
#include "control/common/event_log_file.h"
#include "control/control_thread.h"
#include "control/lb_cli.h"
#include "control/lb_reload.h"
#include "control/service_notify.h"
#include "control/takeover_session.h"
#include "dataplane/balancer.h"
#include "dataplane/kernel_probe.h"

namespace {

using shortline::Balancer;
using shortline::ControlThread;
using shortline::kCounterInfo;

// Blocks the stop signals and SIGHUP in this thread and, by inheritance, in every worker,
// so that only the main thread's sigwait() sees them.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// "shortline-lb: control on HOST:PORT (...)": tests read the port from this line.
void print_control_line(const ControlThread& control, const shortline::ControlThreadConfig& c) {
  std::string sources;
  for (const auto& prefix : c.ingest.allowed_sources)
    sources.append(sources.empty() ? "" : " ").append(prefix.to_string());
  std::string scaling("scale requests off");
  if (c.scale.controller_port != 0)
    scaling = "scale requests to 127.0.0.1:" + std::to_string(c.scale.controller_port);
  std::printf("shortline-lb: control on %s (reports from %s, auth %s, down after %lld ms of "
              "silence, %s)\n",
              control.control_address().to_string().c_str(), sources.c_str(),
              c.ingest.key ? "on" : "off",
              static_cast<long long>(c.ingest.silence_timeout_ms()), scaling.c_str());
}

// One line per control event (registration, DOWN, drain, scaling), never per packet:
// "shortline-lb: 2024-05-01T12:00:00.123Z server 3 registered at 127.0.0.1:50003" on stdout
// (no timestamp when stdout is the journal) and, with --log-dir, in balancer/balancer.log.
shortline::EventLog& balancer_log() {
  static shortline::EventLog log;
  return log;
}

void print_event(const std::string& line) { balancer_log().write(line); }

// Returns an error line, or "" when the log is ready.
std::string open_balancer_log(const shortline::LbCommandLine& command_line) {
  balancer_log().echo_to_stdout("shortline-lb");
  balancer_log().set_source("balancer");
  if (!command_line.config_path.empty())
    std::printf("shortline-lb: config from %s\n", command_line.config_path.c_str());
  if (command_line.log_dir.empty()) return {};
  std::string error;
  const std::string folder =
      command_line.log_dir + "/" + std::string(shortline::kBalancerLogFolder);
  if (!balancer_log().open(folder, "balancer.log", error)) return error;
  std::printf("shortline-lb: events also in %s\n", balancer_log().path().c_str());
  return {};
}

// Retired pool snapshots are freed by the control thread (every 100 ms), not here. SIGHUP
// reloads the config file (never the default action, which would end the balancer).
void wait_for_stop_signal(const sigset_t& signals, shortline::LbReloader& reloader) {
  for (;;) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGINT || signal == SIGTERM) return;
    if (signal == SIGHUP) print_event(reloader.reload("SIGHUP").message);
  }
}

// The admin endpoint's runtime changes, each a call into the control thread or reloader.
shortline::AdminActions make_admin_actions(ControlThread& control,
                                           shortline::LbReloader& reloader, std::string token) {
  using shortline::AdminAnswer;
  using shortline::OperatorResult;
  const auto to_answer = [](const OperatorResult& r) {
    static constexpr int kStatus[] = {200, 400, 404, 409, 500};
    return AdminAnswer{kStatus[static_cast<int>(r.code)], r.message};
  };
  shortline::AdminActions actions;
  actions.token = std::move(token);
  actions.drain = [&control, to_answer](std::string_view s) { return to_answer(control.drain(s)); };
  actions.undrain = [&control, to_answer](std::string_view s) {
    return to_answer(control.undrain(s));
  };
  actions.add_backend = [&control, to_answer](std::string_view a, uint32_t w) {
    return to_answer(control.add_backend(a, w));
  };
  actions.remove_backend = [&control, to_answer](std::string_view a) {
    return to_answer(control.remove_backend(a));
  };
  actions.reload = [&reloader] {
    const auto outcome = reloader.reload("admin");
    print_event(outcome.message);
    return AdminAnswer{outcome.ok ? 200 : 400, outcome.message};
  };
  return actions;
}

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

void print_counters(Balancer& balancer) {
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
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = shortline::parse_lb_command_line(argc, argv);
  if (!parsed.command_line) {
    std::fprintf(stderr, "shortline-lb: %s\n(see shortline-lb --help)\n", parsed.error.c_str());
    return shortline::kConfigErrorExitStatus;
  }
  if (parsed.command_line->show_help) {
    std::printf("%s", shortline::lb_help_text().c_str());
    return 0;
  }
  if (parsed.command_line->show_version) {
    std::printf("shortline-lb %s\n", SHORTLINE_VERSION);
    return 0;
  }
  if (const auto missing = shortline::probe_kernel_features(); !missing.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot run: %s\n", missing.c_str());
    return 1;
  }
  if (const auto error = open_balancer_log(*parsed.command_line); !error.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot start: %s\n", error.c_str());
    return 1;
  }
  std::string config_error;
  const auto control_config =
      shortline::make_control_config(parsed.command_line->config, config_error);
  if (!control_config) {
    std::fprintf(stderr, "shortline-lb: %s\n", config_error.c_str());
    return shortline::kConfigErrorExitStatus;
  }
  std::string admin_token;
  if (const auto& path = parsed.command_line->config.load_balancer.admin_token_file; !path.empty()) {
    const auto token = shortline::load_admin_token(path, config_error);
    if (!token) {
      std::fprintf(stderr, "shortline-lb: %s\n", config_error.c_str());
      return shortline::kConfigErrorExitStatus;
    }
    admin_token = *token;
  }
  const sigset_t signals = block_stop_signals();
  Balancer balancer(parsed.command_line->config.load_balancer.dataplane);
  // --take-over: the running balancer's listen and control sockets, instead of binding.
  shortline::TakeoverClaim takeover;
  if (const auto error = takeover.claim(parsed.command_line->take_over_from, balancer, print_event);
      !error.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot start: %s\n", error.c_str());
    return 1;
  }
  // Listen sockets and the server table first; the control and admin sockets are bound
  // before the workers open their upstream pools, which take ephemeral ports.
  if (const auto error = balancer.open(); !error.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot start: %s\n", error.c_str());
    return balancer.config_error() ? shortline::kConfigErrorExitStatus : 1;
  }
  ControlThread control(balancer, *control_config);
  control.set_event_sink(print_event);
  takeover.hand_control_socket(control);
  if (const auto error = control.start(); !error.empty()) {
    if (!control.running()) {
      std::fprintf(stderr, "shortline-lb: cannot start: %s\n", error.c_str());
      balancer.stop_receiving();
      balancer.join();
      return 1;
    }
    // Static backends keep the balancer useful without reports; say so loudly.
    std::fprintf(stderr, "shortline-lb: warning: %s: no server reports, static backends only\n",
                 error.c_str());
  }
  shortline::LbReloader reloader(std::vector<std::string>(argv, argv + argc),
                                 parsed.command_line->config, control);
  // The admin endpoint reads the balancer only through the control thread's status().
  shortline::AdminServer admin;
  const auto& lb_config = parsed.command_line->config.load_balancer;
  const auto start_admin = [&] {
    if (!lb_config.admin_enabled) return;
    const auto error = admin.start(lb_config.admin_listen, [&] { return control.status(); },
                                   make_admin_actions(control, reloader, admin_token));
    if (!error.empty())  // observability must not take the data plane down
      std::fprintf(stderr, "shortline-lb: warning: admin endpoint: %s\n", error.c_str());
  };
  if (!takeover.claimed()) start_admin();  // a predecessor frees the port only at "done"
  if (const auto error = balancer.start_workers(); !error.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot start: %s\n", error.c_str());
    admin.stop();
    control.stop();
    return 1;
  }
  if (takeover.claimed()) {
    takeover.confirm_reading();
    start_admin();
  }
  const auto& dp = balancer.config();
  std::printf("shortline-lb: listening on %s (workers %u, policy %s, affinity %s, servers %zu)\n",
              balancer.listen_address().to_string().c_str(), dp.workers,
              std::string(shortline::policy_name(dp.policy)).c_str(),
              std::string(shortline::affinity_name(dp.affinity)).c_str(), dp.backends.size());
  print_limits_line(balancer);
  if (control.control_address().family() != 0) print_control_line(control, *control_config);
  if (admin.bound_address().family() != 0)
    std::printf("shortline-lb: admin on http://%s/ (runtime changes %s)\n",
                admin.bound_address().to_string().c_str(),
                admin_token.empty() ? "from loopback only" : "with the admin token");
  shortline::TakeoverListener successor;  // a later shortline-lb --take-over
  if (!lb_config.takeover_socket.empty()) {
    const auto error =
        successor.start(lb_config.takeover_socket, balancer, control, print_event);
    if (!error.empty())
      std::fprintf(stderr, "shortline-lb: warning: %s: no takeover offered\n", error.c_str());
    else
      std::printf("shortline-lb: takeover socket at %s\n", lb_config.takeover_socket.c_str());
  }
  std::fflush(stdout);
  const std::string ready_status = "listening on " + balancer.listen_address().to_string();
  shortline::service::notify_ready(ready_status);
  reloader.set_hooks(shortline::service::notify_reloading,
                     [&ready_status] { shortline::service::notify_ready(ready_status); });
  wait_for_stop_signal(signals, reloader);
  shortline::service::notify_stopping();
  std::printf("shortline-lb: stopping: draining replies (up to %u ms)\n", dp.drain_timeout_ms);
  std::fflush(stdout);
  admin.stop();
  control.stop();  // the pool stays as it is while the workers drain
  balancer.stop_receiving();
  successor.finish();  // a successor that said "reading" hears "done" now
  balancer.join();
  print_counters(balancer);
  print_control_counters(control);
  std::fflush(stdout);
  return 0;
}
