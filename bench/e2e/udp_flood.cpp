// shortline-bench-flood: a spoofed-source UDP flood for the end-to-end benchmark. Writes whole
// IPv4 datagrams through a raw socket (IP_HDRINCL, so root or CAP_NET_RAW), each from a random
// source in 127.0.0.0/8 other than 127.0.0.1, to a target that must itself be on loopback.
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <csignal>

#include "bench/e2e/bench_common.h"

namespace shortline::bench {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr size_t kHeadersBytes = sizeof(iphdr) + sizeof(udphdr);
constexpr size_t kPayloadMax = 1472;  // one 1500-byte frame, no fragments
constexpr uint64_t kNsPerS = 1'000'000'000;
constexpr uint64_t kRateMax = 100'000'000;
constexpr uint64_t kSourcesMax = 1 << 20;
constexpr uint64_t kSleepMaxNs = 1'000'000;
constexpr uint32_t kLoopbackNet = 0x7f000000;  // 127.0.0.0/8, host order

struct Options {
  NetAddress target;
  uint64_t rate = 0;  // datagrams per second; 0: as fast as the socket takes them
  double duration_s = 5.0;
  size_t size = 64;  // UDP payload bytes
  uint64_t packets_max = 100'000'000;
  uint64_t sources = 0;  // 0: a new random source for every datagram; else a pool of this many
  uint64_t seed = 1;
};

Options parse_options(int argc, char** argv) {
  const Flags f(argc, argv,
                {"target", "rate", "duration", "size", "max-packets", "sources", "seed"});
  if (f.all("target").empty())
    usage_error(
        "shortline-bench-flood --target 127.X.Y.Z:PORT [--rate 0] [--duration 5] [--size 64]"
        " [--max-packets 100000000] [--sources 0] [--seed 1]   (needs root: raw socket)");
  Options o;
  o.target = parse_address_or_die(f.text("target", ""));
  o.rate = f.count("rate", o.rate);
  o.duration_s = f.seconds("duration", o.duration_s);
  o.size = f.count("size", o.size);
  o.packets_max = f.count("max-packets", o.packets_max);
  o.sources = f.count("sources", o.sources);
  o.seed = f.count("seed", o.seed);
  if (o.target.family() != AF_INET) usage_error("--target must be an IPv4 loopback address");
  const auto* target = reinterpret_cast<const sockaddr_in*>(o.target.sockaddr_ptr());
  if ((ntohl(target->sin_addr.s_addr) & 0xff000000U) != kLoopbackNet || target->sin_port == 0)
    usage_error("--target must be in 127.0.0.0/8 with a port: this tool floods loopback only");
  if (o.rate > kRateMax) usage_error("--rate must be <= 100000000");
  if (o.duration_s <= 0 || o.duration_s > 600) usage_error("--duration must be in (0, 600]");
  if (o.size > kPayloadMax) usage_error("--size must be 0..1472");
  if (o.packets_max == 0 || o.packets_max > 2'000'000'000) usage_error("--max-packets 1..2e9");
  if (o.sources > kSourcesMax) usage_error("--sources must be 0..1048576");
  return o;
}

// splitmix64: small, fast, and good enough to scatter source addresses.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

struct Source {
  uint32_t address = 0;  // network order
  uint16_t port = 0;     // network order
};

// A random source in 127.0.0.0/8: never the network, broadcast, 127.0.0.1 or the target.
Source random_source(Random& random, uint32_t target_host) {
  const uint64_t r = random.next();
  uint32_t host = kLoopbackNet | static_cast<uint32_t>(r & 0xffffffU);
  if ((host & 0xffffffU) <= 1 || (host & 0xffffffU) == 0xffffffU || host == target_host)
    host = kLoopbackNet | 2U;
  if (host == target_host) host = kLoopbackNet | 3U;
  const auto port = static_cast<uint16_t>(1024 + (r >> 32) % (65536 - 1024));
  return {htonl(host), htons(port)};
}

uint32_t sum16(const void* data, size_t bytes, uint32_t sum) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < bytes; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (bytes % 2 != 0) sum += static_cast<uint32_t>(p[bytes - 1] << 8);
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffffU) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffffU);
}

