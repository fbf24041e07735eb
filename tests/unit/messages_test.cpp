// Wire messages: every kind round-trips (IPv4 and IPv6 addresses, signed and unsigned), and
// every class of malformed input is rejected with its named reason.
#include "control/wire/messages.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace shortline::wire {
namespace {

using Bytes = std::vector<uint8_t>;

NetAddress address(const char* text) {
  auto parsed = NetAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(NetAddress{});
}

AuthKey test_key(uint8_t seed) {
  AuthKey key;
  for (std::size_t i = 0; i < key.bytes.size(); ++i) key.bytes[i] = static_cast<uint8_t>(seed + i);
  return key;
}

ServerReport sample_report(const char* where) {
  ServerReport report;
  report.server_id = 7;
  report.address = address(where);
  report.queue_length = 12345;
  report.workers = 4;
  report.state = ServerState::draining;
  report.sequence = 0x0102030405060708ULL;
  report.timestamp_ns = 1'700'000'000'123'456'789ULL;
  report.service_time_mean_us = 2500;
  return report;
}

template <typename T, typename... Extra>
Bytes encoded(const T& message, Extra... extra) {
  Bytes out(2048);
  const std::size_t size = encode(message, out, extra...);
  EXPECT_GT(size, 0U);
  out.resize(size);
  return out;
}

void expect_equal(const ServerReport& a, const ServerReport& b) {
  EXPECT_EQ(a.server_id, b.server_id);
  EXPECT_EQ(a.address, b.address);
  EXPECT_EQ(a.address.to_string(), b.address.to_string());
  EXPECT_EQ(a.queue_length, b.queue_length);
  EXPECT_EQ(a.workers, b.workers);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.sequence, b.sequence);
  EXPECT_EQ(a.timestamp_ns, b.timestamp_ns);
  EXPECT_EQ(a.service_time_mean_us, b.service_time_mean_us);
}

TEST(Messages, ServerReportRoundTripsV4AndV6) {
  for (const char* where : {"127.0.0.1:9001", "[::1]:9002", "[2001:db8::42]:65535"}) {
    const ServerReport report = sample_report(where);
    const Decoded decoded = decode(encoded(report));
    ASSERT_TRUE(decoded.ok()) << name(decoded.error);
    const auto* back = std::get_if<ServerReport>(&decoded.message);
    ASSERT_NE(back, nullptr);
    expect_equal(report, *back);
    EXPECT_FALSE(decoded.authenticated);
  }
}

TEST(Messages, HeaderIsNetworkByteOrder) {
  const Bytes bytes = encoded(sample_report("10.1.2.3:80"));
  ASSERT_GE(bytes.size(), kHeaderBytes + 4);
  EXPECT_EQ(bytes[0], 0x53);  // 'S'
  EXPECT_EQ(bytes[1], 0x4C);  // 'L'
  EXPECT_EQ(bytes[2], kVersion);
  EXPECT_EQ(bytes[3], static_cast<uint8_t>(MessageType::server_report));
  EXPECT_EQ(static_cast<std::size_t>(bytes[6] << 8 | bytes[7]), bytes.size() - kHeaderBytes);
  EXPECT_EQ(bytes[8], 0);  // server id 7, big-endian
  EXPECT_EQ(bytes[11], 7);
  EXPECT_EQ(bytes[12], 4);  // family v4, then 10.1.2.3
  EXPECT_EQ(bytes[13], 10);
  EXPECT_EQ(bytes[16], 3);
  EXPECT_EQ(peek_type(bytes), MessageType::server_report);
}

TEST(Messages, ScaleRequestRoundTrips) {
  ScaleRequest request;
  request.action = ScaleAction::remove;
  request.server_id = 42;
  request.reason = ScaleReason::queue_empty;
  request.load = {3, 17, 9};
  request.sequence = 99;
  const Bytes bytes = encoded(request);
  EXPECT_EQ(bytes.size(), kScaleRequestBytes);
  const Decoded decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok()) << name(decoded.error);
  const auto& back = std::get<ScaleRequest>(decoded.message);
  EXPECT_EQ(back.action, ScaleAction::remove);
  EXPECT_EQ(back.server_id, 42U);
  EXPECT_EQ(back.reason, ScaleReason::queue_empty);
  EXPECT_EQ(back.load.servers, 3U);
  EXPECT_EQ(back.load.queue_total, 17U);
  EXPECT_EQ(back.load.queue_max, 9U);
  EXPECT_EQ(back.sequence, 99U);
}

