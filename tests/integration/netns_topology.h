// Network namespaces for ecmp_netns_test, built with iproute2 and removed on every exit
// path (RAII): a client, a router, N balancers and a server namespace joined by veth pairs
// through the router, which holds a static multipath (ECMP, L4 hash) route to the service
// address that every balancer carries on its lo (or none, for a routing daemon to add).
// Addresses are test-only (10.200.0.0/16, 198.18.0.0/15); namespace names carry the test's
// pid so parallel runs cannot collide.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
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

class NetnsTopology {
 public:
  static constexpr const char* kServiceAddress = "198.18.100.1";
  static constexpr const char* kServerAddress = "10.200.9.2";
  static constexpr const char* kNetwork = "10.200.0.0/16";

  // Builds everything; error() says what failed (and the namespaces made so far go away).
  // static_route false: no route to the service address until a routing daemon adds one.
  explicit NetnsTopology(int balancers, bool static_route = true)
      : ip_(ip_binary()), balancers_(balancers), static_route_(static_route) {
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
  [[nodiscard]] const std::string& client() const { return client_; }
  [[nodiscard]] const std::string& server() const { return server_; }
  [[nodiscard]] const std::string& router() const { return router_; }
  [[nodiscard]] std::string balancer(int index) const {
    return prefix_ + "b" + std::to_string(index);
  }
  // Balancer i's own (unicast) address, where servers send it their reports.
  [[nodiscard]] static std::string balancer_address(int index) {
    return "10.200." + std::to_string(index + 1) + ".2";
  }
  // The router's address on balancer i's link (its next hop's peer).
  [[nodiscard]] static std::string router_address(int index) {
    return "10.200." + std::to_string(index + 1) + ".1";
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
      if (shown.find("via " + balancer_address(i) + " ") != std::string::npos)
        through.push_back(i);
    return through;
  }
  // The router's route to the service address as `ip route show` prints it.
  [[nodiscard]] std::string service_route() const {
    return run_command({ip_, "-n", router_, "route", "show",
                        std::string(kServiceAddress) + "/32"}).output;
  }

  // The router's route to the service address through the balancers in `through`, as a
  // routing daemon would leave it after withdrawing the others. Empty on success.
  [[nodiscard]] std::string route_through(const std::vector<int>& through) const {
    std::vector<std::string> argv = {ip_,  "-n",    router_, "route", "replace",
                                     std::string(kServiceAddress) + "/32"};
    for (const int index : through)
      argv.insert(argv.end(), {"nexthop", "via", balancer_address(index)});
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
    if (!(error_ = link(client_, "10.200.0.1", "c0", "10.200.0.2")).empty()) return;
    if (!(error_ = link(server_, kServerAddress, "s0", "10.200.9.1")).empty()) return;
    std::vector<int> all;
    for (int i = 0; i < balancers_; ++i) {
      if (!(error_ = link(balancer(i), balancer_address(i), "b" + std::to_string(i),
                          router_address(i))).empty())
        return;
      error_ = check({ip_, "-n", balancer(i), "address", "add",
                      std::string(kServiceAddress) + "/32", "dev", "lo"});
      if (!error_.empty()) return;
      all.push_back(i);
    }
    if (static_route_) error_ = route_through(all);
  }

  // Forwarding on; ECMP hashed on the 4-tuple (policy 1: L4), so that a client's flows
  // spread over the balancers and each flow keeps its path; no reverse-path filter, since
  // replies from the service address come back on whichever balancer link.
  std::string configure_router() const {
    return check(in(router_, {"sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                              "net.ipv4.fib_multipath_hash_policy=1",
                              "net.ipv4.conf.all.rp_filter=0",
                              "net.ipv4.conf.default.rp_filter=0"}));
  }

  // A veth pair between ns (its end eth0 at address/24, default route via the router) and
  // the router (its end router_dev at router_address/24).
  std::string link(const std::string& ns, const std::string& address,
                   const std::string& router_dev, const std::string& router_address) const {
    const std::vector<std::vector<std::string>> steps = {
        {ip_, "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", router_dev,
         "netns", router_},
        {ip_, "-n", ns, "address", "add", address + "/24", "dev", "eth0"},
        {ip_, "-n", ns, "link", "set", "eth0", "up"},
        {ip_, "-n", router_, "address", "add", router_address + "/24", "dev", router_dev},
        {ip_, "-n", router_, "link", "set", router_dev, "up"},
        {ip_, "-n", ns, "route", "add", "default", "via", router_address},
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
  std::string prefix_ = "slecmp" + std::to_string(getpid());
  std::string client_, router_, server_;
  std::vector<std::string> created_;  // deleted in reverse order by the destructor
  std::string error_;
};

}  // namespace shortline::testing
