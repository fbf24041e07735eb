// The takeover protocol's encode/decode (explicit big-endian fields, never a struct cast)
// and its one-message-per-packet send and receive with SCM_RIGHTS.
#include "control/takeover.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace shortline::takeover {
namespace {

constexpr uint8_t kFamilyIpv4 = 4;
constexpr uint8_t kFamilyIpv6 = 6;
// Offer body before the kinds: pid, family, port, 16 address bytes, scope id, workers, count.
constexpr uint32_t kOfferFixedBytes = 4 + 1 + 2 + 16 + 4 + 2 + 2;

class Writer {
 public:
  void u8(uint8_t value) { bytes_.push_back(value); }
  void u16(uint16_t value) {
    u8(static_cast<uint8_t>(value >> 8));
    u8(static_cast<uint8_t>(value));
  }
  void u32(uint32_t value) {
    u16(static_cast<uint16_t>(value >> 16));
    u16(static_cast<uint16_t>(value));
  }
  void raw(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  [[nodiscard]] bool has(size_t size) const { return bytes_.size() - next_ >= size; }
  [[nodiscard]] size_t left() const { return bytes_.size() - next_; }
  uint8_t u8() { return bytes_[next_++]; }
  uint16_t u16() {
    const uint16_t high = u8();
    return static_cast<uint16_t>((high << 8) | u8());
  }
  uint32_t u32() {
    const uint32_t high = u16();
    return (high << 16) | u16();
  }
  void raw(void* out, size_t size) {
    std::memcpy(out, bytes_.data() + next_, size);
    next_ += size;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t next_ = 0;
};

void write_address(Writer& out, const NetAddress& address) {
  std::array<uint8_t, 16> host{};
  uint32_t scope = 0;
  if (address.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address.storage);
    std::memcpy(host.data(), &in->sin_addr, 4);
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    std::memcpy(host.data(), &in6->sin6_addr, 16);
    scope = in6->sin6_scope_id;
  }
  out.u8(address.family() == AF_INET ? kFamilyIpv4 : kFamilyIpv6);
  out.u16(address.port());
  out.raw(host.data(), host.size());
  out.u32(scope);
}

std::optional<NetAddress> read_address(Reader& in) {
  const uint8_t family = in.u8();
  const uint16_t port = in.u16();
  std::array<uint8_t, 16> host{};
  in.raw(host.data(), host.size());
  const uint32_t scope = in.u32();
  NetAddress address;
  if (family == kFamilyIpv4) {
    sockaddr_in in4{};
    in4.sin_family = AF_INET;
    std::memcpy(&in4.sin_addr, host.data(), 4);
    address = NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&in4), sizeof(in4));
  } else if (family == kFamilyIpv6) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    std::memcpy(&in6.sin6_addr, host.data(), 16);
    in6.sin6_scope_id = scope;
    address = NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
  } else {
    return std::nullopt;
  }
  address.set_port(port);
  return address;
}

bool known_type(uint8_t type) {
  return type >= static_cast<uint8_t>(MessageType::request) &&
         type <= static_cast<uint8_t>(MessageType::done);
}

// The offer's body after the pid; checks that the kinds agree with the worker count.
std::optional<std::string> read_offer(Reader& in, Message& message) {
  const auto listen = read_address(in);
  if (!listen) return "offer: unknown address family";
  message.listen = *listen;
  message.workers = in.u16();
  const uint16_t count = in.u16();
  if (message.workers == 0 || message.workers > DataplaneConfig::kWorkersMax)
    return "offer: " + std::to_string(message.workers) + " workers (expected 1 to 256)";
  if (count == 0 || count > kFdsMax || in.left() != count)
    return "offer: " + std::to_string(count) + " fd kinds in " + std::to_string(in.left()) +
           " bytes";
  uint32_t listens = 0;
  uint32_t controls = 0;
  for (uint16_t i = 0; i < count; ++i) {
    const uint8_t kind = in.u8();
    if (kind == static_cast<uint8_t>(FdKind::listen)) ++listens;
    else if (kind == static_cast<uint8_t>(FdKind::control)) ++controls;
    else return "offer: unknown fd kind " + std::to_string(kind);
    message.fd_kinds.push_back(static_cast<FdKind>(kind));
  }
  if (listens != message.workers || controls > 1)
    return "offer: " + std::to_string(listens) + " listen and " + std::to_string(controls) +
           " control fds for " + std::to_string(message.workers) + " workers";
  return std::nullopt;
}

void close_all(std::vector<int>& fds, size_t from) {
  for (size_t i = from; i < fds.size(); ++i) ::close(fds[i]);
  fds.resize(from);
}

