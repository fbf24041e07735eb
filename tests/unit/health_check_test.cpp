// Health checks: the reply match, hex parsing and config checks as pure functions, then the
// checker over real loopback sockets (IPv4 and IPv6), against a responder the test drains
// between ticks: answering, answering wrongly, silent, a closed port, rise after fall,
// removal, strays, IPv4-mapped targets and add_target's refusals.
#include "control/health_check.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace shortline {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr auto kWaitMax = std::chrono::seconds(5);  // a bound, not an expectation of speed

const Bytes kPing = {'p', 'i', 'n', 'g'};
const Bytes kPong = {'p', 'o', 'n', 'g'};
const Bytes kNope = {'n', 'o', 'p', 'e'};

int64_t now_ms() {
  const auto since = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::milliseconds>(since).count();
}

HealthCheckConfig expecting(Bytes expect, uint32_t offset = 0, Bytes mask = {}) {
  HealthCheckConfig config;
  config.payload = kPing;
  config.expect = std::move(expect);
  config.expect_offset = offset;
  config.expect_mask = std::move(mask);
  return config;
}

// Short times so that a whole fall or rise takes a few hundred milliseconds.
HealthCheckConfig fast_config() {
  HealthCheckConfig config = expecting(kPong);
  config.interval_ms = 20;
  config.timeout_ms = 50;
  config.rise = 2;
  config.fall = 3;
  return config;
}

bool matches(const HealthCheckConfig& config, const Bytes& reply) {
  return health_reply_matches(config, reply);
}

TEST(HealthReplyMatches, AnyReplyWithoutExpectation) {
  const HealthCheckConfig config = expecting({});
  EXPECT_TRUE(matches(config, {}));
  EXPECT_TRUE(matches(config, {1, 2, 3}));
}

TEST(HealthReplyMatches, BytesAtOffset) {
  const HealthCheckConfig config = expecting({0xbe, 0xef}, 2);
  EXPECT_TRUE(matches(config, {0, 0, 0xbe, 0xef}));
  EXPECT_TRUE(matches(config, {9, 9, 0xbe, 0xef, 7, 7}));
  EXPECT_FALSE(matches(config, {0, 0, 0xbe, 0xee}));
  EXPECT_FALSE(matches(config, {0xbe, 0xef, 0, 0}));
}

TEST(HealthReplyMatches, MaskComparesOnlyItsBits) {
  const HealthCheckConfig config = expecting({0x80, 0x01}, 0, {0xf0, 0xff});
  EXPECT_TRUE(matches(config, {0x8f, 0x01}));
  EXPECT_TRUE(matches(config, {0x80, 0x01}));
  EXPECT_FALSE(matches(config, {0x7f, 0x01}));
  EXPECT_FALSE(matches(config, {0x8f, 0x03}));
}

TEST(HealthReplyMatches, ShorterThanOffsetPlusExpectFails) {
  const HealthCheckConfig config = expecting({0xaa, 0xbb}, 3);
  EXPECT_FALSE(matches(config, {}));
  EXPECT_FALSE(matches(config, {0, 0}));
  EXPECT_FALSE(matches(config, {0, 0, 0, 0xaa}));
  EXPECT_TRUE(matches(config, {0, 0, 0, 0xaa, 0xbb}));
}

