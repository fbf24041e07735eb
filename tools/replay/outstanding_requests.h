// Requests awaiting replies: a bounded table, allocated once, that matches each reply to the
// request it answers. Per flow, requests get sequence numbers; a DNS reply is matched by its
// message ID (replay writes the low 16 bits of the sequence number into each query it sends,
// so IDs are unique among a flow's outstanding requests), any other reply to the flow's oldest
// outstanding request. Requests unanswered by a deadline expire and count as lost. Pure: no
// sockets, no clocks.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace shortline::replay {

enum class MatchMode : uint8_t { kFlow, kDns };
[[nodiscard]] const char* to_string(MatchMode mode);

struct MatchedRequest {
  uint64_t sent_ns;
  uint32_t interval;  // what the sender tagged it with (the ramp's interval)
};

class OutstandingRequests {
 public:
  // At most `capacity` requests outstanding in all (rounded up to a power of two). Each flow
  // gets room in proportion to its share of sends_per_flow (at least 64, at most 65536, the
  // range of DNS IDs); where the whole table fits in 64 MiB every flow gets the full room.
  OutstandingRequests(MatchMode mode, uint64_t capacity, std::span<const uint64_t> sends_per_flow);

  [[nodiscard]] MatchMode mode() const { return mode_; }
  // The DNS message ID that the next request sent on flow must carry.
  [[nodiscard]] uint16_t next_id(uint32_t flow) const {
    return static_cast<uint16_t>(flows_[flow].next_seq);
  }
  // A request left on flow at sent_ns. When the table or the flow's room is full, the oldest
  // outstanding request there is forgotten first and counted in evicted().
  void on_sent(uint32_t flow, uint64_t sent_ns, uint32_t interval);
  // A request the kernel refused to send: its ID is used up, nothing is outstanding.
  void on_not_sent(uint32_t flow);
  // A reply received on flow: the request it answers, or nothing (late, duplicate, unknown ID
  // or too short to hold one).
  [[nodiscard]] std::optional<MatchedRequest> on_reply(uint32_t flow,
                                                       std::span<const std::byte> payload);
  // Expires every outstanding request sent before sent_before_ns; returns how many.
  uint64_t expire_sent_before(uint64_t sent_before_ns);

  [[nodiscard]] uint64_t outstanding() const { return outstanding_; }
  [[nodiscard]] uint64_t outstanding_max() const { return outstanding_max_; }
  [[nodiscard]] uint64_t evicted() const { return evicted_; }
  [[nodiscard]] uint64_t capacity() const { return records_.size(); }
  // Send time of the oldest outstanding request; nothing when none is outstanding.
  [[nodiscard]] std::optional<uint64_t> oldest_sent_ns();

 private:
  enum class State : uint8_t { kOutstanding, kDone };
  struct Record {
    uint64_t number = UINT64_MAX;  // position in send order; identifies the record in its slot
    uint64_t sent_ns = 0;
    uint32_t interval = 0;
    State state = State::kDone;
  };
  struct FlowWindow {
    std::vector<uint64_t> numbers;  // record number per flow sequence (mod size)
    uint64_t next_seq = 0;
    uint64_t oldest_seq = 0;        // no outstanding request of the flow is older
  };
  static constexpr uint64_t kNone = UINT64_MAX;

  [[nodiscard]] bool is_outstanding(uint64_t number) const;
  void finish(uint64_t number);
  void advance_oldest();
  void advance_flow(FlowWindow& flow);
  [[nodiscard]] std::optional<uint64_t> find_answered(FlowWindow& flow,
                                                      std::span<const std::byte> payload);

  MatchMode mode_;
  std::vector<Record> records_;  // ring in send order, indexed by number mod size
  std::vector<FlowWindow> flows_;
  uint64_t next_number_ = 0;
  uint64_t oldest_number_ = 0;
  uint64_t outstanding_ = 0;
  uint64_t outstanding_max_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace shortline::replay
