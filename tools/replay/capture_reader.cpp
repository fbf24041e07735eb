// libpcap I/O for captures (pcap and pcapng, nanosecond timestamps) and the two-pass load:
// pass 1 tallies destination ports when no filter is given, pass 2 keeps the selection.
#include "tools/replay/capture_reader.h"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <cstring>

namespace shortline::replay {

struct CaptureReader::Filter {
  bpf_program program{};
  ~Filter() { pcap_freecode(&program); }
};

const char* to_string(SkipReason reason) {
  switch (reason) {
    case SkipReason::kNotUdp: return "not_udp";
    case SkipReason::kFragment: return "fragment";
    case SkipReason::kTruncated: return "truncated";
    case SkipReason::kMalformed: return "malformed";
    case SkipReason::kFiltered: return "filtered";
    case SkipReason::kCount: break;
  }
  return "unknown";
}

SkipReason skip_reason_of(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kNotUdp: return SkipReason::kNotUdp;
    case DecodeStatus::kFragment: return SkipReason::kFragment;
    case DecodeStatus::kTruncated: return SkipReason::kTruncated;
    default: return SkipReason::kMalformed;
  }
}

CaptureReader::CaptureReader(pcap_t* handle, int link_type)
    : handle_(handle), link_type_(link_type) {}

CaptureReader::~CaptureReader() {
  filter_.reset();
  pcap_close(handle_);
}

namespace {

// The link type of a freshly opened handle, or -1 (handle closed, error set) when unusable.
int checked_link_type(pcap_t* handle, const char* errbuf, std::string& error) {
  if (handle == nullptr) {
    error = errbuf[0] != '\0' ? errbuf : "not a pcap or pcapng capture";
    return -1;
  }
  const int dlt = pcap_datalink(handle);
  if (!link_type_supported(dlt)) {
    const char* name = pcap_datalink_val_to_name(dlt);
    error = "unsupported link type " + std::to_string(dlt) + " (" +
            (name != nullptr ? name : "unknown") +
            "); supported: EN10MB, LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW, IPV4, IPV6";
    pcap_close(handle);
    return -1;
  }
  return dlt;
}

}  // namespace

