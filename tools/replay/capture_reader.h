// Reading pcap/pcapng captures with libpcap, and loading the datagrams to replay into memory:
// counts per skip reason, BPF filter or busiest-destination-port selection, flow indices.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tools/replay/flow_map.h"
#include "tools/replay/packet_decode.h"

using pcap_t = struct pcap;

namespace shortline::replay {

// Why a record was not selected; one counter each in CaptureCounts.
enum class SkipReason : uint8_t { kNotUdp, kFragment, kTruncated, kMalformed, kFiltered, kCount };
[[nodiscard]] const char* to_string(SkipReason reason);
[[nodiscard]] SkipReason skip_reason_of(DecodeStatus status);

struct CaptureCounts {
  uint64_t records_read = 0;   // every record libpcap returned
  uint64_t udp_datagrams = 0;  // records that decoded into a complete UDP datagram
  uint64_t selected = 0;       // datagrams kept for replay
  std::array<uint64_t, static_cast<size_t>(SkipReason::kCount)> skipped{};
  bool file_damaged = false;  // cut short or corrupt after some records: those are kept
  std::string file_warning;  // libpcap's message when file_damaged
};

// One libpcap capture handle. Not copyable; closes the capture on destruction.
class CaptureReader {
 public:
  enum class Next : uint8_t { kDatagram, kSkipped, kEnd, kError };

  // Opens a pcap or pcapng file. Returns nullptr with a message in error when it cannot be
  // read as a capture or its link type is not supported.
  [[nodiscard]] static std::unique_ptr<CaptureReader> open(const std::string& path,
                                                           std::string& error);
  // Same from an open stream (fmemopen in the fuzz target); takes ownership of file.
  [[nodiscard]] static std::unique_ptr<CaptureReader> open_stream(FILE* file,
                                                                  std::string& error);
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  [[nodiscard]] int link_type() const { return link_type_; }
  [[nodiscard]] std::string link_type_name() const;
  // Compiles a BPF expression against this capture's link type. False with error if invalid.
  [[nodiscard]] bool set_filter(const std::string& expression, std::string& error);
  // Reads one record. kDatagram fills out (payload valid until the next call); kSkipped sets
  // reason; kError leaves libpcap's message in error().
  [[nodiscard]] Next next(Datagram& out, SkipReason& reason);
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  CaptureReader(pcap_t* handle, int link_type);
  pcap_t* handle_;
  int link_type_;
  bool has_filter_ = false;
  struct Filter;
  std::unique_ptr<Filter> filter_;
  std::string error_;
};

// Per destination port: datagrams seen and the record index of the first one.
struct PortTally {
  std::array<uint64_t, 65536> count{};
  std::array<uint64_t, 65536> first_seen{};
  void add(uint16_t port, uint64_t record_index);
};
// The busiest destination port; on a tie the one seen first (a request precedes its reply).
// Returns -1 when nothing was tallied.
[[nodiscard]] int busiest_port(const PortTally& tally);

// Limits of what load_capture keeps in memory.
struct LoadOptions {
  std::string filter;                          // BPF expression; empty: busiest dst port
  int dst_port = -1;                           // >= 0: select this destination port
  uint64_t payload_bytes_max = 1ULL << 30;     // total selected payload bytes kept
  uint64_t datagrams_max = 50'000'000;         // selected datagrams kept
  uint32_t flows_max = 1024;                   // distinct source sockets (see FlowMap)
};

struct PlannedDatagram {
  uint64_t timestamp_ns;
  uint64_t payload_offset;  // into CapturePlan::payload_bytes
  uint32_t payload_length;
  uint32_t flow;            // FlowMap index
};

struct CapturePlan {
  int link_type = 0;
  std::string link_type_name;
  std::string selection;  // how datagrams were chosen, for the summary
  int dst_port = -1;      // the chosen destination port, -1 with a filter
  CaptureCounts counts;
  FlowMap flows;
  std::vector<PlannedDatagram> datagrams;
  std::vector<std::byte> payload_bytes;
};

// Reads the whole capture at path into plan. False with a message on a file error (missing,
// empty, not a capture, unknown link type, bad filter, over the limits).
[[nodiscard]] bool load_capture(const std::string& path, const LoadOptions& options,
                                CapturePlan& plan, std::string& error);

}  // namespace shortline::replay
