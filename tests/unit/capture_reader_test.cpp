// Capture reading: frame decoding on byte arrays (table-driven), captures written by the test,
// damaged files, and the expected counts of every sample capture in ../shared/captures.
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tools/replay/capture_reader.h"
#include "tools/replay/packet_decode.h"

namespace shortline::replay {
namespace {

using Bytes = std::vector<uint8_t>;

// Element-wise append: gcc 12 at -O3 reports false array-bounds errors for vector::insert.
void append(Bytes& b, const Bytes& tail) {
  b.reserve(b.size() + tail.size());
  for (const uint8_t byte : tail) b.push_back(byte);
}

void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

// UDP header + payload "hello" (5 bytes) from src_port to dst_port.
Bytes udp(uint16_t src_port, uint16_t dst_port, const std::string& payload = "hello") {
  Bytes b(8);
  put16(b, 0, src_port);
  put16(b, 2, dst_port);
  put16(b, 4, static_cast<uint16_t>(8 + payload.size()));
  for (const char c : payload) b.push_back(static_cast<uint8_t>(c));
  return b;
}

Bytes ipv4(const Bytes& body, uint8_t proto = 17, uint16_t fragment = 0) {
  Bytes b{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  put16(b, 2, static_cast<uint16_t>(20 + body.size()));
  put16(b, 6, fragment);
  append(b, body);
  return b;
}

// IPv6 with optional extension headers (each given with its own next-header byte patched).
Bytes ipv6(const Bytes& body, uint8_t next = 17, const Bytes& ext = {}) {
  Bytes b(40, 0);
  b[0] = 0x60;
  put16(b, 4, static_cast<uint16_t>(ext.size() + body.size()));
  b[6] = next;
  b[8] = 0x20;  // source 2000::1
  b[23] = 1;
  b[24] = 0x20;  // destination 2000::2
  b[39] = 2;
  append(b, ext);
  append(b, body);
  return b;
}

Bytes ethernet(const Bytes& body, std::vector<uint16_t> types) {
  Bytes b(12, 0xAA);
  for (size_t i = 0; i < types.size(); ++i) {
    b.push_back(static_cast<uint8_t>(types[i] >> 8));
    b.push_back(static_cast<uint8_t>(types[i]));
    if (i + 1 < types.size()) append(b, Bytes{0x00, 0x05});  // VLAN TCI
  }
  append(b, body);
  return b;
}

Bytes concat(Bytes head, const Bytes& tail) {
  append(head, tail);
  return head;
}

DecodeStatus decode(int dlt, const Bytes& frame, Datagram& out, uint32_t wire = 0) {
  const std::span bytes(reinterpret_cast<const std::byte*>(frame.data()), frame.size());
  return decode_frame(dlt, bytes, wire == 0 ? static_cast<uint32_t>(frame.size()) : wire, out);
}

std::string payload_of(const Datagram& d) {
  return std::string(reinterpret_cast<const char*>(d.payload.data()), d.payload.size());
}

struct DecodeCase {
  const char* name;
  int dlt;
  Bytes frame;
  DecodeStatus expected;
};

TEST(PacketDecode, TableOfFrames) {
  const Bytes v4 = ipv4(udp(1000, 53));
  const Bytes v6 = ipv6(udp(1000, 53));
  Bytes sll(16, 0);
  put16(sll, 14, 0x0800);
  Bytes sll2(20, 0);
  put16(sll2, 0, 0x86DD);
  const Bytes hop{17, 0, 1, 4, 0, 0, 0, 0};             // hop-by-hop, next = UDP
  const Bytes dst_then_frag{44, 0, 0, 0, 0, 0, 0, 0,    // destination options, next = frag
                            17, 0, 0, 0, 0, 0, 0, 1};   // atomic fragment, next = UDP
  const Bytes real_frag{17, 0, 0, 1, 0, 0, 0, 1};       // M flag set
  const std::vector<DecodeCase> cases = {
      {"ethernet ipv4", DLT_EN10MB, ethernet(v4, {0x0800}), DecodeStatus::kOk},
      {"ethernet ipv6", DLT_EN10MB, ethernet(v6, {0x86DD}), DecodeStatus::kOk},
      {"802.1Q", DLT_EN10MB, ethernet(v4, {0x8100, 0x0800}), DecodeStatus::kOk},
      {"QinQ", DLT_EN10MB, ethernet(v6, {0x88A8, 0x8100, 0x86DD}), DecodeStatus::kOk},
      {"five tags", DLT_EN10MB, ethernet(v4, {0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x0800}),
       DecodeStatus::kMalformed},
      {"ethernet padding", DLT_EN10MB, concat(ethernet(v4, {0x0800}), Bytes(20, 0)),
       DecodeStatus::kOk},
      {"arp", DLT_EN10MB, ethernet(Bytes(28, 0), {0x0806}), DecodeStatus::kNotUdp},
      {"802.3 length", DLT_EN10MB, ethernet(Bytes(40, 0), {0x0028}), DecodeStatus::kNotUdp},
      {"sll", DLT_LINUX_SLL, concat(sll, v4), DecodeStatus::kOk},
      {"sll2", DLT_LINUX_SLL2, concat(sll2, v6), DecodeStatus::kOk},
      {"null le", DLT_NULL, concat(Bytes{2, 0, 0, 0}, v4), DecodeStatus::kOk},
      {"null be v6", DLT_NULL, concat(Bytes{0, 0, 0, 30}, v6), DecodeStatus::kOk},
      {"raw v4", DLT_RAW, v4, DecodeStatus::kOk},
      {"linktype raw v6", 101, v6, DecodeStatus::kOk},
      {"ipv4 link", DLT_IPV4, v4, DecodeStatus::kOk},
      {"ipv6 link", DLT_IPV6, v6, DecodeStatus::kOk},
      {"ipv6 link given v4", DLT_IPV6, v4, DecodeStatus::kMalformed},
      {"raw version 3", DLT_RAW, Bytes{0x30}, DecodeStatus::kMalformed},
      {"tcp", DLT_RAW, ipv4(Bytes(20, 0), 6), DecodeStatus::kNotUdp},
      {"v4 more fragments", DLT_RAW, ipv4(udp(1, 2), 17, 0x2000), DecodeStatus::kFragment},
      {"v4 later fragment", DLT_RAW, ipv4(Bytes(16, 0), 17, 0x0003), DecodeStatus::kFragment},
      {"v4 dont-fragment", DLT_RAW, ipv4(udp(1, 2), 17, 0x4000), DecodeStatus::kOk},
      {"v6 hop-by-hop", DLT_RAW, ipv6(udp(1, 2), 0, hop), DecodeStatus::kOk},
      {"v6 dstopt + atomic frag", DLT_RAW, ipv6(udp(1, 2), 60, dst_then_frag), DecodeStatus::kOk},
      {"v6 fragment", DLT_RAW, ipv6(udp(1, 2), 44, real_frag), DecodeStatus::kFragment},
      {"v6 icmp", DLT_RAW, ipv6(Bytes(8, 0), 58), DecodeStatus::kNotUdp},
      {"v6 esp", DLT_RAW, ipv6(Bytes(16, 0), 50), DecodeStatus::kNotUdp},
      {"unknown link", 147, v4, DecodeStatus::kUnsupportedLink},
  };
  for (const auto& c : cases) {
    Datagram out;
    EXPECT_EQ(decode(c.dlt, c.frame, out), c.expected) << c.name;
    if (c.expected == DecodeStatus::kOk) {
      EXPECT_EQ(payload_of(out), "hello") << c.name;
    }
  }
}

TEST(PacketDecode, AddressesAndPorts) {
  Datagram out;
  ASSERT_EQ(decode(DLT_RAW, ipv4(udp(1000, 53)), out), DecodeStatus::kOk);
  EXPECT_EQ(out.src.to_string(), "10.0.0.1:1000");
  EXPECT_EQ(out.dst.to_string(), "10.0.0.2:53");
  ASSERT_EQ(decode(DLT_RAW, ipv6(udp(4000, 5353)), out), DecodeStatus::kOk);
  EXPECT_EQ(out.src.to_string(), "[2000::1]:4000");
  EXPECT_EQ(out.dst.to_string(), "[2000::2]:5353");
}

TEST(PacketDecode, LengthsThatContradict) {
  Datagram out;
  Bytes long_udp = ipv4(udp(1, 2));
  put16(long_udp, 24, 200);  // UDP length beyond the IP payload
  EXPECT_EQ(decode(DLT_RAW, long_udp, out), DecodeStatus::kMalformed);
  Bytes short_udp = ipv4(udp(1, 2));
  put16(short_udp, 24, 7);  // below the UDP header size
  EXPECT_EQ(decode(DLT_RAW, short_udp, out), DecodeStatus::kMalformed);
  Bytes long_ip = ipv4(udp(1, 2));
  put16(long_ip, 2, 400);  // IP total length beyond the wire length
  EXPECT_EQ(decode(DLT_RAW, long_ip, out), DecodeStatus::kMalformed);
  Bytes small_ihl = ipv4(udp(1, 2));
  small_ihl[0] = 0x44;
  EXPECT_EQ(decode(DLT_RAW, small_ihl, out), DecodeStatus::kMalformed);
  Bytes jumbo = ipv6(udp(1, 2));
  put16(jumbo, 4, 0);
  EXPECT_EQ(decode(DLT_RAW, jumbo, out), DecodeStatus::kMalformed);
  const Bytes chain(40, 0);  // five zeroed hop-by-hop headers that chain into the UDP bytes
  EXPECT_NE(decode(DLT_RAW, ipv6(udp(1, 2), 0, chain), out), DecodeStatus::kOk);
}

// Every prefix of a valid frame: kTruncated when the wire had the rest, never a crash.
TEST(PacketDecode, EveryPrefixIsTruncatedOrMalformed) {
  const Bytes frames[] = {ethernet(ipv4(udp(1, 2)), {0x8100, 0x0800}),
                          ethernet(ipv6(udp(1, 2), 0, Bytes{17, 0, 1, 4, 0, 0, 0, 0}), {0x86DD})};
  for (const Bytes& frame : frames) {
    for (size_t cut = 0; cut < frame.size(); ++cut) {
      const Bytes prefix(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(cut));
      Datagram out;
      EXPECT_EQ(decode(DLT_EN10MB, prefix, out, static_cast<uint32_t>(frame.size())),
                DecodeStatus::kTruncated) << "cut at " << cut;
      if (cut > 0) {
        EXPECT_NE(decode(DLT_EN10MB, prefix, out), DecodeStatus::kOk) << "cut at " << cut;
      }
    }
  }
}

TEST(PortTally, BusiestPortTiesGoToTheFirstSeen) {
  PortTally tally;
  EXPECT_EQ(busiest_port(tally), -1);
  tally.add(1645, 1);  // reply port seen second
  tally.add(1812, 0);
  tally.add(1812, 2);
  tally.add(1645, 3);
  EXPECT_EQ(busiest_port(tally), 1812);
  tally.add(1645, 4);
  EXPECT_EQ(busiest_port(tally), 1645);
}

// A temporary capture written with libpcap's dumper.
class TempCapture {
 public:
  explicit TempCapture(int dlt) {
    char name[] = "/tmp/shortline-capture-XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    if (fd >= 0) close(fd);
    path_ = name;
    pcap_ = pcap_open_dead_with_tstamp_precision(dlt, 65535, PCAP_TSTAMP_PRECISION_NANO);
    dumper_ = pcap_dump_open(pcap_, path_.c_str());
    EXPECT_NE(dumper_, nullptr);
  }
  ~TempCapture() {
    close_file();
    pcap_close(pcap_);
    std::remove(path_.c_str());
  }
  void add(const Bytes& frame, uint64_t ts_ns, uint32_t wire = 0) {
    pcap_pkthdr header{};
    header.ts.tv_sec = static_cast<time_t>(ts_ns / 1'000'000'000);
    header.ts.tv_usec = static_cast<suseconds_t>(ts_ns % 1'000'000'000);
    header.caplen = static_cast<uint32_t>(frame.size());
    header.len = wire == 0 ? header.caplen : wire;
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &header, frame.data());
  }
  void close_file() {
    if (dumper_ != nullptr) pcap_dump_close(dumper_);
    dumper_ = nullptr;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  pcap_t* pcap_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
};

TEST(LoadCapture, SelectsBusiestPortAndMapsFlows) {
  TempCapture capture(DLT_EN10MB);
  const uint64_t t0 = 1'700'000'000'000'000'000ULL;
  for (int i = 0; i < 6; ++i) {
    Bytes request = ethernet(ipv4(udp(static_cast<uint16_t>(4000 + i % 3), 53)), {0x0800});
    capture.add(request, t0 + static_cast<uint64_t>(i) * 1'000'000);
    Bytes reply = ethernet(ipv4(udp(53, static_cast<uint16_t>(4000 + i % 3))), {0x0800});
    if (i < 4) capture.add(reply, t0 + static_cast<uint64_t>(i) * 1'000'000 + 500);
  }
  capture.add(ethernet(Bytes(28, 0), {0x0806}), t0 + 10'000'000);
  Bytes bad = ethernet(ipv4(udp(9, 53)), {0x0800});
  put16(bad, 16, 400);  // IP total length beyond the frame
  capture.add(bad, t0 + 11'000'000);
  capture.close_file();
  CapturePlan plan;
  std::string error;
  ASSERT_TRUE(load_capture(capture.path(), LoadOptions{}, plan, error)) << error;
  EXPECT_EQ(plan.dst_port, 53);
  EXPECT_EQ(plan.counts.records_read, 12U);
  EXPECT_EQ(plan.counts.udp_datagrams, 10U);
  EXPECT_EQ(plan.counts.selected, 6U);
  EXPECT_EQ(plan.counts.skipped[static_cast<size_t>(SkipReason::kNotUdp)], 1U);
  EXPECT_EQ(plan.counts.skipped[static_cast<size_t>(SkipReason::kMalformed)], 1U);
  EXPECT_EQ(plan.counts.skipped[static_cast<size_t>(SkipReason::kFiltered)], 4U);
  EXPECT_EQ(plan.flows.flow_count(), 3U);
  ASSERT_EQ(plan.datagrams.size(), 6U);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(plan.datagrams[i].flow, i % 3);
    EXPECT_EQ(plan.datagrams[i].timestamp_ns, t0 + i * 1'000'000);
    EXPECT_EQ(plan.datagrams[i].payload_length, 5U);
  }
  EXPECT_EQ(plan.flows.source(1).to_string(), "10.0.0.1:4001");
}

TEST(LoadCapture, FilterAndPortSelection) {
  TempCapture capture(DLT_RAW);
  capture.add(ipv4(udp(1000, 53)), 1000);
  capture.add(ipv4(udp(1000, 123)), 2000);
  capture.add(ipv4(udp(1001, 123)), 3000);
  capture.close_file();
  CapturePlan plan;
  std::string error;
  LoadOptions options;
  options.filter = "udp dst port 53";
  ASSERT_TRUE(load_capture(capture.path(), options, plan, error)) << error;
  EXPECT_EQ(plan.counts.selected, 1U);
  EXPECT_EQ(plan.counts.skipped[static_cast<size_t>(SkipReason::kFiltered)], 2U);
  options.filter.clear();
  options.dst_port = 123;
  ASSERT_TRUE(load_capture(capture.path(), options, plan, error)) << error;
  EXPECT_EQ(plan.counts.selected, 2U);
  EXPECT_EQ(plan.flows.flow_count(), 2U);
  options.dst_port = -1;
  options.filter = "udp and and";
  EXPECT_FALSE(load_capture(capture.path(), options, plan, error));
  EXPECT_NE(error.find("bad --filter"), std::string::npos) << error;
}

TEST(LoadCapture, DamagedAndForeignFiles) {
  TempCapture capture(DLT_RAW);
  for (int i = 0; i < 3; ++i) capture.add(ipv4(udp(1000, 53)), 1000 + static_cast<uint64_t>(i));
  capture.close_file();
  const auto size = std::filesystem::file_size(capture.path());
  std::filesystem::resize_file(capture.path(), size - 10);  // cut into the last record
  CapturePlan plan;
  std::string error;
  ASSERT_TRUE(load_capture(capture.path(), LoadOptions{}, plan, error)) << error;
  EXPECT_TRUE(plan.counts.file_damaged);
  EXPECT_EQ(plan.counts.selected, 2U);
  std::filesystem::resize_file(capture.path(), 0);
  EXPECT_FALSE(load_capture(capture.path(), LoadOptions{}, plan, error));
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
  EXPECT_FALSE(load_capture("/nonexistent/capture.pcap", LoadOptions{}, plan, error));
  TempCapture wifi(DLT_IEEE802_11);
  wifi.add(Bytes(30, 0), 1);
  wifi.close_file();
  EXPECT_FALSE(load_capture(wifi.path(), LoadOptions{}, plan, error));
  EXPECT_NE(error.find("unsupported link type"), std::string::npos) << error;
}

// Expected counts per sample capture. `tcpdump_udp` is the output of
// `tcpdump -r FILE udp | wc -l` (tcpdump 4.99 / libpcap 1.10.3, run while writing this test);
// tcpdump also counts UDP datagrams cut short by the snapshot length, so it equals our
// udp + truncated. The other numbers follow from `tcpdump -r FILE -v`.
struct SampleCase {
  const char* file;
  uint64_t tcpdump_udp, records, udp, selected, truncated, malformed, filtered;
  int dst_port;
};

TEST(SampleCaptures, ExpectedCounts) {
  const std::string dir = std::string(SHORTLINE_SOURCE_DIR) + "/../shared/captures";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no sample captures at " << dir;
  const SampleCase cases[] = {
      {"dns_udp.pcap", 2, 2, 2, 1, 0, 0, 1, 53},
      {"dns_udp_2.pcap", 2, 2, 1, 1, 1, 0, 0, 53},  // snaplen 98 cuts the reply
      {"RADIUS.pcap", 4, 4, 4, 2, 0, 0, 2, 1812},
      {"dhcp-option-108.pcapng", 2, 2, 2, 1, 0, 0, 1, 67},
      {"LINKTYPE_RAW_ipv4.pcap", 1, 1, 1, 1, 0, 0, 0, 53},
      {"LINKTYPE_IPV6.pcap", 1, 1, 1, 1, 0, 0, 0, 53},
      {"empty.pcapng", 0, 0, 0, 0, 0, 0, 0, -1},
      {"heap-overflow-1.pcap", 0, 1, 0, 0, 0, 1, 0, -1},  // IP version 3 in one byte
  };
  for (const auto& c : cases) {
    CapturePlan plan;
    std::string error;
    ASSERT_TRUE(load_capture(dir + "/" + c.file, LoadOptions{}, plan, error)) << c.file << error;
    const auto& counts = plan.counts;
    EXPECT_EQ(counts.records_read, c.records) << c.file;
    EXPECT_EQ(counts.udp_datagrams, c.udp) << c.file;
    EXPECT_EQ(counts.udp_datagrams + counts.skipped[static_cast<size_t>(SkipReason::kTruncated)],
              c.tcpdump_udp) << c.file;
    EXPECT_EQ(counts.selected, c.selected) << c.file;
    EXPECT_EQ(counts.skipped[static_cast<size_t>(SkipReason::kTruncated)], c.truncated) << c.file;
    EXPECT_EQ(counts.skipped[static_cast<size_t>(SkipReason::kMalformed)], c.malformed) << c.file;
    EXPECT_EQ(counts.skipped[static_cast<size_t>(SkipReason::kFiltered)], c.filtered) << c.file;
    EXPECT_EQ(plan.dst_port, c.dst_port) << c.file;
    EXPECT_FALSE(counts.file_damaged) << c.file;
  }
}

}  // namespace
}  // namespace shortline::replay
