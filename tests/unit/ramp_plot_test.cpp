// The ramp picture's gnuplot script: format by file name, the data rows, the markers, quoting.
#include "tools/replay/ramp_plot.h"

#include <gtest/gtest.h>

#include <vector>

namespace {

using namespace shortline::replay;

IntervalRow row(double offered, double answered, uint64_t p99_ns) {
  IntervalRow r;
  r.offered_pps = offered;
  r.answered_pps = answered;
  r.sent = static_cast<uint64_t>(offered);
  r.answered = static_cast<uint64_t>(answered);
  r.p99_ns = p99_ns;
  return r;
}

TEST(RampPlot, FormatComesFromTheFileName) {
  EXPECT_EQ(plot_format_of("a/ramp.svg"), PlotFormat::kSvg);
  EXPECT_EQ(plot_format_of("RAMP.PNG"), PlotFormat::kPng);
  EXPECT_FALSE(plot_format_of("ramp.pdf").has_value());
  EXPECT_FALSE(plot_format_of("svg").has_value());
  EXPECT_FALSE(plot_format_of("ramp.svgz").has_value());
}

TEST(RampPlot, ScriptHoldsEveryRowAndMarksTheKnee) {
  const std::vector<IntervalRow> rows = {row(1000, 1000, 2'000'000), row(2000, 1500, 40'000'000),
                                         row(3000, 0, 0)};
  RampPlot plot;
  plot.output_path = "/tmp/it's here.svg";
  plot.title = "ramp to 127.0.0.1:53";
  plot.bounds = KneeBounds{0.01, 100};
  plot.knee = 0;
  plot.max_throughput = 0;
  const std::string script = ramp_plot_script(rows, plot);
  EXPECT_NE(script.find("set terminal svg"), std::string::npos) << script;
  EXPECT_NE(script.find("set output '/tmp/it''s here.svg'"), std::string::npos) << script;
  EXPECT_NE(script.find("1000.0 1000.0 2.000000\n2000.0 1500.0 40.000000\n3000.0 0.0 -\nEOD"),
            std::string::npos) << script;
  EXPECT_NE(script.find("knee: 1000 offered"), std::string::npos) << script;
  EXPECT_NE(script.find("max throughput: 1000 answered"), std::string::npos) << script;
  EXPECT_NE(script.find("title 'ramp to 127.0.0.1:53'"), std::string::npos) << script;
  EXPECT_NE(script.find("100.0 with lines"), std::string::npos) << script;  // the p99 bound
  plot.format = PlotFormat::kPng;
  plot.knee.reset();
  plot.max_throughput.reset();
  const std::string png = ramp_plot_script(rows, plot);
  EXPECT_NE(png.find("set terminal pngcairo"), std::string::npos);
  EXPECT_EQ(png.find("set arrow"), std::string::npos) << "no knee, no marker";
}

TEST(RampPlot, AFolderThatCannotBeWrittenIsNamed) {
  std::string error;
  EXPECT_TRUE(plot_folder_writable("ramp.svg", error)) << error;  // the working folder
  EXPECT_TRUE(plot_folder_writable("/tmp/ramp.svg", error)) << error;
  EXPECT_FALSE(plot_folder_writable("/nonexistent-folder/ramp.svg", error));
  EXPECT_NE(error.find("cannot write in /nonexistent-folder/"), std::string::npos) << error;
}

TEST(RampPlot, NothingAnsweredDrawsOnlyTheBound) {
  const std::vector<IntervalRow> rows = {row(1000, 0, 0)};
  const std::string script = ramp_plot_script(rows, RampPlot{});
  EXPECT_EQ(script.find("using 1:3"), std::string::npos) << script;
  EXPECT_NE(script.find("using 1:2"), std::string::npos) << script;
}

}  // namespace
