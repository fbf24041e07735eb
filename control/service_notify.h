// Tells the service manager (systemd, Type=notify) where the process stands: ready once
// every worker listens, reloading while SIGHUP re-reads the config, stopping on a stop
// signal. A thin wrapper over libsystemd's sd_notify(3): when NOTIFY_SOCKET is unset (not
// under systemd, or a unit that is not Type=notify) every call is a no-op.
#pragma once

#include <string_view>

namespace shortline::service {

// READY=1, with `status` (one line, shown by `systemctl status`) when not empty. Also ends
// a reload that notify_reloading() began.
void notify_ready(std::string_view status = {});
// RELOADING=1 (with MONOTONIC_USEC, which systemd 253's Type=notify-reload expects); the
// reload ends with notify_ready().
void notify_reloading();
// STOPPING=1: the process got a stop signal and is draining.
void notify_stopping();
// STATUS=text alone (one line).
void notify_status(std::string_view text);

// True for the environment entry "NOTIFY_SOCKET=...": a supervisor that starts children
// leaves it out of their environment, so that only it speaks to the service manager.
[[nodiscard]] bool is_notify_socket_entry(std::string_view environment_entry);

}  // namespace shortline::service
