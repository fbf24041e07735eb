// The outstanding-request table: one ring in send order (for expiry and eviction) and one
// window per flow (for matching), both indexed by sequence numbers modulo their sizes.
#include "tools/replay/outstanding_requests.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "tools/replay/dns_query.h"

namespace shortline::replay {
namespace {

constexpr uint64_t kFlowRoomMin = 64;
constexpr uint64_t kFlowRoomMax = 65536;  // DNS IDs must stay unique within a flow's window
constexpr uint64_t kFullRoomBytesMax = 64ULL << 20;

uint64_t flow_room(uint64_t capacity, uint64_t sends, uint64_t sends_total, bool full_room) {
  const uint64_t ceiling = std::min(capacity, kFlowRoomMax);
  if (full_room || sends_total == 0) return ceiling;
  // Four times the flow's share leaves slack for bursts of one flow.
  const long double share = static_cast<long double>(sends) / static_cast<long double>(sends_total);
  const auto wanted = static_cast<uint64_t>(4.0L * share * static_cast<long double>(capacity));
  return std::bit_ceil(std::clamp(wanted, std::min(kFlowRoomMin, ceiling), ceiling));
}

}  // namespace

const char* to_string(MatchMode mode) { return mode == MatchMode::kDns ? "dns" : "flow"; }

OutstandingRequests::OutstandingRequests(MatchMode mode, uint64_t capacity,
                                         std::span<const uint64_t> sends_per_flow)
    : mode_(mode), records_(std::bit_ceil(std::max<uint64_t>(capacity, 1))),
      flows_(sends_per_flow.size()) {
  uint64_t sends_total = 0;
  for (uint64_t sends : sends_per_flow) sends_total += sends;
  const uint64_t ceiling = std::min<uint64_t>(records_.size(), kFlowRoomMax);
  const bool full_room = flows_.size() * ceiling * sizeof(uint64_t) <= kFullRoomBytesMax;
  for (size_t i = 0; i < flows_.size(); ++i)
    flows_[i].numbers.assign(flow_room(records_.size(), sends_per_flow[i], sends_total, full_room),
                             kNone);
}

bool OutstandingRequests::is_outstanding(uint64_t number) const {
  if (number == kNone) return false;
  const Record& record = records_[number & (records_.size() - 1)];
  return record.number == number && record.state == State::kOutstanding;
}

void OutstandingRequests::finish(uint64_t number) {
  records_[number & (records_.size() - 1)].state = State::kDone;
  --outstanding_;
}

// Moves oldest_number_ past records that are answered, expired or evicted.
void OutstandingRequests::advance_oldest() {
  while (oldest_number_ < next_number_ && !is_outstanding(oldest_number_)) ++oldest_number_;
}

void OutstandingRequests::advance_flow(FlowWindow& flow) {
  const uint64_t mask = flow.numbers.size() - 1;
  while (flow.oldest_seq < flow.next_seq && !is_outstanding(flow.numbers[flow.oldest_seq & mask]))
    ++flow.oldest_seq;
}

void OutstandingRequests::on_sent(uint32_t flow_index, uint64_t sent_ns, uint32_t interval) {
  FlowWindow& flow = flows_[flow_index];
  const uint64_t flow_mask = flow.numbers.size() - 1;
  advance_flow(flow);
  if (flow.next_seq - flow.oldest_seq == flow.numbers.size()) {  // the flow's room is full
    finish(flow.numbers[flow.oldest_seq & flow_mask]);
    ++evicted_;
    advance_flow(flow);
  }
  advance_oldest();
  if (next_number_ - oldest_number_ == records_.size()) {  // the whole table is full
    finish(oldest_number_);
    ++evicted_;
    advance_oldest();
  }
  const uint64_t number = next_number_++;
  records_[number & (records_.size() - 1)] = Record{number, sent_ns, interval, State::kOutstanding};
  flow.numbers[flow.next_seq & flow_mask] = number;
  ++flow.next_seq;
  outstanding_max_ = std::max(outstanding_max_, ++outstanding_);
}

void OutstandingRequests::on_not_sent(uint32_t flow_index) {
  FlowWindow& flow = flows_[flow_index];
  advance_flow(flow);
  if (flow.next_seq - flow.oldest_seq == flow.numbers.size()) {
    finish(flow.numbers[flow.oldest_seq & (flow.numbers.size() - 1)]);
    ++evicted_;
  }
  flow.numbers[flow.next_seq & (flow.numbers.size() - 1)] = kNone;
  ++flow.next_seq;
}

std::optional<uint64_t> OutstandingRequests::find_answered(FlowWindow& flow,
                                                           std::span<const std::byte> payload) {
  advance_flow(flow);
  if (flow.oldest_seq == flow.next_seq) return std::nullopt;
  const uint64_t mask = flow.numbers.size() - 1;
  if (mode_ == MatchMode::kFlow) return flow.numbers[flow.oldest_seq & mask];
  if (payload.size() < 2) return std::nullopt;
  // The one sequence number in [oldest_seq, next_seq) whose low 16 bits are the reply's ID.
  const uint64_t distance = static_cast<uint16_t>(dns_message_id(payload) -
                                                  static_cast<uint16_t>(flow.oldest_seq));
  const uint64_t seq = flow.oldest_seq + distance;
  if (seq >= flow.next_seq) return std::nullopt;
  const uint64_t number = flow.numbers[seq & mask];
  if (!is_outstanding(number)) return std::nullopt;
  return number;
}

std::optional<MatchedRequest> OutstandingRequests::on_reply(uint32_t flow_index,
                                                            std::span<const std::byte> payload) {
  const auto number = find_answered(flows_[flow_index], payload);
  if (!number) return std::nullopt;
  const Record& record = records_[*number & (records_.size() - 1)];
  const MatchedRequest matched{record.sent_ns, record.interval};
  finish(*number);
  return matched;
}

uint64_t OutstandingRequests::expire_sent_before(uint64_t sent_before_ns) {
  uint64_t expired = 0;
  for (advance_oldest(); oldest_number_ < next_number_; advance_oldest()) {
    const Record& record = records_[oldest_number_ & (records_.size() - 1)];
    if (record.sent_ns >= sent_before_ns) break;
    finish(oldest_number_);
    ++expired;
  }
  return expired;
}

std::optional<uint64_t> OutstandingRequests::oldest_sent_ns() {
  advance_oldest();
  if (oldest_number_ == next_number_) return std::nullopt;
  return records_[oldest_number_ & (records_.size() - 1)].sent_ns;
}

}  // namespace shortline::replay
