// Active health checks: the config's checks and hex parsing, then the checker's sockets,
// its error-queue and reply draining, probe timeouts and sends, and rise/fall accounting.
#include "control/health_check.h"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

namespace shortline {
namespace {

constexpr std::size_t kReplyBufferBytesMin = 64;  // enough to receive a reply nobody inspects
constexpr std::size_t kErrorControlBytes = 256;   // sock_extended_err + offender, with slack

std::string errno_text(std::string_view what, int error) {
  return std::string(what).append(": ").append(std::strerror(error));
}

// The errors an ICMP message leaves in sk_err (icmp_err_convert, icmpv6_err_convert). With
// IP_RECVERR the kernel reports them once more on the next recvfrom or sendto of the
// socket, whichever target that call is for; the error queue says which target it was.
bool is_icmp_errno(int error) {
  switch (error) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EACCES:
    case EMSGSIZE:
    case EPROTO:
    case ENOPROTOOPT:
    case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS; }

// [::ffff:a.b.c.d]:p -> a.b.c.d:p, so that each endpoint has one form to compare and hash.
NetAddress canonical(const NetAddress& address) {
  if (address.family() != AF_INET6) return address;
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
  if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return address;
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = v6->sin6_port;
  std::memcpy(&v4.sin_addr, &v6->sin6_addr.s6_addr[12], sizeof(v4.sin_addr));
  return NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4));
}

std::string set_option(int fd, int level, int name, std::string_view what) {
  const int on = 1;
  if (::setsockopt(fd, level, name, &on, sizeof(on)) == 0) return {};
  return errno_text(std::string("health check socket ").append(what), errno);
}

// V6ONLY so that IPv4 goes through the IPv4 socket only (see the header); RECVERR so that
// ICMP errors of an unconnected socket reach us at all; bound to port 0 so that the local
// port is fixed before the first send.
std::string configure_socket(int fd, int family) {
  std::string error;
  NetAddress local;
  if (family == AF_INET6) {
    error = set_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY");
    if (error.empty()) error = set_option(fd, IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR");
    local = *NetAddress::parse("[::]:0");
  } else {
    error = set_option(fd, IPPROTO_IP, IP_RECVERR, "IP_RECVERR");
    local = *NetAddress::parse("0.0.0.0:0");
  }
  if (!error.empty()) return error;
  if (::bind(fd, local.sockaddr_ptr(), local.length) == 0) return {};
  return errno_text("health check socket bind", errno);
}

// The errno of the ICMP (or local) error a MSG_ERRQUEUE message carries; 0 when none.
int queued_errno(msghdr& message) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    const bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
    const bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
    if (!v4 && !v6) continue;
    sock_extended_err error{};
    std::memcpy(&error, CMSG_DATA(c), sizeof(error));
    const bool from_network = error.ee_origin == SO_EE_ORIGIN_ICMP ||
                              error.ee_origin == SO_EE_ORIGIN_ICMP6 ||
                              error.ee_origin == SO_EE_ORIGIN_LOCAL;
    if (from_network) return static_cast<int>(error.ee_errno);
  }
  return 0;
}

void saturating_increment(uint32_t& value) {
  if (value < std::numeric_limits<uint32_t>::max()) ++value;
}

}  // namespace

HealthChecker::HealthChecker(HealthCheckConfig config)
    : config_(std::move(config)),
      reply_buffer_(std::max(kReplyBufferBytesMin, config_.expect_offset + config_.expect.size())) {
  assert(validate_health_check(config_).empty());
}

HealthChecker::~HealthChecker() {
  for (const int fd : fds_)
    if (fd >= 0) ::close(fd);
}

std::string HealthChecker::open_socket(std::size_t socket, int family) {
  if (fds_[socket] >= 0) return {};
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_text("health check socket", errno);
  std::string error = configure_socket(fd, family);
  if (!error.empty()) {
    ::close(fd);
    return error;
  }
  fds_[socket] = fd;
  return {};
}

std::string HealthChecker::add_target(uint32_t slot, const NetAddress& address, int64_t now_ms) {
  if (!config_.enabled()) return "health check: checks are off (no payload)";
  const NetAddress target = canonical(address);
  const int family = target.family();
  if (family != AF_INET && family != AF_INET6)
    return "health check: not an IPv4 or IPv6 address: " + address.to_string();
  const auto taken = by_address_.find(target);
  if (taken != by_address_.end() && targets_[taken->second].slot != slot) {
    std::string error("health check: ");
    error.append(target.to_string()).append(" is already probed for slot ");
    return error.append(std::to_string(targets_[taken->second].slot));
  }
  const std::size_t socket = family == AF_INET ? 0 : 1;
  if (std::string error = open_socket(socket, family); !error.empty()) return error;
  remove_target(slot);
  Target entry;
  entry.slot = slot;
  entry.address = target;
  entry.socket = socket;
  entry.next_send_ms = now_ms;
  by_slot_[slot] = targets_.size();
  by_address_[target] = targets_.size();
  targets_.push_back(std::move(entry));
  next_event_ms_ = std::min(next_event_ms_, now_ms);
  return {};
}

