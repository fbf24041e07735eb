// Controller events: to the log file, optionally to stdout, and into a short history.
#include "control/controller/event_log.h"

namespace shortline::controller {

bool ControllerLog::open(const std::string& log_dir, std::string& error) {
  log_.set_source("controller");
  return log_.open(log_dir + "/" + std::string(kControllerLogFolder), "controller.log", error);
}

void ControllerLog::write(std::string_view text) {
  log_.write(text);
  // "2026-11-26T13:22:18.123Z" -> "13:22:18"
  const std::string stamp = utc_timestamp_now();
  std::string line = stamp.size() >= 19 ? stamp.substr(11, 8) : stamp;
  line.append(" ").append(text);
  if (recent_.size() == kRecentMax) recent_.pop_front();
  recent_.push_back(std::move(line));
}

}  // namespace shortline::controller
