// Helpers of sessions_test: the balancer seen from outside (its child pid, descriptors,
// memory and limits in /proc, the admin endpoint, the counters it prints at exit), config
// files, and Load, a client engine that sends each request from a fresh socket.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include "balancer_test_support.h"
#include "child_process.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"


namespace shortline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ChildProcess;
using testing::DelayedEchoServer;
using testing::EchoServer;

const std::string kLb = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- the balancer seen from outside: /proc, the admin endpoint, its exit output ----

// The pid of this process's child whose command name is `name` (after its exec), or -1.
pid_t child_named(const std::string& name) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  pid_t found = -1;
  while (const dirent* entry = readdir(proc)) {
    if (std::isdigit(static_cast<unsigned char>(entry->d_name[0])) == 0) continue;
    std::ifstream file(std::string("/proc/") + entry->d_name + "/stat");
    std::string stat;
    std::getline(file, stat);
    const auto open_at = stat.find('(');
    const auto close_at = stat.rfind(')');
    if (open_at == std::string::npos || close_at == std::string::npos) continue;
    std::istringstream rest(stat.substr(close_at + 1));
    char state = 0;
    pid_t parent = 0;
    if (!(rest >> state >> parent) || parent != getpid()) continue;
    if (stat.substr(open_at + 1, close_at - open_at - 1) != name) continue;
    found = static_cast<pid_t>(std::stol(entry->d_name));
    break;
  }
  closedir(proc);
  return found;
}

// Entries in /proc/PID/fd: the descriptors the process holds; -1 when it is gone.
int open_fds(pid_t pid) {
  DIR* fds = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (fds == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = readdir(fds))
    if (entry->d_name[0] != '.') ++count;
  closedir(fds);
  return count;
}

// A "Name:  value" field of /proc/PID/status as a number (VmRSS is in KiB); 0 if absent.
uint64_t status_field(pid_t pid, const std::string& name) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(file, line);)
    if (line.rfind(name + ":", 0) == 0) return std::stoull(line.substr(name.size() + 1));
  return 0;
}

// {soft, hard} of "Max open files" in /proc/PID/limits; {0, 0} if unreadable.
std::pair<uint64_t, uint64_t> file_limits(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(file, line);) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream values(line.substr(14));
    std::string soft;
    std::string hard;
    values >> soft >> hard;
    const auto number = [](const std::string& v) {
      return v == "unlimited" ? UINT64_MAX : std::stoull(v);
    };
    return {number(soft), number(hard)};
  }
  return {0, 0};
}