class Flood {
 public:
  explicit Flood(const Options& options)
      : o_(options), random_(options.seed), sources_(options.sources) {
    target_ = *reinterpret_cast<const sockaddr_in*>(o_.target.sockaddr_ptr());
    fd_ = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);  // IPPROTO_RAW: IP_HDRINCL
    if (fd_ < 0 && (errno == EPERM || errno == EACCES)) {
      std::fprintf(stderr, "shortline-bench-flood: a raw socket needs root (CAP_NET_RAW): %s\n",
                   std::strerror(errno));
      std::exit(2);
    }
    if (fd_ < 0) die("socket(AF_INET, SOCK_RAW, IPPROTO_RAW)");
    const int on = 1;
    if (setsockopt(fd_, IPPROTO_IP, IP_HDRINCL, &on, sizeof(on)) != 0) die("IP_HDRINCL");
    const int bytes = kSocketBufferBytes;
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
    for (auto& source : sources_) source = random_source(random_, ntohl(target_.sin_addr.s_addr));
    for (size_t i = 0; i < kBatchMax; ++i) init_datagram(i);
  }

  void run() {
    std::fprintf(stderr, "FLOOD_START\n");
    std::fflush(stderr);
    start_ns_ = monotonic_ns();
    const uint64_t end_ns = start_ns_ + static_cast<uint64_t>(o_.duration_s * 1e9);
    for (uint64_t now = start_ns_; now < end_ns && g_stop == 0 && attempted_ < o_.packets_max;
         now = monotonic_ns()) {
      const uint64_t due =
          std::min<uint64_t>({sends_due(now), kBatchMax, o_.packets_max - attempted_});
      if (due == 0) {
        sleep_until_next(now);
        continue;
      }
      send_batch(due);
    }
    end_ns_ = monotonic_ns();
  }

  void print_json() const {
    const double elapsed_s = static_cast<double>(end_ns_ - start_ns_) / 1e9;
    std::printf(
        "{\"sent\": %llu, \"send_errors\": %llu, \"busy\": %llu, \"elapsed_s\": %.3f, "
        "\"pps_sent\": %.1f, \"rate\": %llu, \"size\": %zu, \"sources\": %llu, "
        "\"target\": \"%s\"}\n",
        ull(sent_), ull(send_errors_), ull(busy_), elapsed_s,
        elapsed_s > 0 ? static_cast<double>(sent_) / elapsed_s : 0.0, ull(o_.rate), o_.size,
        ull(o_.sources), o_.target.to_string().c_str());
    std::fflush(stdout);
  }

 private:
  static unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

  // Fixed parts of datagram i: headers, payload, destination. Sources are filled per send.
  void init_datagram(size_t i) {
    char* data = batch_.buffers[i].data();
    auto* ip = reinterpret_cast<iphdr*>(data);
    auto* udp = reinterpret_cast<udphdr*>(data + sizeof(iphdr));
    ip->version = 4;
    ip->ihl = sizeof(iphdr) / 4;
    ip->tot_len = htons(static_cast<uint16_t>(kHeadersBytes + o_.size));
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->daddr = target_.sin_addr.s_addr;  // id, check (and saddr if 0) the kernel fills in
    udp->dest = target_.sin_port;
    udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + o_.size));
    for (size_t b = 0; b < o_.size; ++b) data[kHeadersBytes + b] = static_cast<char>(0xa5 ^ b);
    payload_sum_ = sum16(data + kHeadersBytes, o_.size, 0);
    batch_.iovs[i] = {data, kHeadersBytes + o_.size};
    batch_.msgs[i].msg_hdr = {};
    batch_.msgs[i].msg_hdr.msg_iov = &batch_.iovs[i];
    batch_.msgs[i].msg_hdr.msg_iovlen = 1;
    batch_.msgs[i].msg_hdr.msg_name = &target_;
    batch_.msgs[i].msg_hdr.msg_namelen = sizeof(target_);
  }

  // Stamps a source on datagram i and its UDP checksum (pseudo-header, header, payload).
  void set_source(size_t i, Source source) {
    char* data = batch_.buffers[i].data();
    auto* ip = reinterpret_cast<iphdr*>(data);
    auto* udp = reinterpret_cast<udphdr*>(data + sizeof(iphdr));
    ip->saddr = source.address;
    udp->source = source.port;
    udp->check = 0;
    uint32_t sum = payload_sum_ + IPPROTO_UDP + ntohs(udp->len);
    sum = sum16(&ip->saddr, 8, sum);  // saddr and daddr, adjacent in the header
    sum = sum16(udp, sizeof(udphdr), sum);
    const uint16_t check = fold(sum);
    udp->check = htons(check == 0 ? 0xffff : check);  // 0 would mean "no checksum"
  }

  [[nodiscard]] uint64_t sends_due(uint64_t now) const {
    if (o_.rate == 0) return kBatchMax;
    const uint64_t elapsed = now - start_ns_;  // split so that nothing overflows 64 bits
    const uint64_t scheduled =
        elapsed / kNsPerS * o_.rate + elapsed % kNsPerS * o_.rate / kNsPerS + 1;
    return scheduled > attempted_ ? scheduled - attempted_ : 0;
  }

  void sleep_until_next(uint64_t now) const {
    const uint64_t next_ns =
        start_ns_ + attempted_ / o_.rate * kNsPerS + attempted_ % o_.rate * kNsPerS / o_.rate;
    const uint64_t wait_ns = next_ns > now ? std::min(next_ns - now, kSleepMaxNs) : 0;
    const timespec pause{0, static_cast<long>(wait_ns)};
    nanosleep(&pause, nullptr);
  }

  void send_batch(uint64_t count) {
    for (size_t i = 0; i < count; ++i)
      set_source(i, sources_.empty() ? random_source(random_, ntohl(target_.sin_addr.s_addr))
                                     : sources_[random_.next() % sources_.size()]);
    const int n = sendmmsg(fd_, batch_.msgs.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR) {
        ++busy_;  // the socket buffer is full: the schedule retries these
        return;
      }
      ++send_errors_;
      attempted_ += count;  // skip a hard error rather than spin on it
      return;
    }
    attempted_ += static_cast<uint64_t>(n);
    sent_ += static_cast<uint64_t>(n);
  }

  Options o_;
  Random random_;
  std::vector<Source> sources_;  // --sources: the fixed pool, allocated once
  sockaddr_in target_{};
  int fd_ = -1;
  DatagramBatch batch_;
  uint32_t payload_sum_ = 0;
  uint64_t start_ns_ = 0, end_ns_ = 0;
  uint64_t attempted_ = 0, sent_ = 0, send_errors_ = 0, busy_ = 0;
};

}  // namespace
}  // namespace shortline::bench

int main(int argc, char** argv) {
  using namespace shortline::bench;
  const Options options = parse_options(argc, argv);
  static Flood flood(options);  // static: the batch is large
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  flood.run();
  flood.print_json();
  return 0;
}
