// The summary the controller prints when it stops: what the pool did, the scale requests,
// and in the demo the clients' figures.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "control/controller/controller.h"
#include "control/controller/demo_report.h"

namespace shortline::controller {
namespace {

constexpr std::size_t kSummarySparklineWidth = 120;

std::string rejected_text(const ListenerCounters& counters) {
  std::string text;
  for (std::size_t i = 1; i < wire::kWireErrorCount; ++i) {
    if (counters.rejected[i] == 0) continue;
    text.append(" ").append(wire::name(static_cast<wire::WireError>(i)));
    text.append(" ").append(std::to_string(counters.rejected[i]));
  }
  if (counters.source_not_allowed != 0)
    text.append(" source_not_allowed ").append(std::to_string(counters.source_not_allowed));
  if (counters.not_scale_request != 0)
    text.append(" not_scale_request ").append(std::to_string(counters.not_scale_request));
  return text.empty() ? " none" : text;
}

std::string file_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  if (file) text << file.rdbuf();
  return text.str();
}

}  // namespace

void Controller::print_summary(int64_t now_ms) const {
  const auto& stats = pool_.stats();
  const auto& counters = listener_->counters();
  std::string text("\nshortline-controller: summary after ");
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.1f s", elapsed_s(now_ms));
  text.append(seconds).append("\n");
  text.append("  servers: started ").append(std::to_string(stats.started));
  text.append(", added ").append(std::to_string(stats.added));
  if (stats.coalesced != 0)
    text.append(" (+").append(std::to_string(stats.coalesced)).append(" ADDs shared a server)");
  text.append(", removed ").append(std::to_string(stats.removed));
  text.append(", crashed ").append(std::to_string(stats.crashed));
  text.append(", restarted ").append(std::to_string(stats.restarted));
  text.append(", refused at min/max ").append(std::to_string(stats.at_limit));
  text.append(", failed to start ").append(std::to_string(stats.failed));
  text.append("; peak ").append(std::to_string(stats.peak)).append(" at once\n");
  uint32_t top = 1;
  for (const auto count : server_count_history_) top = std::max(top, count);
  text.append("  server count, one column a second: |");
  text.append(sparkline(server_count_history_, top, kSummarySparklineWidth)).append("|\n");
  text.append("  scale requests: executed ").append(std::to_string(counters.executed));
  text.append(", retries answered again ").append(std::to_string(counters.retries_answered));
  text.append(", rejected:").append(rejected_text(counters)).append("\n");
  text.append("  balancer restarts: ").append(std::to_string(balancer_restarts_)).append("\n");
  if (options_.demo) {
    std::vector<ClientResult> results;
    uint32_t started = 0;
    for (const auto& client : clients_) {
      if (!client.started) continue;
      ++started;
      if (auto result = parse_client_output(file_text(client.output_path)))
        results.push_back(std::move(*result));
    }
    text.append("  ").append(format_client_totals(results, started));
  }
  text.append("  logs: ").append(log_.path()).append(" and ").append(options_.log_dir);
  text.append("/{balancer,servers,clients}/\n");
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  log_.write("stopped");  // the summary's last line in the log
}

}  // namespace shortline::controller
