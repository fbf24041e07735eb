// Network namespaces for ecmp_netns_test, built with iproute2 and removed on every exit
// path (RAII): a client, a router, N balancers and a server namespace joined by veth pairs
// through the router, which holds a static multipath (ECMP, L4 hash) route to the service
// address that every balancer carries on its lo (or none, for a routing daemon to add), in
// IPv4 or IPv6. Addresses are test-only (IPv4: 10.200.0.0/16 and 198.18.0.0/15; IPv6: the
// unique-local fd00:200::/32 and the documentation prefix 2001:db8::/32); namespace names
// carry the test's pid so parallel runs cannot collide.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "child_process.h"

namespace shortline::testing {

struct CommandResult {
  int exit_status = -1;  // -1: it did not exit in time, or died of a signal
  std::string output;
};

// Runs argv to its end (bounded by timeout); its exit status and what it printed.
inline CommandResult run_command(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  ChildProcess child(argv);
  CommandResult result;
  result.exit_status = child.wait_exit(timeout);
  result.output = child.output();
  return result;
}

// iproute2's ip (Debian puts it in /usr/sbin, older systems in /sbin); empty when absent.
inline std::string ip_binary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (access(path, X_OK) == 0) return path;
  return "";
}

enum class IpFamily { v4, v6 };

// How GoogleTest names a test's family (its parameter).
inline void PrintTo(IpFamily family, std::ostream* out) {
  *out << (family == IpFamily::v6 ? "IPv6" : "IPv4");
}

// The test network's addresses in one family. Link k (0: the client's, 9: the server's,
// i + 1: balancer i's) is 10.200.k.0/24 or fd00:200:k::/64, the router holding .1 / ::1.
class NetnsAddresses {
 public:
  explicit NetnsAddresses(IpFamily family) : family_(family) {}
  [[nodiscard]] IpFamily family() const { return family_; }
  [[nodiscard]] bool v6() const { return family_ == IpFamily::v6; }
  // Held by every balancer on its lo; the router's ECMP route leads to it.
  [[nodiscard]] std::string service() const { return v6() ? "2001:db8:100::1" : "198.18.100.1"; }
  [[nodiscard]] std::string service_prefix() const { return service() + (v6() ? "/128" : "/32"); }
  [[nodiscard]] std::string network() const { return v6() ? "fd00:200::/32" : "10.200.0.0/16"; }
  [[nodiscard]] std::string server() const { return host_on(9, 2); }
  [[nodiscard]] std::string client() const { return host_on(0, 2); }
  [[nodiscard]] std::string router_on_client_link() const { return host_on(0, 1); }
  [[nodiscard]] std::string router_on_server_link() const { return host_on(9, 1); }
  // Balancer i's own (unicast) address, where servers send it their reports.
  [[nodiscard]] std::string balancer(int index) const { return host_on(index + 1, 2); }
  // The router's address on balancer i's link (its next hop's peer).
  [[nodiscard]] std::string router(int index) const { return host_on(index + 1, 1); }
  [[nodiscard]] std::string link_prefix_length() const { return v6() ? "/64" : "/24"; }
  // "address:port", bracketed for IPv6.
  [[nodiscard]] std::string with_port(const std::string& address, int port) const {
    return (v6() ? "[" + address + "]" : address) + ":" + std::to_string(port);
  }
  // The wildcard address of this family, with a port.
  [[nodiscard]] std::string any(int port) const { return with_port(v6() ? "::" : "0.0.0.0", port); }

 private:
  [[nodiscard]] std::string host_on(int link, int host) const {
    return v6() ? "fd00:200:" + std::to_string(link) + "::" + std::to_string(host)
                : "10.200." + std::to_string(link) + "." + std::to_string(host);
  }
  IpFamily family_;
};

