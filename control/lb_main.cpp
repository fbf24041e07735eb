// shortline-lb: parses the command line and config, checks the kernel, runs the data plane
// and the control thread until SIGINT/SIGTERM (SIGHUP reloads), drains, prints the counters
// and exits 0. A --take-over start adopts a running balancer's sockets instead of binding;
// with fd_store, a start under systemd adopts those the service manager kept.
#include <signal.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "control/admin_http.h"
#include "control/control_thread.h"
#include "control/fd_store.h"
#include "control/lb_admin_actions.h"
#include "control/lb_cli.h"
#include "control/lb_console.h"
#include "control/lb_reload.h"
#include "control/service_notify.h"
#include "control/takeover_session.h"
#include "dataplane/balancer.h"
#include "dataplane/kernel_probe.h"

namespace {

using namespace shortline;  // NOLINT: this file only wires the parts together

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

// Retired pool snapshots are freed by the control thread (every 100 ms), not here. SIGHUP
// reloads the config file (never the default action, which would end the balancer).
// SIGTERM also comes from the takeover listener once a successor reads the sockets.
void wait_for_stop_signal(const sigset_t& signals, LbReloader& reloader) {
  for (;;) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGINT || signal == SIGTERM) return;
    if (signal == SIGHUP) print_event(reloader.reload("SIGHUP").message);
  }
}

// What start-up needs before anything is opened.
struct Prepared {
  LbCommandLine command_line;
  ControlThreadConfig control;
  std::string admin_token;
};

int config_error(const std::string& error) {
  std::fprintf(stderr, "shortline-lb: %s\n", error.c_str());
  return kConfigErrorExitStatus;
}

// Parses, answers --help and --version, checks the kernel, the config and the token file.
// Returns the exit status when the process ends here, nullopt to go on with `out`.
std::optional<int> prepare(int argc, char** argv, std::optional<Prepared>& out) {
  auto parsed = parse_lb_command_line(argc, argv);
  if (!parsed.command_line) {
    std::fprintf(stderr, "shortline-lb: %s\n(see shortline-lb --help)\n", parsed.error.c_str());
    return kConfigErrorExitStatus;
  }
  if (parsed.command_line->show_help) {
    std::printf("%s", lb_help_text().c_str());
    return 0;
  }
  if (parsed.command_line->show_version) {
    std::printf("shortline-lb %s\n", SHORTLINE_VERSION);
    return 0;
  }
  if (const auto missing = probe_kernel_features(); !missing.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot run: %s\n", missing.c_str());
    return 1;
  }
  if (auto error = open_balancer_log(*parsed.command_line); !error.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot start: %s\n", error.c_str());
    return 1;
  }
  std::string error;
  auto control = make_control_config(parsed.command_line->config, error);
  if (!control) return config_error(error);
  std::string token;
  if (const auto& path = parsed.command_line->config.load_balancer.admin_token_file; !path.empty()) {
    const auto loaded = load_admin_token(path, error);
    if (!loaded) return config_error(error);
    token = *loaded;
  }
  out.emplace(Prepared{std::move(*parsed.command_line), std::move(*control), std::move(token)});
  return std::nullopt;
}

// The running balancer: its parts in start-up order (destroyed in reverse). The control
// thread and the reloader exist once the balancer has opened its server table.
class LbProcess {
 public:
  LbProcess(const Prepared& p, std::vector<std::string> argv)
      : prepared_(p), argv_(std::move(argv)), balancer_(p.command_line.config.load_balancer.dataplane) {}

  // Returns the exit status when start-up fails, nullopt once every worker listens.
  std::optional<int> start() {
    // --take-over: the running balancer's listen and control sockets, instead of binding.
    if (const auto error = takeover_.claim(prepared_.command_line.take_over_from, balancer_,
                                           print_event);
        !error.empty())
      return fail(error, 1);
    // Or those the service manager kept from this unit's last run (fd_store).
    if (const auto error = take_stored_sockets(); !error.empty()) return fail(error, 1);
    // Listen sockets and the server table first; the control and admin sockets are bound
    // before the workers open their upstream pools, which take ephemeral ports.
    if (const auto error = balancer_.open(); !error.empty())
      return fail(error, balancer_.config_error() ? kConfigErrorExitStatus : 1);
    control_.emplace(balancer_, prepared_.control);
    control_->set_event_sink(print_event);
    reloader_.emplace(argv_, prepared_.command_line.config, *control_);
    // Before the admin endpoint exists: a reload may come from there at once.
    ready_ = "listening on " + balancer_.listen_address().to_string();
    reloader_->set_hooks(service::notify_reloading, [this] { service::notify_ready(ready_); });
    takeover_.hand_control_socket(*control_);
    stored_.hand_control_socket(*control_, prepared_.control.bind);
    if (const auto status = start_control()) return status;
    if (!takeover_.claimed()) start_admin();  // a predecessor frees the port only at "done"
    if (const auto error = balancer_.start_workers(); !error.empty()) {
      admin_.stop();
      control_->stop();
      return fail(error, 1);
    }
    if (takeover_.claimed()) {
      takeover_.confirm_reading();
      start_admin();
    }
    print_start_lines(balancer_, *control_, prepared_.control, admin_,
                      !prepared_.admin_token.empty());
    offer_takeover();
    if (prepared_.command_line.config.load_balancer.fd_store) {
      if (const auto error = store_sockets(balancer_, *control_); !error.empty())
        std::fprintf(stderr, "shortline-lb: warning: %s\n", error.c_str());
    }
    return std::nullopt;
  }

