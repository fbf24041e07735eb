// The client's summary, as text for people and as one JSON object for scripts.
#pragma once

#include <string>

#include "tools/client/client_options.h"
#include "tools/client/load_runner.h"

namespace shortline::tools {

[[nodiscard]] std::string format_summary_text(const ClientOptions& options,
                                              const ClientSummary& summary);
[[nodiscard]] std::string format_summary_json(const ClientOptions& options,
                                              const ClientSummary& summary);
// One line for the event log.
[[nodiscard]] std::string format_summary_line(const ClientSummary& summary);

}  // namespace shortline::tools
