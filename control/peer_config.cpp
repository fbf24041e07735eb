// Which config file a server or client reads, and where it says the balancer's ports are.
#include "control/peer_config.h"

#include <filesystem>
#include <system_error>

namespace shortline {
namespace {

NetAddress reachable(const NetAddress& address) {
  const std::string port = std::to_string(address.port());
  const std::string text = address.to_string();
  if (text.starts_with("0.0.0.0:")) return *NetAddress::parse("127.0.0.1:" + port);
  if (text.starts_with("[::]:")) return *NetAddress::parse("[::1]:" + port);
  return address;
}

}  // namespace

PeerConfig load_peer_config(const std::string& explicit_path, bool wanted) {
  PeerConfig peer;
  std::error_code ec;
  if (explicit_path.empty() && !(wanted && std::filesystem::exists(kPeerConfigDefaultPath, ec)))
    return peer;
  peer.path = explicit_path.empty() ? kPeerConfigDefaultPath : explicit_path;
  ConfigResult loaded = load_config_file(peer.path);
  peer.config = std::move(loaded.config);
  // The loader names the key but not the file, except when it cannot read it.
  const bool names_file = loaded.error.find(peer.path) != std::string::npos;
  if (!loaded.error.empty())
    peer.error = names_file ? std::move(loaded.error) : peer.path + ": " + loaded.error;
  return peer;
}

NetAddress config_control_address(const Config& config) {
  NetAddress address = config.load_balancer.dataplane.listen;
  address.set_port(config.load_balancer.server_side_port);
  return reachable(address);
}

NetAddress config_client_target(const Config& config) {
  NetAddress address = config.load_balancer.dataplane.listen;
  address.set_port(config.load_balancer.client_side_port);
  return reachable(address);
}

}  // namespace shortline
