// What the shortline-replay tests share: writing a capture frame by frame (Ethernet, IPv4 or
// IPv6, UDP) with libpcap, running the replay binary with its stdout captured under a deadline,
// and reading numbers out of its JSON summary.
#pragma once

#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace shortline::testing {

// Ethernet + IPv4/IPv6 + UDP frame. Addresses 10.9.0.<n> / 2001:db8::<n>.
inline std::vector<uint8_t> frame(bool v6, uint8_t src_host, uint16_t sport, uint8_t dst_host,
                           uint16_t dport, const std::string& payload) {
  std::vector<uint8_t> f(12, 0x02);
  f.push_back(v6 ? 0x86 : 0x08);
  f.push_back(v6 ? 0xDD : 0x00);
  const size_t udp_length = 8 + payload.size();
  if (v6) {
    std::vector<uint8_t> ip(40, 0);
    ip[0] = 0x60;
    ip[4] = static_cast<uint8_t>(udp_length >> 8);
    ip[5] = static_cast<uint8_t>(udp_length);
    ip[6] = 17;
    ip[8] = ip[24] = 0x20;
    ip[9] = ip[25] = 0x01;
    ip[10] = ip[26] = 0x0d;
    ip[11] = ip[27] = 0xb8;
    ip[23] = src_host;
    ip[39] = dst_host;
    for (uint8_t b : ip) f.push_back(b);
  } else {
    const size_t total = 20 + udp_length;
    const uint8_t ip[20] = {0x45, 0, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total),
                            0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 0, src_host, 10, 9, 0, dst_host};
    for (uint8_t b : ip) f.push_back(b);
  }
  const uint8_t udp[8] = {static_cast<uint8_t>(sport >> 8), static_cast<uint8_t>(sport),
                          static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport),
                          static_cast<uint8_t>(udp_length >> 8), static_cast<uint8_t>(udp_length),
                          0, 0};
  for (uint8_t b : udp) f.push_back(b);
  for (char c : payload) f.push_back(static_cast<uint8_t>(c));
  return f;
}

// A nanosecond-precision Ethernet pcap written record by record; closed on destruction.
class CaptureWriter {
 public:
  explicit CaptureWriter(const std::string& path)
      : dead_(pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO)),
        dumper_(pcap_dump_open(dead_, path.c_str())) {}
  ~CaptureWriter() {
    if (dumper_ != nullptr) pcap_dump_close(dumper_);
    pcap_close(dead_);
  }
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  void add(const std::vector<uint8_t>& f, uint64_t ts_ns) {
    if (dumper_ == nullptr) return;
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(ts_ns / 1'000'000'000);
    h.ts.tv_usec = static_cast<suseconds_t>(ts_ns % 1'000'000'000);
    h.caplen = h.len = static_cast<uint32_t>(f.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, f.data());
  }

 private:
  pcap_t* dead_;
  pcap_dumper_t* dumper_;
};

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout
};

// Runs a command with stdout captured, killing it past timeout.
inline RunResult run(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  RunResult result;
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{out[0], POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    result.output.append(buffer, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// The integer after "key": in the JSON summary, or -1.
inline long long json_number(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::atoll(json.c_str() + at + key.size() + 3);
}

// The number after "key": in the JSON summary (the first occurrence), or NaN.
inline double json_double(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return __builtin_nan("");
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

}  // namespace shortline::testing