TEST(ParseHexBytes, AcceptsPairsInEitherCaseGroupedBySpaces) {
  EXPECT_EQ(parse_hex_bytes("0a0B ff"), (Bytes{0x0a, 0x0b, 0xff}));
  EXPECT_EQ(parse_hex_bytes(" 00  7f "), (Bytes{0x00, 0x7f}));
  EXPECT_EQ(parse_hex_bytes("DEADbeef"), (Bytes{0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ(parse_hex_bytes(""), Bytes{});
}

TEST(ParseHexBytes, RejectsOddDigitsSplitBytesAndOtherCharacters) {
  for (const char* bad : {"0", "abc", "0 a", "0g", "0x0a", "\t00", "00:11", "-1"})
    EXPECT_FALSE(parse_hex_bytes(bad)) << bad;
}

TEST(ValidateHealthCheck, AcceptsDefaultsOnOrOff) {
  EXPECT_EQ(validate_health_check(HealthCheckConfig{}), "");
  EXPECT_EQ(validate_health_check(fast_config()), "");
}

TEST(ValidateHealthCheck, NamesTheKeyAndTheRange) {
  HealthCheckConfig config = fast_config();
  config.fall = 0;
  EXPECT_EQ(validate_health_check(config), "load_balancer.health_check.fall: 0 is not in 1..100");
  config = fast_config();
  config.rise = 101;
  EXPECT_EQ(validate_health_check(config), "load_balancer.health_check.rise: 101 is not in 1..100");
  config = fast_config();
  config.interval_ms = 9;
  EXPECT_EQ(validate_health_check(config),
            "load_balancer.health_check.interval_ms: 9 is not in 10..3600000");
  config = fast_config();
  config.timeout_ms = 0;
  EXPECT_EQ(validate_health_check(config),
            "load_balancer.health_check.timeout_ms: 0 is not in 1..60000");
  config = fast_config();
  config.payload.assign(4097, 0);
  EXPECT_EQ(validate_health_check(config),
            "load_balancer.health_check.payload: 4097 bytes is not in 1..4096 bytes");
}

TEST(ValidateHealthCheck, ChecksTheExpectationsShape) {
  HealthCheckConfig config = fast_config();
  config.expect_mask = {0xff};
  EXPECT_EQ(validate_health_check(config),
            "load_balancer.health_check.expect_mask: 1 bytes, expected none or as many as expect "
            "(4)");
  config = fast_config();
  config.expect_offset = 65'504;
  EXPECT_EQ(validate_health_check(config),
            "load_balancer.health_check.expect_offset: 65504 is not in 0..65503");
  config = fast_config();
  config.expect.assign(4097, 0);
  EXPECT_NE(validate_health_check(config).find("health_check.expect: 4097 bytes"),
            std::string::npos);
}

TEST(HealthCheckCounters, NamesArePrefixedAndInOrder) {
  EXPECT_EQ(kHealthCheckCounterInfo[0].name, "health_probes_sent");
  const auto last = static_cast<std::size_t>(HealthCheckCounter::drain_bound_reached);
  EXPECT_EQ(kHealthCheckCounterInfo[last].name, "health_drain_bound_reached");
  for (const auto& info : kHealthCheckCounterInfo) EXPECT_FALSE(info.help.empty()) << info.name;
}

NetAddress loopback(int family, uint16_t port = 0) {
  NetAddress address = *NetAddress::parse(family == AF_INET ? "127.0.0.1:0" : "[::1]:0");
  address.set_port(port);
  return address;
}

// A nonblocking socket on loopback; closes on destruction.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(int family) {
    fd_ = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const NetAddress any_port = loopback(family);
    if (fd_ >= 0 && ::bind(fd_, any_port.sockaddr_ptr(), any_port.length) != 0) close();
    if (fd_ < 0) return;
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length);
    address_ = NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
  }
  ~LoopbackSocket() { close(); }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] const NetAddress& address() const { return address_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  NetAddress address_;
};

// The backend under test: answers each probe with `answer`, or stays silent without one.
class Responder {
 public:
  explicit Responder(int family) : socket_(family) {}

  [[nodiscard]] bool ok() const { return socket_.ok(); }
  [[nodiscard]] int fd() const { return socket_.fd(); }
  [[nodiscard]] const NetAddress& address() const { return socket_.address(); }
  [[nodiscard]] uint64_t probes() const { return probes_; }
  void answer_with(std::optional<Bytes> answer) { answer_ = std::move(answer); }

