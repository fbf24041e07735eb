// shortline-lb: parses the command line and config, checks the kernel, runs the data plane
// until SIGINT/SIGTERM, drains, prints the counters and exits 0.
#include <signal.h>

#include <cstdio>
#include <string>

#include "control/lb_cli.h"
#include "dataplane/balancer.h"
#include "dataplane/kernel_probe.h"

namespace {

using shortline::Balancer;
using shortline::kCounterInfo;

// Blocks the stop signals in this thread and, by inheritance, in every worker, so that
// only the main thread's sigtimedwait() sees them.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

void wait_for_stop_signal(const sigset_t& signals, Balancer& balancer) {
  const timespec one_second{1, 0};
  for (;;) {
    const int signal = sigtimedwait(&signals, nullptr, &one_second);
    if (signal == SIGINT || signal == SIGTERM) return;
    balancer.servers().reclaim();  // frees pool snapshots no worker can still hold
  }
}

void print_counters(Balancer& balancer) {
  const auto totals = balancer.totals();
  std::printf("shortline-lb: counters\n");
  for (std::size_t c = 0; c < kCounterInfo.size(); ++c)
    std::printf("  %-28s %llu\n", std::string(kCounterInfo[c].name).c_str(),
                static_cast<unsigned long long>(totals.values[c]));
  std::printf("  %-28s %llu\n", "drops_total", static_cast<unsigned long long>(totals.drops()));
  std::printf("shortline-lb: servers\n");
  for (const auto& member : balancer.servers().members()) {
    const auto& slot = balancer.servers().slot(member.slot);
    std::printf("  %-24s requests %llu replies %llu timeouts %llu in_flight %lld errors %u\n",
                member.address.to_string().c_str(),
                static_cast<unsigned long long>(slot.requests_total.load()),
                static_cast<unsigned long long>(slot.replies_total.load()),
                static_cast<unsigned long long>(slot.timeouts_total.load()),
                static_cast<long long>(slot.in_flight.load()), slot.passive_errors.load());
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = shortline::parse_lb_command_line(argc, argv);
  if (!parsed.command_line) {
    std::fprintf(stderr, "shortline-lb: %s\n(see shortline-lb --help)\n", parsed.error.c_str());
    return shortline::kConfigErrorExitStatus;
  }
  if (parsed.command_line->show_help) {
    std::printf("%s", shortline::lb_help_text().c_str());
    return 0;
  }
  if (parsed.command_line->show_version) {
    std::printf("shortline-lb %s\n", SHORTLINE_VERSION);
    return 0;
  }
  if (const auto missing = shortline::probe_kernel_features(); !missing.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot run: %s\n", missing.c_str());
    return 1;
  }
  const sigset_t signals = block_stop_signals();
  Balancer balancer(parsed.command_line->config.load_balancer.dataplane);
  if (const auto error = balancer.start(); !error.empty()) {
    std::fprintf(stderr, "shortline-lb: cannot start: %s\n", error.c_str());
    return 1;
  }
  const auto& dp = balancer.config();
  std::printf("shortline-lb: listening on %s (workers %u, policy %s, affinity %s, servers %zu)\n",
              balancer.listen_address().to_string().c_str(), dp.workers,
              std::string(shortline::policy_name(dp.policy)).c_str(),
              std::string(shortline::affinity_name(dp.affinity)).c_str(), dp.backends.size());
  std::fflush(stdout);
  wait_for_stop_signal(signals, balancer);
  std::printf("shortline-lb: stopping: draining replies (up to %u ms)\n", dp.drain_timeout_ms);
  std::fflush(stdout);
  balancer.stop_receiving();
  balancer.join();
  print_counters(balancer);
  return 0;
}
