// The takeover protocol: a new shortline-lb takes the running one's listen sockets (and its
// control socket) over a unix SOCK_SEQPACKET socket, one message per packet, fds passed with
// SCM_RIGHTS. Binary, versioned, network byte order, decoded with bounds checks.
//
//   new -> old  request  {pid}
//   old -> new  offer    {pid, listen address, workers, kind of each fd} + the fds
//   new -> old  reading  {pid}   (every new worker reads the shared sockets)
//   old -> new  done     {pid}   (the old one stopped reading; its admin port is free)
//
// The sockets themselves are shared, never re-opened: their queues and the SO_REUSEPORT
// group stay exactly as they were, so no datagram waiting in a queue is lost and no flow
// is rehashed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dataplane/dataplane_config.h"
#include "dataplane/net_address.h"

namespace shortline::takeover {

enum class MessageType : uint8_t { request = 1, offer = 2, reading = 3, done = 4 };
// What a passed fd is; the offer lists one kind per fd, in the order of the fds.
enum class FdKind : uint8_t { listen = 1, control = 2 };

constexpr uint32_t kMagic = 0x534c544f;  // "SLTO"
constexpr uint16_t kVersion = 1;
constexpr uint32_t kHeaderBytes = 12;    // magic, version, type, reserved, body length
// Every listen socket (one per worker) and the control socket.
constexpr uint32_t kFdsMax = DataplaneConfig::kWorkersMax + 1;
constexpr uint32_t kMessageBytesMax = 512;  // an offer with kFdsMax kinds fits

struct Message {
  MessageType type = MessageType::request;
  uint32_t pid = 0;  // the sender's, for the log lines
  // Offer only: where clients send, how many listen sockets (workers) come with it, and
  // the kind of each fd in the order they are passed.
  NetAddress listen;
  uint32_t workers = 0;
  std::vector<FdKind> fd_kinds;
};

[[nodiscard]] std::vector<uint8_t> encode(const Message& message);
// nullopt with a one-line `error` for anything that is not a well-formed message of this
// version: wrong magic or version, unknown type, a length that disagrees, bad counts.
[[nodiscard]] std::optional<Message> decode(std::span<const uint8_t> bytes, std::string& error);

// Sends one message with `fds` attached. Returns "" or what failed.
[[nodiscard]] std::string send_message(int socket_fd, const Message& message,
                                       std::span<const int> fds = {});
// Waits up to timeout_ms for one message; received fds (close-on-exec) are appended to
// `fds` and owned by the caller, also on a decode error. nullopt with `error` on timeout,
// end of file, a truncated packet or bad bytes.
[[nodiscard]] std::optional<Message> receive_message(int socket_fd, int timeout_ms,
                                                     std::vector<int>& fds, std::string& error);

}  // namespace shortline::takeover
