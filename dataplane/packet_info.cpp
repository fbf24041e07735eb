// IP_PKTINFO / IPV6_PKTINFO in and out, v4-mapped addresses and endpoint comparison.
#include "dataplane/packet_info.h"

#include <cstring>

namespace shortline {

bool read_local_address(const cmsghdr& message, LocalAddress& local) {
  if (message.cmsg_level == IPPROTO_IP && message.cmsg_type == IP_PKTINFO) {
    in_pktinfo info{};
    std::memcpy(&info, CMSG_DATA(&message), sizeof(info));
    local = LocalAddress{};
    // ipi_addr is the header's destination: the address the client sent to.
    std::memcpy(&local.info.ipi6_addr, &info.ipi_addr, sizeof(info.ipi_addr));
    local.family = AF_INET;
    return true;
  }
  if (message.cmsg_level == IPPROTO_IPV6 && message.cmsg_type == IPV6_PKTINFO) {
    local = LocalAddress{};
    std::memcpy(&local.info, CMSG_DATA(&message), sizeof(local.info));
    // The interface matters only for link-local addresses; elsewhere routing decides.
    if (!IN6_IS_ADDR_LINKLOCAL(&local.info.ipi6_addr)) local.info.ipi6_ifindex = 0;
    local.family = AF_INET6;
    return true;
  }
  return false;
}

uint32_t write_reply_source(const LocalAddress& local, uint8_t* control) {
  auto* message = reinterpret_cast<cmsghdr*>(control);
  if (local.family == AF_INET) {
    in_pktinfo info{};
    std::memcpy(&info.ipi_spec_dst, &local.info.ipi6_addr, sizeof(info.ipi_spec_dst));
    message->cmsg_level = IPPROTO_IP;
    message->cmsg_type = IP_PKTINFO;
    message->cmsg_len = CMSG_LEN(sizeof(info));
    std::memcpy(CMSG_DATA(message), &info, sizeof(info));
    return CMSG_SPACE(sizeof(info));
  }
  if (local.family == AF_INET6) {
    // Also right for an IPv4 client of a dual-stack socket: the address is v4-mapped and
    // the kernel's IPv4 path reads IPV6_PKTINFO on an AF_INET6 socket.
    message->cmsg_level = IPPROTO_IPV6;
    message->cmsg_type = IPV6_PKTINFO;
    message->cmsg_len = CMSG_LEN(sizeof(local.info));
    std::memcpy(CMSG_DATA(message), &local.info, sizeof(local.info));
    return CMSG_SPACE(sizeof(local.info));
  }
  return 0;
}

bool to_socket_family(const sockaddr* address, socklen_t length, int family, ClientName& out) {
  out = ClientName{};
  if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    sockaddr_in v4{};
    std::memcpy(&v4, address, sizeof(v4));
    if (family == AF_INET) {
      std::memcpy(&out.storage, &v4, sizeof(v4));
      out.length = sizeof(v4);
      return true;
    }
    out.storage.sin6_family = AF_INET6;
    out.storage.sin6_port = v4.sin_port;
    auto* bytes = reinterpret_cast<uint8_t*>(&out.storage.sin6_addr);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    std::memcpy(bytes + 12, &v4.sin_addr, 4);
    out.length = sizeof(sockaddr_in6);
    return true;
  }
  if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6) && family == AF_INET6) {
    std::memcpy(&out.storage, address, sizeof(sockaddr_in6));
    out.length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool same_endpoint(const sockaddr* source, socklen_t length, const ClientName& server) {
  if (source->sa_family != server.storage.sin6_family) return false;
  if (source->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    sockaddr_in6 v6{};
    std::memcpy(&v6, source, sizeof(v6));
    return v6.sin6_port == server.storage.sin6_port &&
           std::memcmp(&v6.sin6_addr, &server.storage.sin6_addr, sizeof(v6.sin6_addr)) == 0;
  }
  if (source->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    sockaddr_in a{};
    sockaddr_in b{};
    std::memcpy(&a, source, sizeof(a));
    std::memcpy(&b, &server.storage, sizeof(b));
    return a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
  }
  return false;
}

}  // namespace shortline