// Appends the SCM_RIGHTS fds of a received message.
void collect_fds(msghdr& header, std::vector<int>& fds) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.push_back(fd);
    }
  }
}

}  // namespace

std::vector<uint8_t> encode(const Message& message) {
  Writer body;
  body.u32(message.pid);
  if (message.type == MessageType::offer) {
    write_address(body, message.listen);
    body.u16(static_cast<uint16_t>(message.workers));
    body.u16(static_cast<uint16_t>(message.fd_kinds.size()));
    for (const FdKind kind : message.fd_kinds) body.u8(static_cast<uint8_t>(kind));
  }
  Writer out;
  out.u32(kMagic);
  out.u16(kVersion);
  out.u8(static_cast<uint8_t>(message.type));
  out.u8(0);
  out.u32(static_cast<uint32_t>(body.bytes().size()));
  out.raw(body.bytes().data(), body.bytes().size());
  return std::move(out.bytes());
}

std::optional<Message> decode(std::span<const uint8_t> bytes, std::string& error) {
  error.clear();
  Reader in(bytes);
  if (!in.has(kHeaderBytes)) {
    error = "short message (" + std::to_string(bytes.size()) + " bytes)";
    return std::nullopt;
  }
  const uint32_t magic = in.u32();
  const uint16_t version = in.u16();
  const uint8_t type = in.u8();
  (void)in.u8();  // reserved
  const uint32_t length = in.u32();
  if (magic != kMagic) error = "not a takeover message (bad magic)";
  else if (version != kVersion) error = "takeover protocol version " + std::to_string(version) +
                                        " (this build speaks " + std::to_string(kVersion) + ")";
  else if (!known_type(type)) error = "unknown message type " + std::to_string(type);
  else if (length != in.left()) error = "length " + std::to_string(length) + " but " +
                                        std::to_string(in.left()) + " bytes follow";
  if (!error.empty()) return std::nullopt;
  Message message;
  message.type = static_cast<MessageType>(type);
  const uint32_t fixed = message.type == MessageType::offer ? kOfferFixedBytes : 4;
  if (message.type == MessageType::offer ? length < fixed : length != fixed) {
    error = "body of " + std::to_string(length) + " bytes for message type " + std::to_string(type);
    return std::nullopt;
  }
  message.pid = in.u32();
  if (message.type == MessageType::offer) {
    if (auto failure = read_offer(in, message)) {
      error = *failure;
      return std::nullopt;
    }
  }
  return message;
}

std::string send_message(int socket_fd, const Message& message, std::span<const int> fds) {
  if (fds.size() > kFdsMax) return "too many fds to pass (" + std::to_string(fds.size()) + ")";
  std::vector<uint8_t> bytes = encode(message);
  iovec vector{bytes.data(), bytes.size()};
  msghdr header{};
  header.msg_iov = &vector;
  header.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kFdsMax)> control{};
  if (!fds.empty()) {
    header.msg_control = control.data();
    header.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&header);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  const ssize_t sent = ::sendmsg(socket_fd, &header, MSG_NOSIGNAL);
  if (sent == static_cast<ssize_t>(bytes.size())) return "";
  return sent < 0 ? std::string("send: ") + std::strerror(errno) : "send: short write";
}

std::optional<Message> receive_message(int socket_fd, int timeout_ms, std::vector<int>& fds,
                                       std::string& error) {
  pollfd ready{socket_fd, POLLIN, 0};
  const int polled = ::poll(&ready, 1, timeout_ms);
  if (polled <= 0) {
    error = polled == 0 ? "no message within " + std::to_string(timeout_ms) + " ms"
                        : std::string("poll: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::array<uint8_t, kMessageBytesMax> bytes{};
  iovec vector{bytes.data(), bytes.size()};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kFdsMax)> control{};
  msghdr header{};
  header.msg_iov = &vector;
  header.msg_iovlen = 1;
  header.msg_control = control.data();
  header.msg_controllen = control.size();
  const ssize_t received = ::recvmsg(socket_fd, &header, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (received <= 0) {
    error = received == 0 ? "the peer closed the connection"
                          : std::string("receive: ") + std::strerror(errno);
    return std::nullopt;
  }
  const size_t first_fd = fds.size();
  collect_fds(header, fds);
  if ((header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    close_all(fds, first_fd);  // a cut message or fd list is not one we can trust
    error = "truncated message or fd list";
    return std::nullopt;
  }
  return decode(std::span<const uint8_t>(bytes.data(), static_cast<size_t>(received)), error);
}

}  // namespace shortline::takeover
