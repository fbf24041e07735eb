// BIRD 2 in the namespaces of NetnsTopology, as README "Several balancers behind ECMP"
// deploys it: the router learns the service address over BGP from every balancer and
// installs one multipath route; each balancer announces it from a static protocol that a
// check loop enables while `shortline-ctl health` passes and disables otherwise. Timers are
// shortened (connect after 1 s, not 5) so that sessions come up within the test's wait.
// Config files and control sockets live in one folder, removed with the object.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "netns_topology.h"

namespace shortline::testing {

// BIRD's daemon and client (Debian's bird2 puts both in /usr/sbin); empty when absent.
inline std::string bird_binary(const char* name) {
  for (const std::string dir : {"/usr/sbin/", "/sbin/", "/usr/bin/"})
    if (access((dir + name).c_str(), X_OK) == 0) return dir + name;
  return "";
}

class BirdRouting {
 public:
  static constexpr int kRouterAs = 65000;
  static constexpr int kBalancerAs = 65010;
  // Events, not debug traces: the output pipe is read only when a test fails.
  static constexpr const char* kLog =
      "log stderr { info, remote, warning, error, auth, fatal, bug };\n";

  // Nothing runs until start(); dir is a fresh folder for configs and sockets.
  BirdRouting(const NetnsTopology& topology, int balancers, std::string dir)
      : topology_(topology), balancers_(balancers), dir_(std::move(dir)),
        bird_(bird_binary("bird")), birdc_(bird_binary("birdc")) {}
  ~BirdRouting() {
    checks_.clear();  // the loops before the daemons they drive
    daemons_.clear();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  BirdRouting(const BirdRouting&) = delete;
  BirdRouting& operator=(const BirdRouting&) = delete;

  // The router's BIRD, then each balancer's with its check loop against the admin
  // endpoint at `admin` (inside that balancer's namespace). Empty on success.
  [[nodiscard]] std::string start(const std::string& ctl, const std::string& admin) {
    if (bird_.empty() || birdc_.empty())
      return "bird/birdc not found (tools/setup.sh installs bird2)";
    std::filesystem::create_directories(dir_);
    if (auto failed = start_daemon(topology_.router(), "router", router_config()); !failed.empty())
      return failed;
    for (int b = 0; b < balancers_; ++b) {
      const std::string name = "balancer" + std::to_string(b);
      if (auto failed = start_daemon(topology_.balancer(b), name, balancer_config(b));
          !failed.empty())
        return failed;
      checks_.push_back(std::make_unique<ChildProcess>(
          topology_.in(topology_.balancer(b), {"/bin/sh", "-c", check_loop(ctl, admin, name)})));
    }
    return "";
  }

  // What the router's BIRD said so far, for a failure message.
  [[nodiscard]] std::string router_log() const {
    return daemons_.empty() ? std::string() : daemons_.front()->output();
  }

 private:
  [[nodiscard]] std::string socket_of(const std::string& name) const {
    return dir_ + "/" + name + ".ctl";
  }

  std::string start_daemon(const std::string& ns, const std::string& name,
                           const std::string& config) {
    const std::string path = dir_ + "/" + name + ".conf";
    std::ofstream(path) << config;
    daemons_.push_back(std::make_unique<ChildProcess>(
        topology_.in(ns, {bird_, "-f", "-c", path, "-s", socket_of(name)})));
    // Up once its control socket answers.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (run_command(topology_.in(ns, {birdc_, "-s", socket_of(name), "show", "status"}))
              .exit_status == 0)
        return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "bird in " + ns + " did not start: " + daemons_.back()->output();
  }

  // The README's check loop, every 0.2 s instead of 1 s and with this test's sockets.
  [[nodiscard]] std::string check_loop(const std::string& ctl, const std::string& admin,
                                       const std::string& name) const {
    const std::string birdc = birdc_ + " -s " + socket_of(name);
    return "while :; do if " + ctl + " --admin " + admin + " health >/dev/null 2>&1; then " +
           birdc + " enable shortline_service >/dev/null; else " + birdc +
           " disable shortline_service >/dev/null; fi; sleep 0.2; done";
  }

  static std::string timers() {
    return "  hold time 3;\n  connect delay time 1;\n  connect retry time 2;\n"
           "  error wait time 1, 4;\n";
  }

  // "ipv4" or "ipv6": the channel of the topology's family.
  [[nodiscard]] std::string channel() const {
    return topology_.addresses().v6() ? "ipv6" : "ipv4";
  }

  [[nodiscard]] std::string router_config() const {
    const NetnsAddresses& a = topology_.addresses();
    std::string c = std::string(kLog) + "router id 10.200.0.2;\nprotocol device {}\n" +
                    "protocol kernel {\n  " + channel() +
                    " { export where source = RTS_BGP; };\n  merge paths yes;\n}\n";
    for (int b = 0; b < balancers_; ++b) {
      c += "protocol bgp lb" + std::to_string(b) + " {\n  local " + a.router(b) + " as " +
           std::to_string(kRouterAs) + ";\n  neighbor " + a.balancer(b) + " as " +
           std::to_string(kBalancerAs) + ";\n" + timers() + "  " + channel() +
           " { import where net = " + a.service_prefix() + "; export none; };\n}\n";
    }
    return c;
  }

  // The router id is a 32-bit number in either family: 10.200.<b + 1>.2, as in IPv4.
  [[nodiscard]] std::string balancer_config(int b) const {
    const NetnsAddresses& a = topology_.addresses();
    const std::string id = "10.200." + std::to_string(b + 1) + ".2";
    return std::string(kLog) + "router id " + id + ";\nprotocol device {}\n" +
           "protocol static shortline_service {\n  disabled yes;\n  " + channel() +
           ";\n  route " + a.service_prefix() + " via \"lo\";\n}\n" +
           "protocol bgp router1 {\n  local " + a.balancer(b) + " as " +
           std::to_string(kBalancerAs) + ";\n  neighbor " + a.router(b) + " as " +
           std::to_string(kRouterAs) + ";\n" + timers() + "  " + channel() +
           " { import none; export where proto = \"shortline_service\"; next hop self; };\n"
           "}\n";
  }

  const NetnsTopology& topology_;
  int balancers_;
  std::string dir_;
  std::string bird_, birdc_;
  std::vector<std::unique_ptr<ChildProcess>> daemons_;  // the router's first
  std::vector<std::unique_ptr<ChildProcess>> checks_;
};

}  // namespace shortline::testing
