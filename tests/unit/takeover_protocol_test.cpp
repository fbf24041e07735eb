// The takeover protocol's encode/decode: round trips and every malformed message refused.
#include "control/takeover.h"

#include <gtest/gtest.h>

namespace shortline::takeover {
namespace {

Message offer_for(uint32_t workers, bool with_control) {
  Message offer;
  offer.type = MessageType::offer;
  offer.pid = 4242;
  offer.listen = *NetAddress::parse("[::1]:5300");
  offer.workers = workers;
  offer.fd_kinds.assign(workers, FdKind::listen);
  if (with_control) offer.fd_kinds.push_back(FdKind::control);
  return offer;
}

std::string decode_error(const std::vector<uint8_t>& bytes) {
  std::string error;
  EXPECT_FALSE(decode(bytes, error));
  return error;
}

TEST(TakeoverProtocol, EveryMessageRoundTrips) {
  for (const MessageType type : {MessageType::request, MessageType::reading, MessageType::done}) {
    Message message;
    message.type = type;
    message.pid = 77;
    std::string error;
    const auto decoded = decode(encode(message), error);
    ASSERT_TRUE(decoded) << error;
    EXPECT_EQ(decoded->type, type);
    EXPECT_EQ(decoded->pid, 77u);
  }
  for (const char* address : {"127.0.0.1:53", "[::1]:5300", "0.0.0.0:54001"}) {
    Message offer = offer_for(DataplaneConfig::kWorkersMax, true);
    offer.listen = *NetAddress::parse(address);
    const auto bytes = encode(offer);
    EXPECT_LE(bytes.size(), kMessageBytesMax);
    std::string error;
    const auto decoded = decode(bytes, error);
    ASSERT_TRUE(decoded) << error;
    EXPECT_EQ(decoded->listen, offer.listen);
    EXPECT_EQ(decoded->workers, offer.workers);
    EXPECT_EQ(decoded->fd_kinds, offer.fd_kinds);
  }
}

TEST(TakeoverProtocol, MalformedMessagesAreRefusedWithAReason) {
  const auto request = encode(Message{});
  EXPECT_NE(decode_error({request.begin(), request.begin() + 6}).find("short message"),
            std::string::npos);
  auto bad_magic = request;
  bad_magic[0] = 'X';
  EXPECT_NE(decode_error(bad_magic).find("bad magic"), std::string::npos);
  auto bad_version = request;
  bad_version[5] = 9;
  EXPECT_NE(decode_error(bad_version).find("version 9"), std::string::npos);
  auto bad_type = request;
  bad_type[6] = 99;
  EXPECT_NE(decode_error(bad_type).find("unknown message type 99"), std::string::npos);
  auto trailing = request;
  trailing.push_back(0);
  EXPECT_NE(decode_error(trailing).find("bytes follow"), std::string::npos);
}

TEST(TakeoverProtocol, OfferCountsMustAgree) {
  Message too_few = offer_for(2, false);
  too_few.fd_kinds.pop_back();  // two workers, one listen socket
  EXPECT_NE(decode_error(encode(too_few)).find("1 listen and 0 control fds for 2 workers"),
            std::string::npos);
  Message two_controls = offer_for(1, true);
  two_controls.fd_kinds.push_back(FdKind::control);
  EXPECT_NE(decode_error(encode(two_controls)).find("2 control"), std::string::npos);
  EXPECT_NE(decode_error(encode(offer_for(0, true))).find("0 workers"), std::string::npos);
  auto unknown_kind = encode(offer_for(1, false));
  unknown_kind.back() = 7;
  EXPECT_NE(decode_error(unknown_kind).find("unknown fd kind 7"), std::string::npos);
  auto bad_family = encode(offer_for(1, false));
  bad_family[kHeaderBytes + 4] = 5;  // after the pid
  EXPECT_NE(decode_error(bad_family).find("address family"), std::string::npos);
}

}  // namespace
}  // namespace shortline::takeover