TEST(Messages, ScaleReplyRoundTripsWithAndWithoutAddress) {
  for (const char* where : {"127.0.0.1:9100", "[::1]:9101", ""}) {
    ScaleReply reply;
    reply.sequence = 5;
    reply.result = *where ? ScaleResult::ok : ScaleResult::at_limit;
    reply.server_id = 11;
    if (*where) reply.address = address(where);
    const Decoded decoded = decode(encoded(reply));
    ASSERT_TRUE(decoded.ok()) << name(decoded.error);
    const auto& back = std::get<ScaleReply>(decoded.message);
    EXPECT_EQ(back.sequence, 5U);
    EXPECT_EQ(back.result, reply.result);
    EXPECT_EQ(back.server_id, 11U);
    EXPECT_EQ(back.address, reply.address);
  }
}

TEST(Messages, ClientPayloadsRoundTripWithPadding) {
  const ClientRequest request{3, 0xAABBCCDDEEFF0011ULL, 123456789, 250};
  for (std::size_t size : {std::size_t{0}, kClientRequestBytes, std::size_t{1400}}) {
    const Bytes bytes = encoded(request, size);
    EXPECT_EQ(bytes.size(), std::max(size, kClientRequestBytes));
    const Decoded decoded = decode(bytes);
    ASSERT_TRUE(decoded.ok()) << name(decoded.error);
    const auto& back = std::get<ClientRequest>(decoded.message);
    EXPECT_EQ(back.client_id, 3U);
    EXPECT_EQ(back.request_id, request.request_id);
    EXPECT_EQ(back.send_time_ns, 123456789U);
    EXPECT_EQ(back.work_us, 250U);
  }
  const ClientResponse response{3, 77, 8, 250, 9, 1000, 2000};
  const Bytes bytes = encoded(response, std::size_t{512});
  EXPECT_EQ(bytes.size(), 512U);
  const Decoded decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok()) << name(decoded.error);
  const auto& back = std::get<ClientResponse>(decoded.message);
  EXPECT_EQ(back.request_id, 77U);
  EXPECT_EQ(back.server_id, 9U);
  EXPECT_EQ(back.queue_wait_us, 1000U);
  EXPECT_EQ(back.service_time_us, 2000U);
  EXPECT_EQ(encoded(response).size(), kClientResponseBytes);
}

TEST(Messages, EncodeRefusesSmallBuffersAndReportWithoutAddress) {
  std::array<uint8_t, kClientRequestBytes - 1> small{};
  EXPECT_EQ(encode(ClientRequest{}, small), 0U);
  std::array<uint8_t, 256> big{};
  EXPECT_EQ(encode(ClientRequest{}, big, big.size() + 1), 0U);
  EXPECT_EQ(encode(ServerReport{}, big), 0U);  // no address
  const AuthKey key = test_key(1);
  std::array<uint8_t, kScaleRequestBytes + 10> no_room_for_tag{};
  EXPECT_EQ(encode(ScaleRequest{}, no_room_for_tag, SignOptions{&key, {1, 1}}), 0U);
}

// Every message kind, unsigned and signed, cut at every length is "truncated".
TEST(Messages, TruncatedAtEveryLength) {
  const AuthKey key = test_key(9);
  std::vector<Bytes> messages = {
      encoded(sample_report("127.0.0.1:1")),
      encoded(sample_report("[::1]:1"), SignOptions{&key, {7, 1}}),
      encoded(ScaleRequest{}),
      encoded(ScaleRequest{}, SignOptions{&key, {1, 2}}),
      encoded(ScaleReply{}),
      encoded(ClientRequest{}, std::size_t{100}),
      encoded(ClientResponse{}),
  };
  for (const Bytes& whole : messages) {
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
      const Decoded decoded = decode(std::span<const uint8_t>(whole).first(cut));
      EXPECT_EQ(decoded.error, WireError::truncated) << "cut at " << cut << " of " << whole.size();
    }
  }
}

