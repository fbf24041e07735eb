// The ScaleRequest client against a fake controller socket on loopback: a request is resent
// on its backoff schedule with the same sequence until the matching reply, replies for other
// sequences are ignored, it gives up after the last attempt, and with a key both directions
// are signed. Time is passed in explicitly, so only the sockets are real.
#include "control/scale_client.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <variant>

#include "udp_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;

class ScaleClientTest : public ::testing::Test {
 protected:
  ScaleClientTest()
      : fd_(testing::open_udp_socket(testing::any_port("127.0.0.1"))),
        controller_(testing::local_address(fd_)) {}
  ~ScaleClientTest() override { close(fd_); }

  ScaleClientConfig config(std::optional<wire::AuthKey> key = std::nullopt) const {
    ScaleClientConfig c;
    c.controller_port = controller_.port();
    c.key = std::move(key);
    c.sender_id = 77;
    c.retry_initial_ms = 10;
    c.retry_max_ms = 40;
    c.attempts_max = 4;
    return c;
  }

  // The next ScaleRequest the fake controller receives (decoded with `key` when given).
  std::optional<wire::ScaleRequest> receive(const wire::AuthKey* key = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return std::nullopt;
    std::array<uint8_t, 1500> buffer{};
    socklen_t length = sizeof(client_.storage);
    const ssize_t n =
        recvfrom(fd_, buffer.data(), buffer.size(), 0, client_.sockaddr_ptr(), &length);
    if (n <= 0) return std::nullopt;
    client_.length = length;
    const auto decoded =
        wire::decode(std::span(buffer.data(), static_cast<std::size_t>(n)), {key, nullptr});
    if (!decoded.ok()) return std::nullopt;
    const auto* request = std::get_if<wire::ScaleRequest>(&decoded.message);
    return request ? std::optional(*request) : std::nullopt;
  }

  void reply(uint64_t sequence, const wire::SignOptions& sign = {}) {
    wire::ScaleReply message;
    message.sequence = sequence;
    message.result = wire::ScaleResult::ok;
    message.server_id = 12;
    std::array<uint8_t, wire::kControlMessageBytesMax> buffer{};
    const std::size_t size = wire::encode(message, buffer, sign);
    ASSERT_EQ(sendto(fd_, buffer.data(), size, 0, client_.sockaddr_ptr(), client_.length),
              static_cast<ssize_t>(size));
  }

  // Polls the client until a reply completes its request, or the deadline passes.
  static std::optional<wire::ScaleReply> wait_reply(ScaleClient& client) {
    std::optional<wire::ScaleReply> got;
    (void)testing::wait_until(
        [&] {
          got = client.on_readable(0);
          return got.has_value();
        },
        5s);
    return got;
  }

  static wire::ScaleRequest add_request() {
    wire::ScaleRequest request;
    request.action = wire::ScaleAction::add;
    request.reason = wire::ScaleReason::queue_high;
    request.load = {3, 20, 9};
    return request;
  }

  int fd_;
  NetAddress controller_;
  NetAddress client_;
  ControlCounters counters_;
};

TEST_F(ScaleClientTest, RetriesWithTheSameSequenceUntilTheMatchingReply) {
  ScaleClient client(config(), counters_);
  ASSERT_EQ(client.open(), "");
  const uint64_t sequence = client.request(add_request(), 0);
  EXPECT_TRUE(client.busy());
  const auto first = receive();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->sequence, sequence);
  EXPECT_EQ(first->load.queue_max, 9u);
  EXPECT_FALSE(client.tick(9));  // not due yet
  EXPECT_FALSE(client.tick(10));
  const auto second = receive();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->sequence, sequence);
  EXPECT_EQ(counters_.get(ControlCounter::scale_requests_retried), 1u);
  reply(sequence + 1);  // someone else's
  reply(sequence);
  const auto done = wait_reply(client);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->sequence, sequence);
  EXPECT_EQ(done->server_id, 12u);
  EXPECT_FALSE(client.busy());
  EXPECT_EQ(counters_.get(ControlCounter::scale_replies), 1u);
  EXPECT_EQ(counters_.get(ControlCounter::scale_replies_unexpected), 1u);
  EXPECT_FALSE(client.tick(1000));  // nothing outstanding: nothing resent
}

TEST_F(ScaleClientTest, GivesUpAfterTheLastAttempt) {
  ScaleClient client(config(), counters_);
  ASSERT_EQ(client.open(), "");
  (void)client.request(add_request(), 0);
  bool gave_up = false;
  for (int64_t now = 0; now <= 1000 && !gave_up; ++now) gave_up = client.tick(now);
  EXPECT_TRUE(gave_up);
  EXPECT_FALSE(client.busy());
  EXPECT_EQ(counters_.get(ControlCounter::scale_requests_sent), 1u);
  EXPECT_EQ(counters_.get(ControlCounter::scale_requests_retried), 3u);  // 4 sends in all
  EXPECT_EQ(counters_.get(ControlCounter::scale_requests_abandoned), 1u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(receive()) << i;
}

TEST_F(ScaleClientTest, WithAKeyRequestsAreSignedAndUnsignedRepliesRejected) {
  const auto key = wire::AuthKey::from_hex(std::string(64, 'e'));
  ScaleClient client(config(key), counters_);
  ASSERT_EQ(client.open(), "");
  const uint64_t sequence = client.request(add_request(), 0);
  ASSERT_TRUE(receive(&*key));  // verifies the tag
  reply(sequence);              // unsigned
  EXPECT_TRUE(testing::wait_until([&] {
    EXPECT_FALSE(client.on_readable(0));
    return counters_.get(ControlCounter::scale_replies_rejected) == 1;
  }));
  EXPECT_TRUE(client.busy());
  reply(sequence, {&*key, {1, wire::initial_auth_sequence()}});
  const auto done = wait_reply(client);
  ASSERT_TRUE(done);
  EXPECT_FALSE(client.busy());
}

TEST_F(ScaleClientTest, OffMeansNoSocket) {
  ScaleClientConfig c = config();
  c.controller_port = 0;
  ScaleClient client(c, counters_);
  EXPECT_EQ(client.open(), "");
  EXPECT_FALSE(client.enabled());
  EXPECT_LT(client.fd(), 0);
}

}  // namespace
}  // namespace shortline
