// shortline-controller: parse flags, load the config, run the controller. Thin.
#include <signal.h>

#include <cstdio>
#include <string>

#include "control/config.h"
#include "control/controller/controller.h"
#include "control/controller/controller_options.h"
#include "control/common/stop_signal.h"
#include "control/service_notify.h"

namespace {

using shortline::g_stop_requested;

// Stop signals set g_stop_requested; SIGPIPE is ignored here (children get it back, see
// process_supervisor.cpp).
void install_signal_handlers() {
  shortline::install_stop_signal_handlers();
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);
}

int fail(const std::string& message, int status) {
  std::fprintf(stderr, "shortline-controller: %s\n", message.c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  namespace ctl = shortline::controller;
  install_signal_handlers();  // first, so that a stop during start-up is not lost
  ctl::ControllerOptions options;
  std::string error;
  if (!ctl::parse_controller_options(argc, argv, options, error))
    return fail(error + "\n(see shortline-controller --help)", shortline::kConfigErrorExitStatus);
  if (options.help) {
    std::fputs(ctl::controller_usage(), stdout);
    return 0;
  }
  const auto loaded = shortline::load_config_file(options.config_path);
  if (!loaded.config) return fail(loaded.error, shortline::kConfigErrorExitStatus);
  ctl::PoolSettings pool_settings;
  error = ctl::make_pool_settings(*loaded.config, options, pool_settings);
  if (!error.empty()) return fail(error, shortline::kConfigErrorExitStatus);

  std::optional<shortline::wire::AuthKey> auth_key;
  error = ctl::load_auth_key(*loaded.config, auth_key);
  if (!error.empty()) return fail(error, shortline::kConfigErrorExitStatus);

  ctl::ControllerLog log;
  if (!log.open(options.log_dir, error)) return fail(error, 1);
  log.set_echo(!options.demo);
  ctl::Controller controller(*loaded.config, options, pool_settings, auth_key, log);
  log.write("starting with " + options.config_path);
  error = controller.start();
  if (!error.empty()) {
    log.write("cannot start: " + error);
    std::fprintf(stderr, "shortline-controller: cannot start: %s\n", error.c_str());
  }
  // run() stops whatever did start; after a failed start it returns at once.
  if (!error.empty()) g_stop_requested = 1;
  else shortline::service::notify_ready("balancer and pool running");
  const int status = controller.run(g_stop_requested);
  return error.empty() ? status : 1;
}
