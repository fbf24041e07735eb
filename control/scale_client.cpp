// ScaleRequest sending, reply matching and the retry schedule.
#include "control/scale_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <variant>

#include "control/config.h"

namespace shortline {
namespace {

constexpr int kReceivesPerCallMax = 16;

}  // namespace

ScaleClient::ScaleClient(ScaleClientConfig config, ControlCounters& counters)
    : config_(std::move(config)),
      counters_(counters),
      // Unique across restarts, so a controller that remembers sequences never mistakes a
      // new request for an old one.
      next_sequence_(wire::initial_auth_sequence()),
      auth_sequence_(wire::initial_auth_sequence()) {
  assert(config_.attempts_max >= 1 && config_.retry_initial_ms > 0);
}

ScaleClient::~ScaleClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ScaleClient::open() {
  if (!enabled()) return {};
  const auto controller = compose_address(config_.controller_host, config_.controller_port);
  if (!controller) return "scale client: controller address " + config_.controller_host;
  fd_ = ::socket(controller->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return std::string("scale client socket: ").append(std::strerror(errno));
  // Connected: the kernel delivers only the controller's datagrams to this socket.
  if (::connect(fd_, controller->sockaddr_ptr(), controller->length) != 0) {
    std::string error("scale client connect: ");
    error.append(std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    return error;
  }
  return {};
}

uint64_t ScaleClient::request(wire::ScaleRequest request, int64_t now_ms) {
  assert(enabled() && !busy());
  request.sequence = next_sequence_++;
  outstanding_ = request;
  attempts_ = 0;
  counters_.add(ControlCounter::scale_requests_sent);
  send_outstanding();
  next_send_ms_ = now_ms + config_.retry_initial_ms;
  return request.sequence;
}

void ScaleClient::send_outstanding() {
  std::array<uint8_t, wire::kControlMessageBytesMax> buffer{};
  wire::SignOptions sign;
  if (config_.key) sign = {&*config_.key, {config_.sender_id, ++auth_sequence_}};
  const std::size_t size = wire::encode(*outstanding_, buffer, sign);
  assert(size > 0);
  ++attempts_;
  if (::send(fd_, buffer.data(), size, MSG_DONTWAIT) != static_cast<ssize_t>(size))
    counters_.add(ControlCounter::scale_send_errors);  // retried on schedule
}

bool ScaleClient::tick(int64_t now_ms) {
  if (!outstanding_ || now_ms < next_send_ms_) return false;
  if (attempts_ >= config_.attempts_max) {
    counters_.add(ControlCounter::scale_requests_abandoned);
    outstanding_.reset();
    return true;
  }
  counters_.add(ControlCounter::scale_requests_retried);
  send_outstanding();
  // After send k (k >= 2): wait retry_initial_ms x 2^(k-1), so 50, 100, 200, ... ms.
  const int64_t backoff = std::min(
      config_.retry_max_ms, config_.retry_initial_ms << std::min<uint32_t>(attempts_ - 1, 20));
  next_send_ms_ = now_ms + backoff;
  return false;
}

std::optional<wire::ScaleReply> ScaleClient::on_readable(int64_t now_ms) {
  if (fd_ < 0) return std::nullopt;
  std::optional<wire::ScaleReply> completed;
  std::array<uint8_t, 1500> buffer{};
  for (int i = 0; i < kReceivesPerCallMax; ++i) {
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      counters_.add(ControlCounter::scale_send_errors);  // ECONNREFUSED: nobody listens
      continue;
    }
    wire::DecodeOptions options;
    if (config_.key) options = {&*config_.key, &reply_guard_};
    const auto decoded =
        wire::decode(std::span(buffer.data(), static_cast<std::size_t>(n)), options);
    const auto* reply = decoded.ok() ? std::get_if<wire::ScaleReply>(&decoded.message) : nullptr;
    if (reply == nullptr) {
      counters_.add(ControlCounter::scale_replies_rejected);
      continue;
    }
    if (!outstanding_ || reply->sequence != outstanding_->sequence) {
      counters_.add(ControlCounter::scale_replies_unexpected);
      continue;
    }
    if (reply->result == wire::ScaleResult::in_progress) {
      next_send_ms_ = now_ms + config_.retry_max_ms;  // heard; ask again later
      continue;
    }
    counters_.add(ControlCounter::scale_replies);
    outstanding_.reset();
    completed = *reply;
  }
  return completed;
}

}  // namespace shortline
