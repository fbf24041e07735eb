// The typed value carried in each io_uring operation's user_data: what the operation was,
// which socket, buffer or group it concerns, and a generation field. Never a heap pointer.
#pragma once

#include <cstdint>

namespace shortline {

enum class OpKind : uint8_t {
  listen_receive = 1,   // multishot recvmsg on the listen socket
  upstream_receive,     // multishot recvmsg on a pooled upstream socket (index = socket)
  upstream_send,        // request sent to a server (index = buffer id)
  client_send,          // reply sent to a client (index = buffer id)
  cancel,               // an async cancel; its own completion carries no information
  upstream_send_group,  // a GSO run of requests to one server (index = group)
  client_send_group,    // a GSO run of replies to one client (index = group)
};

struct UserData {
  OpKind kind;
  uint32_t generation;  // 24 bits used
  uint32_t index;

  [[nodiscard]] uint64_t encode() const {
    return uint64_t{static_cast<uint8_t>(kind)} << 56 |
           uint64_t{generation & 0xffffffu} << 32 | index;
  }
  [[nodiscard]] static UserData decode(uint64_t value) {
    return {static_cast<OpKind>(value >> 56), static_cast<uint32_t>(value >> 32) & 0xffffffu,
            static_cast<uint32_t>(value)};
  }
  [[nodiscard]] static bool same_generation(uint32_t a, uint32_t b) {
    return ((a ^ b) & 0xffffffu) == 0;
  }
};

}  // namespace shortline