// The address after `marker` on a line: "listening on 127.0.0.1:5 (" -> "127.0.0.1:5".
std::string address_after(const std::string& line, const std::string& marker) {
  const auto start = line.find(marker) + marker.size();
  const auto end = line.find_first_of(" /\n", start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The value of a counter line "  name   value" in the balancer's exit output.
uint64_t counter(const std::string& output, const std::string& name) {
  const auto at = output.find("  " + name + " ");
  if (at == std::string::npos) return UINT64_MAX;
  return std::stoull(output.substr(output.find_first_not_of(' ', at + 2 + name.size())));
}

// The sum of every "  drop_*" line of the data-plane counters in the exit output.
uint64_t named_drops(const std::string& output) {
  const auto start = output.find("shortline-lb: counters\n");
  const auto end = output.find("shortline-lb: servers", start);
  if (start == std::string::npos || end == std::string::npos) return UINT64_MAX;
  std::istringstream lines(output.substr(start, end - start));
  uint64_t sum = 0;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name;
    uint64_t value = 0;
    if (fields >> name >> value && name.rfind("drop_", 0) == 0) sum += value;
  }
  return sum;
}

// A counter from GET /metrics on the admin endpoint ("shortline_NAME_total V"; a drop_REASON
// is "shortline_drops_total{reason="REASON"} V"), or nullopt.
std::optional<uint64_t> admin_counter(const NetAddress& admin, const std::string& name) {
  const std::string metrics = "\n" + http_get(admin, "/metrics");
  const std::string sample = name.rfind("drop_", 0) == 0
                                 ? "\nshortline_drops_total{reason=\"" + name.substr(5) + "\"} "
                                 : "\nshortline_" + name + "_total ";
  const auto at = metrics.find(sample);
  if (at == std::string::npos) return std::nullopt;
  return std::stoull(metrics.substr(at + sample.size()));
}

std::string write_config(const std::string& name, const std::string& load_balancer_json) {
  const std::string path = ::testing::TempDir() + "/shortline_sessions_" + name + ".json";
  std::ofstream(path) << R"({"load_balancer": )" << load_balancer_json << "}\n";
  return path;
}

// The first `name` on PATH that is executable, or "".
std::string find_program(const std::string& name) {
  std::istringstream path(getenv("PATH") != nullptr ? getenv("PATH") : "/usr/bin:/bin");
  for (std::string dir; std::getline(path, dir, ':');)
    if (access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  return "";
}

// ---- clients ----

// Sends `payload` through fd (to `to`, or to its connected peer when null) up to `tries`
// times, each time waiting up to timeout for that payload to come back; other datagrams
// are skipped. Returns whether it came back.
bool request(int fd, const NetAddress* to, const std::string& payload,
             std::chrono::milliseconds timeout, int tries = 1) {
  char buffer[2048];
  for (int attempt = 0; attempt < tries; ++attempt) {
    if (to != nullptr)
      (void)sendto(fd, payload.data(), payload.size(), 0, to->sockaddr_ptr(), to->length);
    else
      (void)send(fd, payload.data(), payload.size(), 0);
    const auto deadline = Clock::now() + timeout;
    for (auto left = timeout; left.count() > 0;
         left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n >= 0 && std::string(buffer, static_cast<size_t>(n)) == payload) return true;
    }
  }
  return false;
}

// Many request/reply exchanges in parallel through slots: a fresh slot opens a new socket
// for each request and closes it after; a fixed slot keeps one socket for the whole run.
// Every request carries a unique payload, so a reply meant for anyone else is caught.
struct LoadOptions {
  std::string host = "127.0.0.1";
  int fresh_slots = 16;
  int fixed_slots = 0;
  std::chrono::milliseconds reply_timeout = 2000ms;
  int retries = 1;  // resends from the same socket before a request counts as lost
  int requests_min = 1500;
  Clock::duration run_min = 3s;  // new requests start until both minimums are reached,
  int requests_max = 6000;       // and never beyond either maximum
  Clock::duration run_max = 20s;
  int lost_max = 32;           // stop early: a broken balancer would only cost time
  int requests_per_s_max = 0;  // pace new requests, so that the run lasts; 0 = no pace
  std::function<void()> every_50ms = [] {};
};

struct LoadResult {
  int requests = 0;
  int answered = 0;
  int lost = 0;
  int retried = 0;
  int late_own = 0;  // a fixed socket's reply to one of its earlier requests
  int foreign = 0;   // a reply carrying a payload this socket never sent
  std::string foreign_example;
  std::set<uint16_t> ports;  // source ports the fresh sockets had
  double seconds = 0;
};

class Load {
 public:
  Load(const NetAddress& target, LoadOptions options) : target_(target), o_(std::move(options)) {
    for (int i = 0; i < o_.fresh_slots + o_.fixed_slots; ++i) {
      Slot slot;
      slot.prefix = (i < o_.fresh_slots ? "fresh" : "fixed") + std::to_string(i) + ".";
      slot.fresh = i < o_.fresh_slots;
      if (!slot.fresh) slot.fd = testing::open_udp_socket(testing::any_port(o_.host));
      slots_.push_back(slot);
    }
  }
  ~Load() {
    for (const auto& slot : slots_)
      if (slot.fd >= 0) close(slot.fd);
  }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  LoadResult run() {
    start_ = Clock::now();
    const auto deadline = start_ + o_.run_max + o_.reply_timeout * (o_.retries + 1) + 5s;
    auto next_tick = start_;
    for (;;) {
      bool busy = false;
      for (auto& slot : slots_) {
        if (!slot.busy && may_start()) begin(slot);
        busy = busy || slot.busy;
      }
      if ((!busy && !more_to_start()) || Clock::now() > deadline) break;
      receive_ready();
      expire();
      if (Clock::now() >= next_tick) {
        o_.every_50ms();
        next_tick = Clock::now() + 50ms;
      }
    }
    for (auto& slot : slots_)
      if (slot.busy) finish(slot, false);
    r_.seconds = seconds_since(start_);
    return r_;
  }

 private:
  struct Slot {
    int fd = -1;
    bool fresh = true;
    bool busy = false;
    std::string prefix;
    std::string payload;
    uint64_t sequence = 0;
    int tries = 0;
    Clock::time_point sent_at;
  };

  [[nodiscard]] bool more_to_start() const {
    const auto elapsed = Clock::now() - start_;
    if (r_.requests >= o_.requests_max || elapsed >= o_.run_max || r_.lost >= o_.lost_max)
      return false;
    return r_.requests < o_.requests_min || elapsed < o_.run_min;
  }

  // More to start, and not ahead of the pace (a slot waits while the run is ahead).
  [[nodiscard]] bool may_start() const {
    if (!more_to_start()) return false;
    if (o_.requests_per_s_max <= 0) return true;
    const double allowed = o_.requests_per_s_max * seconds_since(start_);
    return r_.requests < o_.fresh_slots + o_.fixed_slots + static_cast<int>(allowed);
  }

  void begin(Slot& slot) {
    if (slot.fresh) {
      slot.fd = testing::open_udp_socket(testing::any_port(o_.host));
      if (slot.fd < 0) return;
      r_.ports.insert(testing::local_address(slot.fd).port());
    }
    slot.payload = slot.prefix + std::to_string(slot.sequence++) + ";shortline-session-test";
    slot.busy = true;
    slot.tries = 0;
    ++r_.requests;
    send(slot);
  }

  void send(Slot& slot) {
    ++slot.tries;
    slot.sent_at = Clock::now();
    (void)sendto(slot.fd, slot.payload.data(), slot.payload.size(), 0, target_.sockaddr_ptr(),
                 target_.length);
  }

  void finish(Slot& slot, bool answered) {
    ++(answered ? r_.answered : r_.lost);
    slot.busy = false;
    if (slot.fresh) {
      close(slot.fd);
      slot.fd = -1;
    }
  }

  void receive_ready() {
    std::vector<pollfd> fds;
    std::vector<Slot*> owners;
    for (auto& slot : slots_) {
      if (!slot.busy) continue;
      fds.push_back({slot.fd, POLLIN, 0});
      owners.push_back(&slot);
    }
    if (poll(fds.data(), fds.size(), 5) <= 0) return;
    char buffer[2048];
    for (std::size_t i = 0; i < fds.size(); ++i) {
      for (int n = 0; n < 64 && (fds[i].revents & POLLIN) != 0 && owners[i]->busy; ++n) {
        const ssize_t size = recv(fds[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (size < 0) break;
        classify(*owners[i], std::string(buffer, static_cast<size_t>(size)));
      }
    }
  }

  void classify(Slot& slot, const std::string& payload) {
    if (payload == slot.payload) {
      finish(slot, true);
    } else if (!slot.fresh && payload.rfind(slot.prefix, 0) == 0) {
      ++r_.late_own;
    } else {
      ++r_.foreign;
      if (r_.foreign_example.empty())
        r_.foreign_example = payload + " (expected " + slot.payload + ")";
    }
  }

  void expire() {
    const auto now = Clock::now();
    for (auto& slot : slots_) {
      if (!slot.busy || now - slot.sent_at < o_.reply_timeout) continue;
      if (slot.tries <= o_.retries) {
        ++r_.retried;
        send(slot);
      } else {
        finish(slot, false);
      }
    }
  }

  NetAddress target_;
  LoadOptions o_;
  std::vector<Slot> slots_;
  Clock::time_point start_;
  LoadResult r_;
};

}  // namespace
}  // namespace shortline
