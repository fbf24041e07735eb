// Where a datagram was sent to and where its reply must leave from: reading IP_PKTINFO /
// IPV6_PKTINFO off a received datagram, writing the control message that makes a reply
// leave from that address (so a client of a wildcard listen, or of a second address on
// the host, sees the address it sent to), and comparing a reply's source with a server.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include "dataplane/flow_key.h"

namespace shortline {

// Room for one IPV6_PKTINFO control message (IP_PKTINFO's is smaller).
inline constexpr uint32_t kReplySourceControlBytes = CMSG_SPACE(sizeof(in6_pktinfo));

// Reads the destination address of a received datagram from one control message; false
// when the message is not IP_PKTINFO or IPV6_PKTINFO.
bool read_local_address(const cmsghdr& message, LocalAddress& local);

// Writes into `control` (kReplySourceControlBytes, cmsghdr-aligned) the control message
// that sends a datagram from `local`; returns its CMSG_SPACE, or 0 when local is unset.
uint32_t write_reply_source(const LocalAddress& local, uint8_t* control);

// `address` in the form an upstream socket of `family` sends to and receives from: an IPv4
// address becomes v4-mapped for an AF_INET6 (dual-stack) socket. False when it cannot
// be reached from such a socket (IPv6 from an AF_INET one).
bool to_socket_family(const sockaddr* address, socklen_t length, int family, ClientName& out);

// Whether a reply's source (as recvmsg returns it) is `server` (as to_socket_family made it):
// family, address and port.
bool same_endpoint(const sockaddr* source, socklen_t length, const ClientName& server);

}  // namespace shortline
