// Event log: timestamped lines appended to a file under logs/.
#include "tools/server/event_log.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <system_error>

namespace shortline::tools {

std::string utc_timestamp_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const std::size_t used = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + used, sizeof(text) - used, ".%03dZ", static_cast<int>(ms.count() % 1000));
  return text;
}

EventLog::~EventLog() {
  if (file_ != nullptr) std::fclose(file_);
}

bool EventLog::open(const std::string& directory, const std::string& file_name,
                    std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    error = "cannot create log folder '" + directory + "': " + ec.message();
    return false;
  }
  path_ = (std::filesystem::path(directory) / file_name).string();
  std::lock_guard lock(mutex_);
  file_ = std::fopen(path_.c_str(), "a");
  if (file_ == nullptr) {
    error = "cannot open log file '" + path_ + "'";
    return false;
  }
  return true;
}

void EventLog::write(std::string_view text) {
  const std::string stamp = utc_timestamp_now();
  std::lock_guard lock(mutex_);
  if (file_ == nullptr) return;
  std::fprintf(file_, "%s %s: %.*s\n", stamp.c_str(), source_.c_str(),
               static_cast<int>(text.size()), text.data());
  std::fflush(file_);
}

}  // namespace shortline::tools