  void serve() {
    std::array<uint8_t, 512> buffer{};
    for (;;) {
      sockaddr_storage source{};
      socklen_t length = sizeof(source);
      const ssize_t size = ::recvfrom(fd(), buffer.data(), buffer.size(), 0,
                                      reinterpret_cast<sockaddr*>(&source), &length);
      if (size < 0) return;
      ++probes_;
      if (!answer_) continue;
      ::sendto(fd(), answer_->data(), answer_->size(), 0, reinterpret_cast<sockaddr*>(&source),
               length);
    }
  }

 private:
  LoopbackSocket socket_;
  std::optional<Bytes> answer_ = kPong;
  uint64_t probes_ = 0;
};

// An address nothing listens on: a port bound a moment ago and closed again.
NetAddress closed_port(int family) {
  LoopbackSocket socket(family);
  return socket.address();
}

class HealthCheckLiveTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!Responder(family()).ok()) GTEST_SKIP() << "no loopback socket for family " << family();
  }

  [[nodiscard]] int family() const { return GetParam(); }

  // Ticks the checker and serves the responders until `done` holds or kWaitMax passes.
  // Waits on the responders' sockets between ticks, never for a fixed time.
  bool run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kWaitMax;
    std::vector<pollfd> fds;
    for (Responder* responder : responders_) fds.push_back({responder->fd(), POLLIN, 0});
    while (std::chrono::steady_clock::now() < deadline) {
      checker().tick(now_ms());
      for (Responder* responder : responders_) responder->serve();
      if (done()) return true;
      ::poll(fds.data(), fds.size(), 1);
    }
    return false;
  }
  bool run_for_ms(int64_t duration_ms) {
    const int64_t end_ms = now_ms() + duration_ms;
    return run_until([&] { return now_ms() >= end_ms; });
  }
  // Adds the responder as the target in `slot` and serves it from then on.
  void add(uint32_t slot, Responder& responder) {
    ASSERT_TRUE(responder.ok());
    responders_.push_back(&responder);
    ASSERT_EQ(checker().add_target(slot, responder.address(), now_ms()), "");
  }
  [[nodiscard]] HealthChecker::TargetStatus status(uint32_t slot) {
    const auto found = checker().status(slot);
    EXPECT_TRUE(found.has_value()) << "slot " << slot;
    return found.value_or(HealthChecker::TargetStatus{});
  }
  // Runs until a transition comes and returns them all.
  std::vector<HealthChecker::Transition> next_transitions() {
    std::vector<HealthChecker::Transition> taken;
    EXPECT_TRUE(run_until([&] {
      taken = checker().take_transitions();
      return !taken.empty();
    })) << "no transition within the wait";
    return taken;
  }

  // Built on first use, so that a test may change config_ before.
  HealthChecker& checker() {
    if (!checker_) checker_.emplace(config_);
    return *checker_;
  }

  HealthCheckConfig config_ = fast_config();
  std::optional<HealthChecker> checker_;
  std::vector<Responder*> responders_;
};

INSTANTIATE_TEST_SUITE_P(Families, HealthCheckLiveTest, ::testing::Values(AF_INET, AF_INET6),
                         [](const auto& test) { return test.param == AF_INET ? "IPv4" : "IPv6"; });

TEST_P(HealthCheckLiveTest, AnsweringTargetStaysHealthyAndCountsSuccesses) {
  Responder backend(family());
  const int64_t start_ms = now_ms();
  add(1, backend);
  ASSERT_TRUE(run_until([&] { return status(1).probes_ok >= 5; }));
  // The interval runs from each reply to the next send: five probes span four intervals.
  EXPECT_GE(now_ms() - start_ms, 4 * int64_t{config_.interval_ms});
  const auto s = status(1);
  EXPECT_TRUE(s.healthy);
  EXPECT_GE(s.successes_in_row, 5u);
  EXPECT_EQ(s.failures_in_row, 0u);
  EXPECT_EQ(s.probes_failed, 0u);
  EXPECT_EQ(s.probes_sent, s.probes_ok);
  EXPECT_EQ(s.last_failure, "");
  EXPECT_GE(s.last_rtt_ms, 0);
  EXPECT_EQ(backend.probes(), s.probes_sent);
  EXPECT_TRUE(checker().take_transitions().empty());
  EXPECT_EQ(checker().unexpected_replies(), 0u);
  EXPECT_EQ(checker().counter(HealthCheckCounter::probes_ok), s.probes_ok);
}

