// One timestamped line per event (start, stop, drain, errors), never per request, appended
// to a log file whose folders are created on open. Shared by shortline-server and
// shortline-client. Thread-safe; every line is flushed so a crash keeps the history.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace shortline::tools {

class EventLog {
 public:
  EventLog() = default;
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Opens (appends to) `directory`/`file_name`, creating the folders. On failure returns
  // false and sets `error`; the log then writes nowhere.
  [[nodiscard]] bool open(const std::string& directory, const std::string& file_name,
                          std::string& error);
  // Writes "<UTC time with ms> <source>: <text>".
  void write(std::string_view text);
  void set_source(std::string source) { source_ = std::move(source); }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  std::string path_;
  std::string source_;
};

// "2026-11-26T13:22:18.123Z"
[[nodiscard]] std::string utc_timestamp_now();

}  // namespace shortline::tools