  // Serves until SIGINT or SIGTERM (reloading on SIGHUP), then drains and prints.
  void serve(const sigset_t& signals) {
    service::notify_ready(ready_);
    wait_for_stop_signal(signals, *reloader_);
    service::notify_stopping();
    std::printf("shortline-lb: stopping: draining replies (up to %u ms)\n",
                balancer_.config().drain_timeout_ms);
    std::fflush(stdout);
    admin_.stop();
    control_->stop();  // the pool stays as it is while the workers drain
    balancer_.stop_receiving();
    successor_.finish();  // a successor that said "reading" hears "done" now
    balancer_.join();
    print_exit_counters(balancer_, *control_);
  }

 private:
  static int fail(const std::string& error, int status) {
    std::fprintf(stderr, "shortline-lb: cannot start: %s\n", error.c_str());
    return status;
  }

  std::optional<int> start_control() {
    const auto error = control_->start();
    if (error.empty()) return std::nullopt;
    if (!control_->running()) {
      balancer_.stop_receiving();
      balancer_.join();
      return fail(error, 1);
    }
    // Static backends keep the balancer useful without reports; say so loudly.
    std::fprintf(stderr, "shortline-lb: warning: %s: no server reports, static backends only\n",
                 error.c_str());
    return std::nullopt;
  }

  // The admin endpoint reads the balancer only through the control thread's status().
  void start_admin() {
    const auto& lb = prepared_.command_line.config.load_balancer;
    if (!lb.admin_enabled) return;
    const auto error = admin_.start(lb.admin_listen, [this] { return control_->status(); },
                                    make_admin_actions(*control_, *reloader_, prepared_.admin_token));
    if (!error.empty())  // observability must not take the data plane down
      std::fprintf(stderr, "shortline-lb: warning: admin endpoint: %s\n", error.c_str());
  }

  // The sockets the service manager passed back (LISTEN_FDS), taken when fd_store is on
  // and no takeover brings sockets already.
  std::string take_stored_sockets() {
    stored_.receive(print_event);
    if (takeover_.claimed()) {
      stored_.drop_all("a takeover brought the sockets");
      return "";
    }
    if (!prepared_.command_line.config.load_balancer.fd_store) {
      stored_.drop_all("fd_store is off");
      return "";
    }
    return stored_.hand_listen_sockets(balancer_);
  }

  // Listens for a later shortline-lb --take-over when takeover_socket is set.
  void offer_takeover() {
    const std::string& path = prepared_.command_line.config.load_balancer.takeover_socket;
    if (path.empty()) return;
    if (const auto error = successor_.start(path, balancer_, *control_, print_event);
        !error.empty())
      std::fprintf(stderr, "shortline-lb: warning: %s: no takeover offered\n", error.c_str());
    else
      std::printf("shortline-lb: takeover socket at %s\n", path.c_str());
    std::fflush(stdout);
  }

  const Prepared& prepared_;
  std::vector<std::string> argv_;  // for the reloader: the same flags over the new file
  std::string ready_;              // systemd's STATUS= once ready and after each reload
  Balancer balancer_;
  TakeoverClaim takeover_;
  StoredSockets stored_;
  std::optional<ControlThread> control_;
  std::optional<LbReloader> reloader_;
  AdminServer admin_;
  TakeoverListener successor_;
};

}  // namespace

int main(int argc, char** argv) {
  std::optional<Prepared> prepared;
  if (const auto status = prepare(argc, argv, prepared)) return *status;
  const sigset_t signals = block_stop_signals();
  LbProcess process(*prepared, std::vector<std::string>(argv, argv + argc));
  if (const auto status = process.start()) return *status;
  process.serve(signals);
  return 0;
}
