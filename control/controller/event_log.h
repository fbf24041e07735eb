// The controller's event log: one timestamped line per event (a child started, stopped,
// crashed, restarted; a scale request executed) appended to <log dir>/controller/
// controller.log, echoed to stdout when asked (set_echo), the last few kept for the live view.
// Built on the shared EventLog, which writes and flushes each line.
#pragma once

#include <deque>
#include <string>
#include <string_view>

#include "control/common/event_log_file.h"

namespace shortline::controller {

class ControllerLog {
 public:
  static constexpr std::size_t kRecentMax = 8;

  // Opens <log_dir>/controller/controller.log. On failure returns false and sets `error`.
  [[nodiscard]] bool open(const std::string& log_dir, std::string& error);
  // Echo each event to stdout as "shortline-controller: <time> <text>" (no time under
  // systemd; off in the demo, whose live view shows the recent events instead).
  void set_echo(bool echo) {
    if (echo) log_.echo_to_stdout("shortline-controller");
  }

  void write(std::string_view text);

  // The latest events, oldest first, each "HH:MM:SS text".
  [[nodiscard]] const std::deque<std::string>& recent() const { return recent_; }
  [[nodiscard]] const std::string& path() const { return log_.path(); }

 private:
  EventLog log_;
  std::deque<std::string> recent_;
};

}  // namespace shortline::controller
