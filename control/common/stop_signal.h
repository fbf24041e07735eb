// SIGTERM and SIGINT set one flag that a tool's main loop polls. Installed without
// SA_RESTART, so a signal also cuts a blocking poll short.
#pragma once

#include <signal.h>

#include <csignal>

namespace shortline {

inline volatile std::sig_atomic_t g_stop_requested = 0;

inline void install_stop_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = [](int) { g_stop_requested = 1; };
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

}  // namespace shortline