TEST(Messages, HeaderErrorsAreNamed) {
  const Bytes good = encoded(sample_report("127.0.0.1:5"));
  auto with = [&good](std::size_t index, uint8_t value) {
    Bytes bad = good;
    bad[index] = value;
    return decode(bad).error;
  };
  EXPECT_EQ(with(0, 0x00), WireError::bad_magic);
  EXPECT_EQ(with(1, 0x4D), WireError::bad_magic);
  EXPECT_EQ(with(2, 0), WireError::bad_version);
  EXPECT_EQ(with(2, 2), WireError::bad_version);
  EXPECT_EQ(with(3, 0), WireError::bad_type);
  EXPECT_EQ(with(3, 6), WireError::bad_type);
  EXPECT_EQ(with(3, 0xFF), WireError::bad_type);
  EXPECT_EQ(with(4, 0x80), WireError::bad_field);  // unknown flag
  EXPECT_EQ(with(5, 1), WireError::bad_field);     // reserved byte
  EXPECT_FALSE(peek_type(Bytes{0x53, 0x4C, 1}).has_value());
  EXPECT_FALSE(peek_type(Bytes{0x53, 0x4C, 1, 9}).has_value());
}

TEST(Messages, LengthMismatchIsBadLength) {
  const Bytes good = encoded(sample_report("127.0.0.1:5"));
  Bytes longer = good;
  longer.push_back(0);  // datagram longer than declared
  EXPECT_EQ(decode(longer).error, WireError::bad_length);

  Bytes declared_longer = longer;  // declared length covers an extra byte the body lacks
  declared_longer[7] = static_cast<uint8_t>(declared_longer[7] + 1);
  EXPECT_EQ(decode(declared_longer).error, WireError::bad_length);

  Bytes declared_shorter = good;  // body shorter than the type's fields
  declared_shorter.pop_back();
  declared_shorter[7] = static_cast<uint8_t>(declared_shorter[7] - 1);
  EXPECT_EQ(decode(declared_shorter).error, WireError::bad_length);

  Bytes short_client = encoded(ClientRequest{});
  short_client.pop_back();
  short_client[7] = static_cast<uint8_t>(short_client[7] - 1);
  EXPECT_EQ(decode(short_client).error, WireError::bad_length);
}

TEST(Messages, BadEnumFieldsAreBadField) {
  const Bytes report = encoded(sample_report("127.0.0.1:5"));
  const std::size_t state_offset = kHeaderBytes + 4 + 7 + 4 + 2;  // id, v4 address, queue, workers
  ASSERT_EQ(report[state_offset], static_cast<uint8_t>(ServerState::draining));
  for (uint8_t bad : {uint8_t{0}, uint8_t{4}, uint8_t{0xFF}}) {
    Bytes bad_state = report;
    bad_state[state_offset] = bad;
    EXPECT_EQ(decode(bad_state).error, WireError::bad_field);
  }
  Bytes bad_family = report;
  bad_family[kHeaderBytes + 4] = 5;
  EXPECT_EQ(decode(bad_family).error, WireError::bad_field);
  Bytes no_port = report;
  no_port[kHeaderBytes + 9] = 0;
  no_port[kHeaderBytes + 10] = 0;
  EXPECT_EQ(decode(no_port).error, WireError::bad_field);

  Bytes bad_action = encoded(ScaleRequest{});
  bad_action[kHeaderBytes] = 3;
  EXPECT_EQ(decode(bad_action).error, WireError::bad_field);
  Bytes bad_reason = encoded(ScaleRequest{});
  bad_reason[kHeaderBytes + 5] = 0;
  EXPECT_EQ(decode(bad_reason).error, WireError::bad_field);
  Bytes bad_result = encoded(ScaleReply{});
  bad_result[kHeaderBytes + 8] = 6;
  EXPECT_EQ(decode(bad_result).error, WireError::bad_field);
}

TEST(Messages, SignedMessagesVerifyWithTheKey) {
  const AuthKey key = test_key(3);
  const Bytes bytes = encoded(sample_report("[::1]:7000"), SignOptions{&key, {7, 1000}});
  EXPECT_EQ(bytes.size(), kControlMessageBytesMax);
  const Decoded decoded = decode(bytes, DecodeOptions{&key, nullptr});
  ASSERT_TRUE(decoded.ok()) << name(decoded.error);
  EXPECT_TRUE(decoded.authenticated);
  EXPECT_EQ(decoded.stamp.sender_id, 7U);
  EXPECT_EQ(decoded.stamp.sequence, 1000U);
  // Without a key the trailer is skipped, not trusted.
  const Decoded unkeyed = decode(bytes);
  ASSERT_TRUE(unkeyed.ok());
  EXPECT_FALSE(unkeyed.authenticated);
}