void HealthChecker::remove_target(uint32_t slot) {
  const auto it = by_slot_.find(slot);
  if (it == by_slot_.end()) return;
  const std::size_t index = it->second;
  const Target& gone = targets_[index];
  if (gone.status.healthy != gone.reported_healthy) --transitions_pending_;
  by_address_.erase(gone.address);
  by_slot_.erase(it);
  if (index + 1 != targets_.size()) {
    targets_[index] = std::move(targets_.back());
    by_slot_[targets_[index].slot] = index;
    by_address_[targets_[index].address] = index;
  }
  targets_.pop_back();
}

void HealthChecker::tick(int64_t now_ms) {
  // Replies and errors first, so that one that came in before this tick beats its timeout.
  for (std::size_t socket = 0; socket < fds_.size(); ++socket) {
    if (fds_[socket] < 0) continue;
    drain_errors(socket, now_ms);
    drain_replies(socket, now_ms);
  }
  if (now_ms >= next_event_ms_) expire_and_send(now_ms);
}

void HealthChecker::drain_errors(std::size_t socket, int64_t now_ms) {
  for (int i = 0; i < kReceivesPerTickMax; ++i) {
    sockaddr_storage destination{};
    std::array<uint8_t, 64> original{};  // the failed probe's payload; only its address matters
    alignas(cmsghdr) std::array<uint8_t, kErrorControlBytes> control{};
    iovec vector{original.data(), original.size()};
    msghdr message{};
    message.msg_name = &destination;
    message.msg_namelen = sizeof(destination);
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    if (::recvmsg(fds_[socket], &message, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) add(HealthCheckCounter::receive_errors);
      return;
    }
    const int error = queued_errno(message);
    const auto* name = reinterpret_cast<const sockaddr*>(&destination);
    const NetAddress target = canonical(NetAddress::from_sockaddr(name, message.msg_namelen));
    if (error == 0 || target.family() == 0) {
      add(HealthCheckCounter::errors_unexpected);
      continue;
    }
    on_error(target, error, now_ms);
  }
  add(HealthCheckCounter::drain_bound_reached);
}

void HealthChecker::drain_replies(std::size_t socket, int64_t now_ms) {
  for (int i = 0; i < kReceivesPerTickMax; ++i) {
    sockaddr_storage source{};
    socklen_t length = sizeof(source);
    // MSG_TRUNC: the datagram's real size, though only the bytes the match reads are kept.
    const ssize_t size =
        ::recvfrom(fds_[socket], reply_buffer_.data(), reply_buffer_.size(),
                   MSG_DONTWAIT | MSG_TRUNC, reinterpret_cast<sockaddr*>(&source), &length);
    if (size < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (is_icmp_errno(errno)) continue;  // sk_err of a queued ICMP error; drain_errors has it
      add(HealthCheckCounter::receive_errors);
      return;
    }
    const std::size_t kept = std::min(static_cast<std::size_t>(size), reply_buffer_.size());
    const auto* name = reinterpret_cast<const sockaddr*>(&source);
    on_reply(canonical(NetAddress::from_sockaddr(name, length)), {reply_buffer_.data(), kept},
             now_ms);
  }
  add(HealthCheckCounter::drain_bound_reached);
}

HealthChecker::Target* HealthChecker::awaiting_target(const NetAddress& address) {
  const auto it = by_address_.find(address);
  if (it == by_address_.end()) return nullptr;
  Target& target = targets_[it->second];
  return target.awaiting ? &target : nullptr;
}

void HealthChecker::on_reply(const NetAddress& source, std::span<const uint8_t> reply,
                             int64_t now_ms) {
  Target* target = awaiting_target(source);
  if (target == nullptr) {
    add(HealthCheckCounter::replies_unexpected);
    return;
  }
  if (health_reply_matches(config_, reply))
    succeed(*target, now_ms);
  else
    fail(*target, "wrong reply", now_ms);
}

void HealthChecker::on_error(const NetAddress& destination, int error, int64_t now_ms) {
  Target* target = awaiting_target(destination);
  if (target == nullptr) {
    add(HealthCheckCounter::errors_unexpected);
    return;
  }
  fail(*target, error == ECONNREFUSED ? std::string("refused") : errno_text("unreachable", error),
       now_ms);
}

