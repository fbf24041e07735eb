// shortline-controller: parse flags, load the config, run the controller. Thin.
#include <signal.h>

#include <cstdio>
#include <string>

#include "control/config.h"
#include "control/controller/controller.h"
#include "control/controller/controller_options.h"

namespace {

volatile std::sig_atomic_t g_stop_requested = 0;

void on_stop_signal(int /*signal*/) { g_stop_requested = 1; }

// No SA_RESTART: a signal cuts the main loop's poll short.
void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);  // children get it back (see process_supervisor.cpp)
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
  const int status = controller.run(g_stop_requested);
  return error.empty() ? status : 1;
}
