// shortline-client: load generator and test client. Thin: parse flags, open the log, run,
// print the summary.
#include <cstdio>
#include <string>

#include "tools/client/client_options.h"
#include "tools/client/client_report.h"
#include "tools/client/load_runner.h"
#include "control/common/event_log_file.h"

int main(int argc, char** argv) {
  using namespace shortline::tools;
  using shortline::EventLog;
  ClientOptions options;
  std::string error;
  if (!parse_client_options(argc, argv, options, error)) {
    std::fprintf(stderr, "shortline-client: %s\n", error.c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(client_usage(), stdout);
    return 0;
  }
  for (const auto& choice : options.config_choices)
    std::printf("shortline-client: %s\n", choice.c_str());
  const std::string id_text = std::to_string(options.client_id);
  EventLog log;
  log.set_source(std::string("client ").append(id_text));
  const std::string folder =
      options.log_dir + "/" + std::string(shortline::kClientsLogFolder);
  if (!log.open(folder, std::string("client-").append(id_text).append(".log"), error)) {
    std::fprintf(stderr, "shortline-client: %s\n", error.c_str());
    return 1;
  }
  for (const auto& choice : options.config_choices) log.write(choice);
  LoadRunner runner(options, log);
  if (!runner.open(error)) {
    log.write(std::string("failed to start: ").append(error));
    std::fprintf(stderr, "shortline-client: %s\n", error.c_str());
    return 1;
  }
  log.write(std::string("started against ").append(options.target.to_string()));
  runner.run();
  log.write(format_summary_line(runner.summary()));
  const std::string out = options.json ? format_summary_json(options, runner.summary()) + "\n"
                                       : format_summary_text(options, runner.summary());
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  return 0;
}
