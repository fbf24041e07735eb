// One line per event (start, stop, drain, registration, errors), never per request or
// packet, shared by every binary: appended with a UTC ISO 8601 timestamp to a file whose
// folders are created on open, and optionally echoed on stdout. Under systemd (stdout is
// the journal, see JOURNAL_STREAM in systemd.exec(5)) the echoed line carries no timestamp
// of its own: the journal stamps it. Thread-safe; every line is flushed, so a crash keeps
// the history.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace shortline {

// The folders below --log-dir, one per binary (the seed's layout), and the default root.
inline constexpr std::string_view kDefaultLogDir = "logs";
inline constexpr std::string_view kBalancerLogFolder = "balancer";
inline constexpr std::string_view kControllerLogFolder = "controller";
inline constexpr std::string_view kServersLogFolder = "servers";
inline constexpr std::string_view kClientsLogFolder = "clients";
inline constexpr std::string_view kReplayLogFolder = "replay";

class EventLog {
 public:
  EventLog() = default;
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Opens (appends to) `directory`/`file_name`, creating the folders. On failure returns
  // false and sets `error`; the log then writes to no file (stdout echo still works).
  [[nodiscard]] bool open(const std::string& directory, const std::string& file_name,
                          std::string& error);
  // File lines read "<UTC time with ms> <source>: <text>".
  void set_source(std::string source) { source_ = std::move(source); }
  // Also prints each event on stdout as "<program>: <time> <text>", or "<program>: <text>"
  // when stdout is the journal (decided once, here).
  void echo_to_stdout(std::string program);
  void write(std::string_view text);
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  std::string path_;
  std::string source_;
  std::string echo_program_;  // empty: no echo
  bool echo_to_journal_ = false;
};

// "2026-11-26T13:22:18.123Z"
[[nodiscard]] std::string utc_timestamp_now();

// True when JOURNAL_STREAM ("DEVICE:INODE") names the file that stdout is: the process
// runs under systemd with its stdout connected to the journal. A JOURNAL_STREAM inherited
// by a child whose stdout was redirected elsewhere does not count (systemd.exec(5)).
[[nodiscard]] bool stdout_is_journal();

// The stdout form of an event: "<program>: <stamp> <text>", without the stamp for the journal.
[[nodiscard]] std::string format_stdout_event(std::string_view program, std::string_view stamp,
                                              std::string_view text, bool to_journal);

}  // namespace shortline
