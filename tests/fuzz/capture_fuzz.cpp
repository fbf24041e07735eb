// Fuzz target for the capture reader: the input is a whole pcap/pcapng file (read through
// fmemopen + pcap_fopen_offline) whose every record is decoded; the same bytes are also
// decoded as one frame of each supported link type. Must never crash, leak or hang.
#include <pcap/pcap.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "tools/replay/capture_reader.h"
#include "tools/replay/packet_decode.h"

namespace {

constexpr int kRecordsMax = 100'000;  // bounds a run on a file of many tiny records
constexpr int kLinkTypes[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP,
                              DLT_RAW, 101, DLT_IPV4, DLT_IPV6};

void read_capture(const uint8_t* data, size_t size) {
  if (size == 0) return;  // fmemopen rejects an empty buffer
  std::vector<uint8_t> copy(data, data + size);
  FILE* file = fmemopen(copy.data(), copy.size(), "rb");
  if (file == nullptr) return;
  std::string error;
  auto reader = shortline::replay::CaptureReader::open_stream(file, error);
  if (!reader) return;
  if (size % 2 == 0) (void)reader->set_filter("udp and not port 53", error);
  shortline::replay::Datagram datagram;
  shortline::replay::SkipReason reason{};
  for (int i = 0; i < kRecordsMax; ++i) {
    const auto next = reader->next(datagram, reason);
    if (next == shortline::replay::CaptureReader::Next::kEnd ||
        next == shortline::replay::CaptureReader::Next::kError)
      break;
    if (next == shortline::replay::CaptureReader::Next::kDatagram) {
      volatile std::byte sink{};
      for (const std::byte b : datagram.payload) sink = b;  // touch every payload byte
      (void)sink;
      (void)datagram.src.to_string();
    }
  }
}

void decode_frames(const uint8_t* data, size_t size) {
  const std::span bytes(reinterpret_cast<const std::byte*>(data), size);
  for (const int dlt : kLinkTypes) {
    shortline::replay::Datagram datagram;
    for (const uint32_t wire : {static_cast<uint32_t>(size), static_cast<uint32_t>(size + 100)})
      (void)shortline::replay::decode_frame(dlt, bytes, wire, datagram);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  read_capture(data, size);
  decode_frames(data, size);
  return 0;
}
