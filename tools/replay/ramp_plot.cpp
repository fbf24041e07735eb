// The ramp's picture: a gnuplot script from the rows, and gnuplot run on it.
#include "tools/replay/ramp_plot.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "control/common/program_path.h"

extern char** environ;

namespace shortline::replay {
namespace {

// A gnuplot single-quoted string: everything is literal but the quote, written twice.
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\n' || c == '\r') continue;
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string number(double value, int decimals = 1) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string terminal_line(PlotFormat format) {
  // noenhanced: names with underscores stay as written.
  if (format == PlotFormat::kPng)
    return "set terminal pngcairo size 1000,800 noenhanced font 'sans,10' background rgb 'white'\n";
  return "set terminal svg size 1000,800 dynamic noenhanced font 'sans,11' "
         "background rgb 'white'\n";
}

// offered, answered, p99 in ms ("-": nothing answered, so no latency).
std::string data_block(std::span<const IntervalRow> rows) {
  std::string out = "$rows << EOD\n";
  for (const IntervalRow& row : rows) {
    const double p99_ms = static_cast<double>(row.p99_ns) / 1e6;
    const std::string p99 = row.answered == 0 ? "-" : std::to_string(p99_ms);
    out += number(row.offered_pps) + " " + number(row.answered_pps) + " " + p99 + "\n";
  }
  return out + "EOD\n";
}

double x_max(std::span<const IntervalRow> rows) {
  double top = 1.0;
  for (const IntervalRow& row : rows) top = std::max({top, row.offered_pps, row.intended_pps});
  return top * 1.05;
}

struct Marker {
  int tag;
  double x;
  const char* colour;
  std::string label;
  double label_y;  // graph fraction
};

// A dashed vertical line through both panels at a row's rate; its label (top panel only) on
// the side with room.
std::string marker_lines(const Marker& m, double x_top) {
  const std::string at = number(m.x);
  const std::string tag = std::to_string(m.tag);
  const bool left = m.x > 0.6 * x_top;
  return "set arrow " + tag + " from first " + at + ", graph 0 to first " + at +
         ", graph 1 nohead dt 2 lw 1.5 lc rgb '" + m.colour + "'\n" + "set label " + tag + " " +
         quoted(m.label) + " at first " + at + ", graph " + number(m.label_y, 2) +
         (left ? " right offset -0.5,0" : " left offset 0.5,0") + " tc rgb '" + m.colour + "'\n";
}

std::string markers(std::span<const IntervalRow> rows, const RampPlot& plot) {
  const double top = x_max(rows);
  std::string out;
  if (plot.knee) {
    const IntervalRow& row = rows[*plot.knee];
    out += marker_lines({1, row.offered_pps, "#d62728",
                         "knee: " + number(row.offered_pps, 0) + " offered", 0.95}, top);
  }
  if (plot.max_throughput) {
    const IntervalRow& row = rows[*plot.max_throughput];
    out += marker_lines({2, row.offered_pps, "#9467bd",
                         "max throughput: " + number(row.answered_pps, 0) + " answered", 0.87},
                        top);
  }
  return out;
}

bool any_answered(std::span<const IntervalRow> rows) {
  return std::any_of(rows.begin(), rows.end(), [](const IntervalRow& r) { return r.answered; });
}

std::string answered_panel() {
  return "set ylabel 'answered, datagrams/s'\n"
         "set yrange [0:*]\n"
         "plot $rows using 1:2 with linespoints pt 7 ps 0.4 lc rgb '#1f77b4' title 'answered', "
         "x with lines dt 3 lc rgb 'black' title 'answered = offered'\n"
         "unset label\n";
}

std::string latency_panel(std::span<const IntervalRow> rows, const RampPlot& plot) {
  const std::string bound = number(plot.bounds.p99_max_ms);
  std::string out = "set logscale y\nset yrange [*:*]\n"
                    "set ylabel 'p99 latency, ms (log)'\n"
                    "set xlabel 'offered, datagrams/s (per interval)'\n"
                    "plot ";
  // With nothing answered there is no latency to draw, and gnuplot refuses an empty plot.
  if (any_answered(rows))
    out += "$rows using 1:3 with linespoints pt 7 ps 0.4 lc rgb '#ff7f0e' title 'p99', ";
  return out + bound + " with lines dt 3 lc rgb 'black' title 'p99 bound of the knee (" + bound +
         " ms)'\n";
}

}  // namespace

std::optional<PlotFormat> plot_format_of(std::string_view path) {
  const size_t dot = path.rfind('.');
  if (dot == std::string_view::npos || path.size() - dot != 4) return std::nullopt;
  std::string extension(path.substr(dot + 1));
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (extension == "svg") return PlotFormat::kSvg;
  if (extension == "png") return PlotFormat::kPng;
  return std::nullopt;
}

std::string ramp_plot_script(std::span<const IntervalRow> rows, const RampPlot& plot) {
  std::string out = terminal_line(plot.format);
  out += "set output " + quoted(plot.output_path) + "\n";
  out += "set datafile missing '-'\n";
  out += data_block(rows);
  out += "set multiplot layout 2,1 title " + quoted(plot.title) + "\n";
  out += "set grid\nset key top left\nset xrange [0:" + number(x_max(rows)) + "]\n";
  out += markers(rows, plot);
  out += answered_panel();
  out += latency_panel(rows, plot);
  return out + "unset multiplot\nset output\n";
}

bool plot_folder_writable(const std::string& path, std::string& error) {
  const size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  if (access(folder.c_str(), W_OK) == 0) return true;
  error = "--plot " + path + ": cannot write in " + folder + " (" + std::strerror(errno) + ")";
  return false;
}

bool gnuplot_found() { return find_program("gnuplot").has_value(); }

namespace {

// Writes all of text to fd; false when the reader went away (SIGPIPE is ignored meanwhile).
bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool spawn_with_stdin(int read_end, pid_t& pid, std::string& error) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, read_end, STDIN_FILENO);
  char program[] = "gnuplot";
  char* argv[] = {program, nullptr};
  const int rc = posix_spawnp(&pid, program, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) error = std::string("--plot: cannot start gnuplot: ") + std::strerror(rc);
  return rc == 0;
}

}  // namespace

bool run_gnuplot(const std::string& script, std::string& error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    error = std::string("--plot: pipe: ") + std::strerror(errno);
    return false;
  }
  pid_t pid = -1;
  const bool started = spawn_with_stdin(fds[0], pid, error);
  close(fds[0]);
  if (!started) {
    close(fds[1]);
    return false;
  }
  struct sigaction ignore {}, previous {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &previous);
  const bool written = write_all(fds[1], script);
  close(fds[1]);
  sigaction(SIGPIPE, &previous, nullptr);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && written) return true;
  error = "--plot: gnuplot failed (" +
          (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                             : std::string("killed by a signal")) +
          "); its messages are above";
  return false;
}

}  // namespace shortline::replay
