// What shortline-lb prints: its event lines (stdout, and balancer/balancer.log with
// --log-dir; no timestamp when stdout is the journal), the start-up lines tests and
// operators read ports from, and the counters at exit.
#pragma once

#include <string>

#include "control/admin_http.h"
#include "control/control_thread.h"
#include "control/lb_cli.h"
#include "dataplane/balancer.h"

namespace shortline {

// One line per control event (registration, DOWN, drain, scaling, reload), never per packet:
// "shortline-lb: 2024-05-01T12:00:00.123Z server 3 registered at 127.0.0.1:50003". Any thread.
void print_event(const std::string& line);
// Opens the event log as the command line asks; returns an error line, or "".
[[nodiscard]] std::string open_balancer_log(const LbCommandLine& command_line);

// "shortline-lb: listening on ...", "limits: ...", "control on ...", "admin on ...".
void print_start_lines(const Balancer& balancer, const ControlThread& control,
                       const ControlThreadConfig& control_config, const AdminServer& admin,
                       bool admin_token);
// The data plane's and the control thread's counters and each server's figures, at exit.
void print_exit_counters(Balancer& balancer, const ControlThread& control);

}  // namespace shortline
