// The ramp's picture (--plot FILE.svg|FILE.png): answered rate and p99 against offered rate,
// the knee and the max-throughput row marked, drawn by gnuplot (Debian's gnuplot-nox). The
// script is built here (pure, tested); gnuplot only renders it.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tools/replay/ramp_intervals.h"

namespace shortline::replay {

enum class PlotFormat : uint8_t { kSvg, kPng };

// The format a picture's file name asks for (.svg or .png, any case); nothing otherwise.
[[nodiscard]] std::optional<PlotFormat> plot_format_of(std::string_view path);

struct RampPlot {
  std::string output_path;
  PlotFormat format = PlotFormat::kSvg;
  std::string title;  // one line over both panels
  KneeBounds bounds;
  std::optional<size_t> knee;            // a row index
  std::optional<size_t> max_throughput;  // a row index
};

// A gnuplot script that writes the picture of rows to plot.output_path.
[[nodiscard]] std::string ramp_plot_script(std::span<const IntervalRow> rows,
                                           const RampPlot& plot);

// Whether the picture's folder exists and can be written (checked before a run, like gnuplot);
// false with a message.
[[nodiscard]] bool plot_folder_writable(const std::string& path, std::string& error);

// Whether a gnuplot program is on PATH (checked before a run, so a long ramp does not end
// without its picture).
[[nodiscard]] bool gnuplot_found();

// Runs gnuplot with script on its standard input; false with a message when it cannot be
// started or exits with an error (its own messages go to stderr).
[[nodiscard]] bool run_gnuplot(const std::string& script, std::string& error);

}  // namespace shortline::replay
