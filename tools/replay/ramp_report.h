// The ramp's part of the summary: its rows (offered, answered, loss, p50/p99 per interval) and
// the knee, as a text table and as JSON members.
#pragma once

#include <string>
#include <vector>

#include "tools/replay/ramp_intervals.h"
#include "tools/replay/replay_options.h"
#include "tools/replay/replay_stats.h"

namespace shortline::replay {

// The rows of a finished ramp run (the ramp's nominal span; the intended rate of each row is
// the ramp's rate at the row's middle).
[[nodiscard]] std::vector<IntervalRow> ramp_rows(const ReplayOptions& options,
                                                 const ReplayResult& result);
[[nodiscard]] std::string ramp_text(const ReplayOptions& options, const ReplayResult& result);
// ",\"intervals\":[...],\"knee\":{...}" to append inside the summary object.
[[nodiscard]] std::string ramp_json(const ReplayOptions& options, const ReplayResult& result);
// The picture of --plot (options.plot_path), drawn by gnuplot; false with a message.
[[nodiscard]] bool write_ramp_plot(const ReplayOptions& options, const ReplayResult& result,
                                   std::string& error);

}  // namespace shortline::replay