class NetnsTopology {
 public:
  // Builds everything; error() says what failed (and the namespaces made so far go away).
  // static_route false: no route to the service address until a routing daemon adds one.
  explicit NetnsTopology(int balancers, bool static_route = true,
                         IpFamily family = IpFamily::v4)
      : ip_(ip_binary()), balancers_(balancers), static_route_(static_route),
        addresses_(family) {
    client_ = prefix_ + "c";
    router_ = prefix_ + "r";
    server_ = prefix_ + "s";
    if (ip_.empty()) {
      error_ = "iproute2's ip not found (tools/setup.sh installs iproute2)";
      return;
    }
    remove_stale();
    build();
  }
  ~NetnsTopology() {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it)
      run_command({ip_, "netns", "delete", *it});
  }
  NetnsTopology(const NetnsTopology&) = delete;
  NetnsTopology& operator=(const NetnsTopology&) = delete;

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const NetnsAddresses& addresses() const { return addresses_; }
  [[nodiscard]] const std::string& client() const { return client_; }
  [[nodiscard]] const std::string& server() const { return server_; }
  [[nodiscard]] const std::string& router() const { return router_; }
  [[nodiscard]] std::string balancer(int index) const {
    return prefix_ + "b" + std::to_string(index);
  }
  // argv run inside namespace ns (ip netns exec: the program itself becomes the child).
  [[nodiscard]] std::vector<std::string> in(const std::string& ns,
                                            const std::vector<std::string>& argv) const {
    std::vector<std::string> full = {ip_, "netns", "exec", ns};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }

  // The balancers the router's route to the service address goes through now, in the
  // order `ip route` lists its next hops (empty: no route).
  [[nodiscard]] std::vector<int> route_next_hops() const {
    const std::string shown = service_route();
    std::vector<int> through;
    for (int i = 0; i < balancers_; ++i)
      if (shown.find("via " + addresses_.balancer(i) + " ") != std::string::npos)
        through.push_back(i);
    return through;
  }
  // The router's route to the service address as `ip route show` prints it.
  [[nodiscard]] std::string service_route() const {
    return run_command({ip_, family_flag(), "-n", router_, "route", "show",
                        addresses_.service_prefix()}).output;
  }

  // The router's route to the service address through the balancers in `through`, as a
  // routing daemon would leave it after withdrawing the others. Empty on success.
  [[nodiscard]] std::string route_through(const std::vector<int>& through) const {
    std::vector<std::string> argv = {ip_,     family_flag(), "-n",
                                     router_, "route",       "replace",
                                     addresses_.service_prefix()};
    for (const int index : through)
      argv.insert(argv.end(), {"nexthop", "via", addresses_.balancer(index)});
    return check(argv);
  }

 private:
  // Namespaces of an earlier run whose process is gone (killed by a timeout before its
  // destructors ran): nothing else removes them, and a reused pid would collide.
  void remove_stale() const {
    DIR* names = opendir("/run/netns");
    if (names == nullptr) return;
    std::vector<std::string> stale;
    const std::string mark = "slecmp";
    while (const dirent* entry = readdir(names)) {
      const std::string name = entry->d_name;
      if (name.rfind(mark, 0) != 0) continue;
      const auto end = name.find_first_not_of("0123456789", mark.size());
      if (end == std::string::npos || end == mark.size()) continue;  // not "slecmp<pid><role>"
      const std::string digits = name.substr(mark.size(), end - mark.size());
      const auto pid = static_cast<pid_t>(std::stol(digits));
      if (pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH)) stale.push_back(name);
    }
    closedir(names);
    for (const auto& name : stale) run_command({ip_, "netns", "delete", name});
  }

  void build() {
    std::vector<std::string> namespaces = {client_, router_, server_};
    for (int i = 0; i < balancers_; ++i) namespaces.push_back(balancer(i));
    for (const auto& ns : namespaces) {
      if (!(error_ = check({ip_, "netns", "add", ns})).empty()) {
        error_ = "ip netns add failed (the test needs root and iproute2): " + error_;
        return;
      }
      created_.push_back(ns);
      if (!(error_ = check({ip_, "-n", ns, "link", "set", "lo", "up"})).empty()) return;
    }
    if (!(error_ = configure_router()).empty()) return;
    const NetnsAddresses& a = addresses_;
    if (!(error_ = link(client_, a.client(), "c0", a.router_on_client_link())).empty()) return;
    if (!(error_ = link(server_, a.server(), "s0", a.router_on_server_link())).empty()) return;
    std::vector<int> all;
    for (int i = 0; i < balancers_; ++i) {
      if (!(error_ = link(balancer(i), a.balancer(i), "b" + std::to_string(i), a.router(i)))
               .empty())
        return;
      error_ = check(with_nodad({ip_, "-n", balancer(i), "address", "add", a.service_prefix(),
                                 "dev", "lo"}));
      if (!error_.empty()) return;
      all.push_back(i);
    }
    if (static_route_) error_ = route_through(all);
  }

  // Forwarding on; ECMP hashed on the 4-tuple (policy 1: L4), so that a client's flows
  // spread over the balancers and each flow keeps its path; no reverse-path filter, since
  // replies from the service address come back on whichever balancer link.
  // (IPv6 has no reverse-path filter.)
  std::string configure_router() const {
    if (addresses_.v6())
      return check(in(router_, {"sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1",
                                "net.ipv6.fib_multipath_hash_policy=1"}));
    return check(in(router_, {"sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                              "net.ipv4.fib_multipath_hash_policy=1",
                              "net.ipv4.conf.all.rp_filter=0",
                              "net.ipv4.conf.default.rp_filter=0"}));
  }

  // "-4" or "-6": the family of a route to show or replace.
  [[nodiscard]] const char* family_flag() const { return addresses_.v6() ? "-6" : "-4"; }

  // An IPv6 address is usable at once only without duplicate address detection (else it
  // stays "tentative" for a second or two, and binds and sends from it fail).
  [[nodiscard]] std::vector<std::string> with_nodad(std::vector<std::string> argv) const {
    if (addresses_.v6()) argv.emplace_back("nodad");
    return argv;
  }

  // A veth pair between ns (its end eth0 at address/24 or /64, default route via the
  // router) and the router (its end router_dev at router_address on the same link).
  std::string link(const std::string& ns, const std::string& address,
                   const std::string& router_dev, const std::string& router_address) const {
    const std::string prefix = addresses_.link_prefix_length();
    const std::vector<std::vector<std::string>> steps = {
        {ip_, "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", router_dev,
         "netns", router_},
        with_nodad({ip_, "-n", ns, "address", "add", address + prefix, "dev", "eth0"}),
        {ip_, "-n", ns, "link", "set", "eth0", "up"},
        with_nodad({ip_, "-n", router_, "address", "add", router_address + prefix, "dev",
                    router_dev}),
        {ip_, "-n", router_, "link", "set", router_dev, "up"},
        {ip_, family_flag(), "-n", ns, "route", "add", "default", "via", router_address},
    };
    for (const auto& step : steps)
      if (auto failed = check(step); !failed.empty()) return failed;
    return "";
  }

  // Empty when argv exits 0; otherwise the command and what it said.
  static std::string check(const std::vector<std::string>& argv) {
    const CommandResult result = run_command(argv);
    if (result.exit_status == 0) return "";
    std::string command;
    for (const auto& word : argv) command.append(command.empty() ? "" : " ").append(word);
    return "'" + command + "' exited " + std::to_string(result.exit_status) + ": " +
           result.output;
  }

  std::string ip_;
  int balancers_ = 0;
  bool static_route_ = true;
  NetnsAddresses addresses_;
  std::string prefix_ = "slecmp" + std::to_string(getpid());
  std::string client_, router_, server_;
  std::vector<std::string> created_;  // deleted in reverse order by the destructor
  std::string error_;
};

}  // namespace shortline::testing
