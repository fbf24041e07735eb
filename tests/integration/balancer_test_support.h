// What the integration tests that run shortline-lb share: a GET from its admin endpoint
// and the --backend list of test servers.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline {

struct HttpResponse {
  int status = 0;  // 0: no HTTP response (refused, timed out, garbled)
  std::string body;
};

// GET `path` from the admin endpoint (HTTP/1.0, read to the close), whatever its status.
inline HttpResponse http_get_response(const NetAddress& admin, const std::string& path) {
  const int fd = socket(admin.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  const timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  const std::string request = "GET " + path + " HTTP/1.0\r\nConnection: close\r\n\r\n";
  std::string response;
  if (connect(fd, admin.sockaddr_ptr(), admin.length) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[16384];
    for (ssize_t n; response.size() < (4u << 20) && (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;)
      response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const auto body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12 || body == std::string::npos)
    return {};
  return {std::atoi(response.c_str() + 9), response.substr(body + 4)};
}

// The body of GET `path` from the admin endpoint, or "" unless it answered 200.
inline std::string http_get(const NetAddress& admin, const std::string& path) {
  HttpResponse response = http_get_response(admin, path);
  return response.status == 200 ? std::move(response.body) : std::string();
}

inline std::string backend_list(const std::vector<NetAddress>& servers) {
  std::string list;
  for (const auto& server : servers)
    list.append(list.empty() ? "" : ",").append(server.to_string());
  return list;
}

}  // namespace shortline