std::unique_ptr<CaptureReader> CaptureReader::open(const std::string& path,
                                                   std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_open_offline_with_tstamp_precision(
      path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  const int dlt = checked_link_type(handle, errbuf, error);
  if (dlt < 0) return nullptr;
  return std::unique_ptr<CaptureReader>(new CaptureReader(handle, dlt));
}

std::unique_ptr<CaptureReader> CaptureReader::open_stream(FILE* file, std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle =
      pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (handle == nullptr) std::fclose(file);  // libpcap owns the stream only on success
  const int dlt = checked_link_type(handle, errbuf, error);
  if (dlt < 0) return nullptr;
  return std::unique_ptr<CaptureReader>(new CaptureReader(handle, dlt));
}

std::string CaptureReader::link_type_name() const {
  const char* name = pcap_datalink_val_to_name(link_type_);
  return name != nullptr ? name : std::to_string(link_type_);
}

bool CaptureReader::set_filter(const std::string& expression, std::string& error) {
  auto filter = std::make_unique<Filter>();
  if (pcap_compile(handle_, &filter->program, expression.c_str(), 1,
                   PCAP_NETMASK_UNKNOWN) != 0) {
    error = "bad --filter '" + expression + "': " + pcap_geterr(handle_);
    return false;
  }
  filter_ = std::move(filter);
  has_filter_ = true;
  return true;
}

CaptureReader::Next CaptureReader::next(Datagram& out, SkipReason& reason) {
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(handle_, &header, &data);
  if (rc == PCAP_ERROR_BREAK) return Next::kEnd;
  if (rc != 1) {
    error_ = pcap_geterr(handle_);
    return Next::kError;
  }
  const std::span frame(reinterpret_cast<const std::byte*>(data), header->caplen);
  const DecodeStatus status = decode_frame(link_type_, frame, header->len, out);
  if (status != DecodeStatus::kOk) {
    reason = skip_reason_of(status);
    return Next::kSkipped;
  }
  if (has_filter_ && pcap_offline_filter(&filter_->program, header, data) == 0) {
    reason = SkipReason::kFiltered;
    return Next::kSkipped;
  }
  const int64_t seconds = header->ts.tv_sec < 0 ? 0 : header->ts.tv_sec;
  const int64_t nanos = header->ts.tv_usec < 0 ? 0 : header->ts.tv_usec;  // ns precision
  out.timestamp_ns = static_cast<uint64_t>(seconds) * 1'000'000'000ULL +
                     static_cast<uint64_t>(nanos);
  return Next::kDatagram;
}

void PortTally::add(uint16_t port, uint64_t record_index) {
  if (count[port]++ == 0) first_seen[port] = record_index;
}

int busiest_port(const PortTally& tally) {
  int best = -1;
  for (int port = 0; port < 65536; ++port) {
    const auto p = static_cast<size_t>(port);
    if (tally.count[p] == 0) continue;
    const auto b = static_cast<size_t>(best);
    if (best < 0 || tally.count[p] > tally.count[b] ||
        (tally.count[p] == tally.count[b] && tally.first_seen[p] < tally.first_seen[b]))
      best = port;
  }
  return best;
}

namespace {

// Pass 1: the busiest UDP destination port among decodable datagrams.
bool tally_ports(const std::string& path, int& port, uint64_t& port_count,
                 uint64_t& udp_total, std::string& error) {
  auto reader = CaptureReader::open(path, error);
  if (!reader) return false;
  auto tally = std::make_unique<PortTally>();
  Datagram datagram;
  SkipReason reason{};
  uint64_t record = 0;
  udp_total = 0;
  for (;; ++record) {
    const auto next = reader->next(datagram, reason);
    if (next == CaptureReader::Next::kEnd || next == CaptureReader::Next::kError) break;
    if (next != CaptureReader::Next::kDatagram) continue;
    tally->add(datagram.dst.port(), record);
    ++udp_total;
  }
  port = busiest_port(*tally);
  port_count = port >= 0 ? tally->count[static_cast<size_t>(port)] : 0;
  return true;
}

// Appends one selected datagram to the plan; false with a message past the limits.
bool keep(const Datagram& datagram, const LoadOptions& options, CapturePlan& plan,
          std::string& error) {
  const uint64_t offset = plan.payload_bytes.size();
  if (offset + datagram.payload.size() > options.payload_bytes_max ||
      plan.datagrams.size() >= options.datagrams_max) {
    error = "the selection exceeds the in-memory limit (" +
            std::to_string(options.datagrams_max) + " datagrams, " +
            std::to_string(options.payload_bytes_max >> 20) +
            " MiB of payload); narrow it with --filter or split the capture";
    return false;
  }
  plan.payload_bytes.insert(plan.payload_bytes.end(), datagram.payload.begin(),
                            datagram.payload.end());
  plan.datagrams.push_back(PlannedDatagram{datagram.timestamp_ns, offset,
                                           static_cast<uint32_t>(datagram.payload.size()),
                                           plan.flows.index_for(datagram.src)});
  return true;
}

// Pass 2 (or the only pass with a filter): every record, counted, the selection kept.
bool read_selection(CaptureReader& reader, const LoadOptions& options, CapturePlan& plan,
                    std::string& error) {
  CaptureCounts& counts = plan.counts;
  Datagram datagram;
  SkipReason reason{};
  for (;;) {
    const auto next = reader.next(datagram, reason);
    if (next == CaptureReader::Next::kEnd) return true;
    if (next == CaptureReader::Next::kError) {
      // libpcap returned the records before the damage; they stay usable.
      counts.file_damaged = true;
      counts.file_warning = reader.error();
      return true;
    }
    ++counts.records_read;
    if (next == CaptureReader::Next::kSkipped) {
      ++counts.skipped[static_cast<size_t>(reason)];
      if (reason == SkipReason::kFiltered) ++counts.udp_datagrams;
      continue;
    }
    ++counts.udp_datagrams;
    if (plan.dst_port >= 0 && datagram.dst.port() != plan.dst_port) {
      ++counts.skipped[static_cast<size_t>(SkipReason::kFiltered)];
      continue;
    }
    if (!keep(datagram, options, plan, error)) return false;
    ++counts.selected;
  }
}

}  // namespace

bool load_capture(const std::string& path, const LoadOptions& options, CapturePlan& plan,
                  std::string& error) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && info.st_size == 0) {
    error = "empty file (0 bytes), not a capture";
    return false;
  }
  plan.flows = FlowMap(options.flows_max);
  plan.counts = CaptureCounts{};
  plan.datagrams.clear();
  plan.payload_bytes.clear();
  plan.dst_port = -1;
  auto reader = CaptureReader::open(path, error);
  if (!reader) return false;
  plan.link_type = reader->link_type();
  plan.link_type_name = reader->link_type_name();
  if (!options.filter.empty()) {
    if (!reader->set_filter(options.filter, error)) return false;
    plan.selection = "filter '" + options.filter + "'";
  } else if (options.dst_port >= 0) {
    plan.dst_port = options.dst_port;
    plan.selection = "destination port " + std::to_string(options.dst_port);
  } else {
    uint64_t port_count = 0;
    uint64_t udp_total = 0;
    if (!tally_ports(path, plan.dst_port, port_count, udp_total, error)) return false;
    plan.selection = plan.dst_port < 0
        ? "busiest destination port: none (no UDP datagrams)"
        : "busiest UDP destination port " + std::to_string(plan.dst_port) + " (" +
              std::to_string(port_count) + " of " + std::to_string(udp_total) +
              " UDP datagrams)";
  }
  return read_selection(*reader, options, plan, error);
}

}  // namespace shortline::replay
