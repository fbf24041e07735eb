// sd_notify(3) wrappers; see service_notify.h.
#include "control/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace shortline::service {
namespace {

// STATUS= ends at a newline: one with a newline in it would start a field of its own.
std::string one_line(std::string_view text) {
  std::string line(text);
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  return line;
}

// sd_notify returns 0 when NOTIFY_SOCKET is unset (nothing to do) and a negative errno when
// sending failed: under Type=notify the unit then times out starting, so say why.
void send(const std::string& state) {
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0)
    std::fprintf(stderr, "warning: cannot notify the service manager (%s): %s\n",
                 state.substr(0, state.find('\n')).c_str(), std::strerror(-rc));
}

}  // namespace

void notify_ready(std::string_view status) {
  std::string state("READY=1");
  if (!status.empty()) state.append("\nSTATUS=").append(one_line(status));
  send(state);
}

void notify_reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1'000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping() { send("STOPPING=1"); }

void notify_status(std::string_view text) { send("STATUS=" + one_line(text)); }

bool is_notify_socket_entry(std::string_view environment_entry) {
  return environment_entry.starts_with("NOTIFY_SOCKET=");
}

}  // namespace shortline::service