TEST_P(HealthCheckLiveTest, WrongReplyGoesUnhealthyAfterFallProbes) {
  Responder backend(family());
  backend.answer_with(kNope);
  add(7, backend);
  const auto transitions = next_transitions();
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].slot, 7u);
  EXPECT_FALSE(transitions[0].healthy);
  EXPECT_EQ(transitions[0].reason, "health check: 3 failures (wrong reply)");
  const auto s = status(7);
  EXPECT_FALSE(s.healthy);
  EXPECT_EQ(s.failures_in_row, 3u);
  EXPECT_EQ(s.probes_failed, 3u);
  EXPECT_EQ(s.probes_ok, 0u);
  EXPECT_EQ(s.last_failure, "wrong reply");
}

TEST_P(HealthCheckLiveTest, SilentTargetGoesUnhealthyAfterFallTimeouts) {
  Responder backend(family());
  backend.answer_with(std::nullopt);
  const int64_t start_ms = now_ms();
  add(2, backend);
  const auto transitions = next_transitions();
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].reason, "health check: 3 failures (timeout)");
  // Three timeouts with an interval after each of the first two.
  EXPECT_GE(now_ms() - start_ms, 3 * int64_t{config_.timeout_ms} + 2 * config_.interval_ms);
  EXPECT_EQ(backend.probes(), 3u);
  EXPECT_EQ(status(2).last_failure, "timeout");
  EXPECT_LT(status(2).last_rtt_ms, 0);
}

TEST_P(HealthCheckLiveTest, ClosedPortGoesUnhealthyAsRefusedAndSparesItsNeighbour) {
  // The closed port first: its ICMP error, pending on the shared socket, then meets the
  // neighbour's send in the same tick.
  ASSERT_EQ(checker().add_target(2, closed_port(family()), now_ms()), "");
  Responder neighbour(family());
  add(1, neighbour);
  const auto transitions = next_transitions();
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].slot, 2u);
  EXPECT_EQ(transitions[0].reason, "health check: 3 failures (refused)");
  EXPECT_EQ(status(2).last_failure, "refused");
  // None of the ICMP errors may be charged to the neighbour.
  ASSERT_TRUE(run_until([&] { return status(1).probes_ok >= 5; }));
  EXPECT_EQ(status(1).probes_failed, 0u);
  EXPECT_TRUE(status(1).healthy);
}

TEST_P(HealthCheckLiveTest, UnhealthyTargetComesBackAfterRiseGoodReplies) {
  Responder backend(family());
  backend.answer_with(kNope);
  add(3, backend);
  ASSERT_FALSE(next_transitions().at(0).healthy);
  backend.answer_with(kPong);
  const auto transitions = next_transitions();
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_TRUE(transitions[0].healthy);
  EXPECT_EQ(transitions[0].reason, "health check: 2 successes");
  const auto s = status(3);
  EXPECT_TRUE(s.healthy);
  EXPECT_EQ(s.successes_in_row, 2u);
  EXPECT_EQ(s.failures_in_row, 0u);
  EXPECT_EQ(s.last_failure, "wrong reply");  // kept: the last failure, not the last probe
}