void HealthChecker::expire_and_send(int64_t now_ms) {
  next_event_ms_ = std::numeric_limits<int64_t>::max();
  int sends = 0;
  for (Target& target : targets_) {
    if (target.awaiting && now_ms - target.sent_ms >= config_.timeout_ms)
      fail(target, "timeout", now_ms);
    if (!target.awaiting && now_ms >= target.next_send_ms) {
      if (sends < kSendsPerTickMax) {
        ++sends;
        send_probe(target, now_ms);
      } else {
        add(HealthCheckCounter::send_deferred);
      }
    }
    const int64_t due = target.awaiting ? target.sent_ms + config_.timeout_ms
                                        : std::max(target.next_send_ms, now_ms + 1);
    next_event_ms_ = std::min(next_event_ms_, due);
  }
}

void HealthChecker::send_probe(Target& target, int64_t now_ms) {
  const auto send = [&] {
    return ::sendto(fds_[target.socket], config_.payload.data(), config_.payload.size(),
                    MSG_DONTWAIT | MSG_NOSIGNAL, target.address.sockaddr_ptr(),
                    target.address.length);
  };
  ssize_t sent = send();
  // Once more: the error may be another target's ICMP error surfacing here (see is_icmp_errno).
  if (sent < 0 && is_icmp_errno(errno)) sent = send();
  if (sent < 0 && would_block(errno)) [[unlikely]] {
    add(HealthCheckCounter::send_deferred);  // back-pressure: still due, tried next tick
    return;
  }
  ++target.status.probes_sent;
  add(HealthCheckCounter::probes_sent);
  target.sent_ms = now_ms;
  if (sent < 0) [[unlikely]] {
    fail(target, errno_text("send", errno), now_ms);
    return;
  }
  target.awaiting = true;
}

// The probe out for `target` has its verdict: the next one goes an interval from now.
void HealthChecker::end_probe(Target& target, int64_t now_ms) {
  target.awaiting = false;
  target.next_send_ms = now_ms + config_.interval_ms;
  next_event_ms_ = std::min(next_event_ms_, target.next_send_ms);
}

void HealthChecker::succeed(Target& target, int64_t now_ms) {
  TargetStatus& status = target.status;
  end_probe(target, now_ms);
  ++status.probes_ok;
  add(HealthCheckCounter::probes_ok);
  status.last_rtt_ms = static_cast<double>(now_ms - target.sent_ms);
  status.failures_in_row = 0;
  saturating_increment(status.successes_in_row);
  if (status.healthy || status.successes_in_row < config_.rise) return;
  set_health(target, true,
             "health check: " + std::to_string(status.successes_in_row) + " successes");
}

void HealthChecker::fail(Target& target, std::string why, int64_t now_ms) {
  TargetStatus& status = target.status;
  end_probe(target, now_ms);
  ++status.probes_failed;
  add(HealthCheckCounter::probes_failed);
  status.successes_in_row = 0;
  saturating_increment(status.failures_in_row);
  status.last_failure = std::move(why);
  if (!status.healthy || status.failures_in_row < config_.fall) return;
  std::string reason("health check: ");
  reason.append(std::to_string(status.failures_in_row)).append(" failures (");
  set_health(target, false, reason.append(status.last_failure).append(")"));
}

void HealthChecker::set_health(Target& target, bool healthy, std::string reason) {
  target.status.healthy = healthy;
  if (healthy == target.reported_healthy) {
    --transitions_pending_;  // flipped back before anyone took the first flip
    target.transition_reason.clear();
    return;
  }
  ++transitions_pending_;
  target.transition_reason = std::move(reason);
}

std::vector<HealthChecker::Transition> HealthChecker::take_transitions() {
  std::vector<Transition> transitions;
  if (transitions_pending_ == 0) return transitions;
  transitions.reserve(transitions_pending_);
  for (Target& target : targets_) {
    if (target.status.healthy == target.reported_healthy) continue;
    target.reported_healthy = target.status.healthy;
    transitions.push_back(
        {target.slot, target.status.healthy, std::exchange(target.transition_reason, {})});
  }
  assert(transitions.size() == transitions_pending_);
  transitions_pending_ = 0;
  std::sort(transitions.begin(), transitions.end(),
            [](const Transition& a, const Transition& b) { return a.slot < b.slot; });
  return transitions;
}

std::optional<HealthChecker::TargetStatus> HealthChecker::status(uint32_t slot) const {
  const auto it = by_slot_.find(slot);
  if (it == by_slot_.end()) return std::nullopt;
  return targets_[it->second].status;
}

NetAddress HealthChecker::local_address(int family) const {
  const int fd = fds_[family == AF_INET ? 0 : 1];
  NetAddress local;
  if (fd < 0 || (family != AF_INET && family != AF_INET6)) return local;
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return local;
  return NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
}

}  // namespace shortline
