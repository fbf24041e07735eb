// Event log: timestamped lines appended to a file under the log folder, and the stdout echo.
#include "control/common/event_log_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <system_error>

namespace shortline {

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

namespace {

// "DEVICE:INODE", both decimal, as systemd writes it.
bool parse_journal_stream(std::string_view text, unsigned long long& device,
                          unsigned long long& inode) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  const char* end = text.data() + text.size();
  const auto [device_end, device_error] = std::from_chars(text.data(), text.data() + colon, device);
  const auto [inode_end, inode_error] = std::from_chars(text.data() + colon + 1, end, inode);
  return device_error == std::errc{} && device_end == text.data() + colon &&
         inode_error == std::errc{} && inode_end == end;
}

}  // namespace

bool stdout_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  unsigned long long device = 0;
  unsigned long long inode = 0;
  if (stream == nullptr || !parse_journal_stream(stream, device, inode)) return false;
  struct stat info {};
  if (fstat(STDOUT_FILENO, &info) != 0) return false;
  return info.st_dev == device && info.st_ino == inode;
}

std::string format_stdout_event(std::string_view program, std::string_view stamp,
                                std::string_view text, bool to_journal) {
  std::string line(program);
  line.append(": ");
  if (!to_journal) line.append(stamp).append(" ");
  return line.append(text);
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
  std::lock_guard lock(mutex_);
  path_ = (std::filesystem::path(directory) / file_name).string();
  file_ = std::fopen(path_.c_str(), "a");
  if (file_ == nullptr) {
    error = "cannot open log file '" + path_ + "'";
    return false;
  }
  return true;
}

void EventLog::echo_to_stdout(std::string program) {
  std::lock_guard lock(mutex_);
  echo_program_ = std::move(program);
  echo_to_journal_ = stdout_is_journal();
}

void EventLog::write(std::string_view text) {
  const std::string stamp = utc_timestamp_now();
  std::lock_guard lock(mutex_);
  if (file_ != nullptr) {
    std::fprintf(file_, "%s %s: %.*s\n", stamp.c_str(), source_.c_str(),
                 static_cast<int>(text.size()), text.data());
    std::fflush(file_);
  }
  if (!echo_program_.empty()) {
    const std::string line = format_stdout_event(echo_program_, stamp, text, echo_to_journal_);
    std::fprintf(stdout, "%s\n", line.c_str());
    std::fflush(stdout);
  }
}

}  // namespace shortline