TEST_P(HealthCheckLiveTest, FlipAndFlipBackBetweenTakesIsNotListed) {
  config_.rise = 1;
  config_.fall = 1;
  Responder backend(family());
  backend.answer_with(kNope);
  add(4, backend);
  ASSERT_TRUE(run_until([&] { return !status(4).healthy; }));
  backend.answer_with(kPong);
  ASSERT_TRUE(run_until([&] { return status(4).healthy; }));
  EXPECT_TRUE(checker().take_transitions().empty());
}

TEST_P(HealthCheckLiveTest, RemoveTargetStopsProbing) {
  Responder backend(family());
  add(5, backend);
  ASSERT_TRUE(run_until([&] { return status(5).probes_ok >= 2; }));
  checker().remove_target(5);
  checker().remove_target(99);  // unknown: nothing happens
  EXPECT_FALSE(checker().status(5).has_value());
  EXPECT_EQ(checker().target_count(), 0u);
  const uint64_t probes = backend.probes();
  ASSERT_TRUE(run_for_ms(10 * int64_t{config_.interval_ms}));
  EXPECT_EQ(backend.probes(), probes);
}

TEST_P(HealthCheckLiveTest, StrayDatagramsAreCountedNotCredited) {
  Responder backend(family());
  backend.answer_with(std::nullopt);  // silent, so only the stray could answer its probes
  add(6, backend);
  ASSERT_TRUE(run_until([&] { return status(6).probes_sent >= 1; }));
  LoopbackSocket stray(family());
  ASSERT_TRUE(stray.ok());
  const NetAddress probe_socket = loopback(family(), checker().local_address(family()).port());
  ASSERT_NE(probe_socket.port(), 0);
  ASSERT_EQ(::sendto(stray.fd(), kPong.data(), kPong.size(), 0, probe_socket.sockaddr_ptr(),
                     probe_socket.length),
            static_cast<ssize_t>(kPong.size()));
  ASSERT_TRUE(run_until([&] { return checker().unexpected_replies() >= 1; }));
  EXPECT_EQ(status(6).probes_ok, 0u);
}

TEST(HealthChecker, Ipv4MappedTargetIsProbedOverIpv4) {
  Responder backend(AF_INET);
  ASSERT_TRUE(backend.ok());
  HealthChecker checker(fast_config());
  const auto mapped =
      NetAddress::parse("[::ffff:127.0.0.1]:" + std::to_string(backend.address().port()));
  ASSERT_TRUE(mapped);
  ASSERT_EQ(checker.add_target(1, *mapped, now_ms()), "");
  const auto deadline = std::chrono::steady_clock::now() + kWaitMax;
  pollfd fd{backend.fd(), POLLIN, 0};
  while (checker.status(1)->probes_ok < 2 && std::chrono::steady_clock::now() < deadline) {
    checker.tick(now_ms());
    backend.serve();
    ::poll(&fd, 1, 1);
  }
  EXPECT_GE(checker.status(1)->probes_ok, 2u);
  EXPECT_EQ(checker.local_address(AF_INET6).family(), 0);  // no IPv6 socket was needed
  // The plain IPv4 form is the same target.
  EXPECT_NE(checker.add_target(2, backend.address(), now_ms()), "");
}

TEST(HealthChecker, AddTargetRefusesWhatItCannotProbe) {
  HealthChecker off(HealthCheckConfig{});
  EXPECT_NE(off.add_target(1, loopback(AF_INET, 9), 0), "");
  HealthChecker checker(fast_config());
  EXPECT_NE(checker.add_target(1, NetAddress{}, 0), "");
  ASSERT_EQ(checker.add_target(1, loopback(AF_INET, 9), 0), "");
  EXPECT_EQ(checker.add_target(2, loopback(AF_INET, 9), 0),
            "health check: 127.0.0.1:9 is already probed for slot 1");
  EXPECT_EQ(checker.add_target(1, loopback(AF_INET, 9), 0), "");  // the same slot: replaced
  EXPECT_EQ(checker.target_count(), 1u);
}

}  // namespace
}  // namespace shortline