TEST(Messages, BadOrMissingTagIsBadTag) {
  const AuthKey key = test_key(3);
  const AuthKey other = test_key(4);
  const DecodeOptions with_key{&key, nullptr};
  EXPECT_EQ(decode(encoded(ScaleRequest{}), with_key).error, WireError::bad_tag);  // missing
  EXPECT_EQ(decode(encoded(ScaleReply{}, SignOptions{&other, {1, 1}}), with_key).error,
            WireError::bad_tag);  // wrong key
  const Bytes good = encoded(ScaleReply{}, SignOptions{&key, {1, 1}});
  for (std::size_t i = 0; i < good.size(); ++i) {  // any flipped bit after the header
    if (i < kHeaderBytes) continue;
    Bytes bad = good;
    bad[i] ^= 0x01;
    const WireError error = decode(bad, with_key).error;
    EXPECT_EQ(error, WireError::bad_tag) << "byte " << i;
  }
  // Client payloads are never signed: a key does not make them fail, a trailer flag does.
  EXPECT_TRUE(decode(encoded(ClientRequest{}), with_key).ok());
  Bytes flagged = encoded(ClientRequest{});
  flagged[4] = kFlagAuthenticated;
  flagged.resize(flagged.size() + kAuthTrailerBytes);
  EXPECT_EQ(decode(flagged, with_key).error, WireError::bad_field);
}

TEST(Messages, ReplayedSequenceIsRejected) {
  const AuthKey key = test_key(5);
  ReplayGuard guard(4);
  const DecodeOptions options{&key, &guard};
  const Bytes first = encoded(sample_report("127.0.0.1:1"), SignOptions{&key, {7, 10}});
  const Bytes second = encoded(sample_report("127.0.0.1:1"), SignOptions{&key, {7, 11}});
  const Bytes other_sender = encoded(sample_report("127.0.0.1:2"), SignOptions{&key, {8, 1}});
  EXPECT_TRUE(decode(first, options).ok());
  EXPECT_EQ(decode(first, options).error, WireError::replayed);
  EXPECT_TRUE(decode(second, options).ok());
  EXPECT_EQ(decode(first, options).error, WireError::replayed);  // older than the highest
  EXPECT_TRUE(decode(other_sender, options).ok());
  EXPECT_EQ(guard.size(), 2U);
}

TEST(Messages, InvalidMessageDoesNotAdvanceReplayGuard) {
  const AuthKey key = test_key(5);
  ReplayGuard guard(4);
  const DecodeOptions options{&key, &guard};
  Bytes bad_state = encoded(sample_report("127.0.0.1:1"), SignOptions{&key, {7, 50}});
  // Re-sign a body with an out-of-range state: a valid tag over an invalid message.
  const std::size_t state_offset = kHeaderBytes + 4 + 7 + 4 + 2;
  bad_state[state_offset] = 9;
  const std::size_t signed_bytes = bad_state.size() - kAuthTagBytes;
  const auto tag = compute_tag(key, std::span<const uint8_t>(bad_state).first(signed_bytes));
  std::copy(tag.begin(), tag.end(), bad_state.begin() + static_cast<long>(signed_bytes));
  EXPECT_EQ(decode(bad_state, options).error, WireError::bad_field);
  EXPECT_EQ(guard.size(), 0U);
  EXPECT_TRUE(decode(encoded(sample_report("127.0.0.1:1"), SignOptions{&key, {7, 50}}), options)
                  .ok());
}

TEST(Messages, ErrorNamesComeFromOneList) {
  EXPECT_EQ(name(WireError::ok), "ok");
  EXPECT_EQ(name(WireError::truncated), "truncated");
  EXPECT_EQ(name(WireError::replayed), "replayed");
  EXPECT_EQ(name(WireError::sender_table_full), "sender_table_full");
  EXPECT_EQ(kWireErrorCount, 10U);
  for (const auto& info : kWireErrorInfo) EXPECT_FALSE(info.help.empty()) << info.name;
}

}  // namespace
}  // namespace shortline::wire
