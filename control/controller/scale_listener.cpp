// ScaleRequest handling: decode, check the source, answer once per sequence.
#include "control/controller/scale_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

namespace shortline::controller {

namespace {

constexpr std::size_t kReplayGuardSenders = 64;  // balancers that may talk to one controller

bool same_request(const wire::ScaleRequest& a, const wire::ScaleRequest& b) {
  return a.sequence == b.sequence && a.action == b.action && a.server_id == b.server_id;
}

}  // namespace

ScaleReplyCache::ScaleReplyCache(std::size_t capacity) : capacity_(capacity) {
  assert(capacity_ > 0);
}

const wire::ScaleReply* ScaleReplyCache::find(const wire::ScaleRequest& request,
                                              std::string_view sender) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->sender == sender && same_request(it->request, request)) return &it->reply;
  }
  return nullptr;
}

void ScaleReplyCache::remember(const wire::ScaleRequest& request, const wire::ScaleReply& reply,
                               std::string_view sender) {
  // A sequence its sender reused for another request replaces the old entry.
  std::erase_if(entries_, [&request, sender](const Entry& entry) {
    return entry.sender == sender && entry.request.sequence == request.sequence;
  });
  if (entries_.size() == capacity_) entries_.pop_front();
  entries_.push_back({std::string(sender), request, reply});
}

ScaleAnswer answer_scale_request(ScaleReplyCache& cache, const wire::ScaleRequest& request,
                                 const ScaleExecutor& execute, std::string_view sender) {
  if (const auto* cached = cache.find(request, sender)) return {*cached, false};
  ScaleAnswer answer{execute(request, sender), true};
  answer.reply.sequence = request.sequence;
  cache.remember(request, answer.reply, sender);
  return answer;
}

ScaleListener::ScaleListener(const wire::AuthKey* key)
    : key_(key), auth_sequence_(wire::initial_auth_sequence()), cache_(kRepliesRemembered) {
  if (key_ != nullptr) replay_guard_.emplace(kReplayGuardSenders);
}

ScaleListener::~ScaleListener() {
  if (fd_ >= 0) close(fd_);
}

bool ScaleListener::open(const NetAddress& address, std::string& error) {
  assert(fd_ < 0);
  fd_ = socket(address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error = std::string("socket: ").append(std::strerror(errno));
    return false;
  }
  if (bind(fd_, address.sockaddr_ptr(), address.length) != 0) {
    error = "cannot bind " + address.to_string() + " (controller.address and port): " +
            std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return false;
  }
  return true;
}

std::size_t ScaleListener::drain(const ScaleExecutor& execute) {
  std::array<uint8_t, 2048> buffer{};
  std::size_t read = 0;
  for (; read < kDatagramsPerDrainMax; ++read) {
    NetAddress source;
    socklen_t length = sizeof(source.storage);
    const ssize_t got =
        recvfrom(fd_, buffer.data(), buffer.size(), 0, source.sockaddr_ptr(), &length);
    if (got < 0) break;  // EAGAIN: nothing more now; other errors are transient on UDP
    source.length = length;
    handle({buffer.data(), static_cast<std::size_t>(got)}, source, execute);
  }
  return read;
}

void ScaleListener::handle(std::span<const uint8_t> datagram, const NetAddress& source,
                           const ScaleExecutor& execute) {
  // From another host only when every request must carry a valid tag: the key, not the
  // source address (which UDP lets anyone forge), says who may start and stop servers.
  if (key_ == nullptr && !source.is_loopback()) [[unlikely]] {
    ++counters_.source_not_allowed;
    return;
  }
  wire::DecodeOptions options;
  options.key = key_;
  options.replay_guard = replay_guard_ ? &*replay_guard_ : nullptr;
  const auto decoded = wire::decode(datagram, options);
  if (!decoded.ok()) [[unlikely]] {
    ++counters_.rejected[static_cast<std::size_t>(decoded.error)];
    return;
  }
  const auto* request = std::get_if<wire::ScaleRequest>(&decoded.message);
  if (request == nullptr) [[unlikely]] {
    ++counters_.not_scale_request;
    return;
  }
  // Keyed by source address too: two balancers' sequence 1 are two requests.
  const auto answer = answer_scale_request(cache_, *request, execute, source.to_string());
  ++(answer.executed ? counters_.executed : counters_.retries_answered);
  send_reply(answer.reply, source);
}

void ScaleListener::send_reply(const wire::ScaleReply& reply, const NetAddress& destination) {
  std::array<uint8_t, wire::kControlMessageBytesMax> out{};
  wire::SignOptions sign;
  if (key_ != nullptr) {
    sign.key = key_;
    sign.stamp = {kSenderId, auth_sequence_++};
  }
  const std::size_t size = wire::encode(reply, out, sign);
  assert(size > 0);
  if (sendto(fd_, out.data(), size, 0, destination.sockaddr_ptr(), destination.length) < 0)
    ++counters_.send_errors;
}

}  // namespace shortline::controller
