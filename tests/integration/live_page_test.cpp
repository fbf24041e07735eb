// The live page in headless Chromium against a running shortline-lb: three static echo
// backends take a few seconds of bounded traffic, then a browser opened afterwards must show
// that past (the history), every server in the table and the load chart's legend, and the
// charts with their axes and values. A screenshot is kept as a build artefact
// (<build>/artifacts/live_page.png). Chromium is in tools/setup.sh: a missing one fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "speed_health_test_support.h"
#include "udp_test_support.h"

namespace shortline::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kChromiumRunMax = seconds(90);  // a bound on a loaded 2-core host, not a speed
constexpr const char* kVirtualTimeBudgetMs = "6000";  // page time: about six polls

std::string find_chromium() {
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (access(path, X_OK) == 0) return path;
  return "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// One headless Chromium run in its own process group with a fresh profile; stdout goes to
// `out_path`. Without a display it can hang, so the whole group is killed at the deadline,
// and also after a normal exit (helpers it forked must not outlive the test). Returns
// "" or what went wrong (with its stderr).
std::string run_chromium(const std::string& chromium, std::vector<std::string> flags,
                         const std::string& url, const std::string& out_path) {
  const std::string profile = ::testing::TempDir() + "/shortline_live_page_profile_" +
                              std::to_string(getpid()) + "_" + std::to_string(std::rand());
  const std::string err_path = out_path + ".stderr";
  std::vector<std::string> argv = {chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                   "--disable-dev-shm-usage", "--no-first-run",
                                   "--user-data-dir=" + profile};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back(url);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // Opened before the fork: the test has threads, so the child calls only what is safe.
  const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) return "cannot write " + out_path;
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  if (pid < 0) return "fork failed";
  setpgid(pid, pid);  // also here: whichever runs first, the group exists before a kill
  const auto deadline = std::chrono::steady_clock::now() + kChromiumRunMax;
  int status = 0;
  bool exited = false;
  while (!exited && std::chrono::steady_clock::now() < deadline) {
    exited = waitpid(pid, &status, WNOHANG) == pid;
    if (!exited) std::this_thread::sleep_for(milliseconds(50));  // polling a bounded wait
  }
  kill(-pid, SIGKILL);
  if (!exited) waitpid(pid, &status, 0);
  std::error_code ignored;
  std::filesystem::remove_all(profile, ignored);
  if (!exited) return "chromium did not finish within the bound; stderr:\n" + read_file(err_path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return "chromium failed (status " + std::to_string(status) + "); stderr:\n" +
           read_file(err_path);
  return "";
}

// The markup of <svg id="ID" ...>...</svg> in a dumped DOM, or "".
std::string svg_of(const std::string& dom, const std::string& id) {
  const auto start = dom.find("<svg id=\"" + id + "\"");
  if (start == std::string::npos) return "";
  const auto end = dom.find("</svg>", start);
  return end == std::string::npos ? "" : dom.substr(start, end - start);
}

int attribute_int(const std::string& markup, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(markup, match, std::regex(name + "=\"([0-9]+)\""))) return -1;
  return std::stoi(match[1].str());
}

// The numbers of the y axis ("tick" texts that parse whole as numbers; the time ticks have
// colons and are skipped).
std::vector<double> y_ticks(const std::string& svg) {
  std::vector<double> ticks;
  const std::regex tick("class=\"tick\">([0-9.]+)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tick); it != std::sregex_iterator();
       ++it)
    ticks.push_back(std::stod((*it)[1].str()));
  return ticks;
}

int time_ticks(const std::string& svg) {
  const std::regex tick("class=\"tick\">[0-9]{2}:[0-9]{2}:[0-9]{2}</text>");
  return static_cast<int>(std::distance(std::sregex_iterator(svg.begin(), svg.end(), tick),
                                        std::sregex_iterator()));
}

// Samples in /api/history whose request rate is above zero.
int busy_samples(const NetAddress& admin) {
  const auto history = nlohmann::json::parse(http_get(admin, "/api/history"), nullptr, false);
  if (history.is_discarded() || !history.contains("requests_per_s")) return 0;
  int busy = 0;
  for (const auto& rate : history["requests_per_s"])
    if (rate.is_number() && rate.get<double>() > 0) ++busy;
  return busy;
}

TEST(LivePageTest, ChromiumShowsTheHistoryEveryServerAndTheCharts) {
  const std::string chromium = find_chromium();
  ASSERT_FALSE(chromium.empty())
      << "chromium is not installed: tools/setup.sh installs it (Debian package chromium)";
  EchoServer fast("127.0.0.1"), medium("127.0.0.1"), slow("127.0.0.1");
  ASSERT_TRUE(fast.ok() && medium.ok() && slow.ok());
  medium.set_delay_ms(1);
  slow.set_delay_ms(3);  // a queue builds there: its load line is not flat
  const std::vector<NetAddress> backends = {fast.address(), medium.address(), slow.address()};
  Balancer lb("live_page", "127.0.0.1", R"({"policy": "round-robin"})",
              {"--workers", "1", "--backend", backend_list(backends)});
  ASSERT_EQ(lb.wait_ready(), "");

  // Traffic before the page is opened: the page must show it from the history.
  LoadPlan plan;
  plan.requests_per_s = 300;
  plan.requests_max = 1500;
  plan.run_max = milliseconds(5000);
  plan.stop_when = [&] { return busy_samples(lb.admin()) >= 3; };
  const LoadTally tally = OpenLoad("127.0.0.1", lb.listen(), plan).run();
  EXPECT_GT(tally.answered, 0) << lb.child().output();
  ASSERT_GE(busy_samples(lb.admin()), 2) << "the history has no busy seconds to show";

  const std::string url = "http://" + lb.admin().to_string() + "/";
  const std::string artifacts = std::string(SHORTLINE_BIN_DIR) + "/../artifacts";
  std::filesystem::create_directories(artifacts);
  const std::string dom_path = artifacts + "/live_page_dom.html";
  ASSERT_EQ(run_chromium(chromium,
                         {"--virtual-time-budget=" + std::string(kVirtualTimeBudgetMs),
                          "--dump-dom"},
                         url, dom_path),
            "");
  const std::string dom = read_file(dom_path);
  ASSERT_NE(dom.find("<tbody id=\"rows\">"), std::string::npos) << dom;

  for (const auto& backend : backends) {
    const std::string address = backend.to_string();
    EXPECT_NE(dom.find("<td class=\"l\">" + address + "</td>"), std::string::npos)
        << "server table lacks " << address << "\n" << dom;
    const auto legend = dom.find("<div id=\"legend_load\"");
    EXPECT_NE(dom.find(address, legend), std::string::npos)
        << "load chart legend lacks " << address;
  }
  EXPECT_NE(dom.find("<span id=\"stale\"></span>"), std::string::npos) << "every poll answered";
  for (const char* id : {"chart_rate", "chart_p99", "chart_servers", "chart_load"}) {
    const std::string svg = svg_of(dom, id);
    ASSERT_FALSE(svg.empty()) << id << " missing\n" << dom;
    EXPECT_NE(svg.find("class=\"title\""), std::string::npos) << id;
    EXPECT_NE(svg.find("class=\"now\">now "), std::string::npos) << id << ": newest value";
    EXPECT_GE(y_ticks(svg).size(), 2u) << id << ": y axis values\n" << svg;
    EXPECT_GE(time_ticks(svg), 1) << id << ": time axis\n" << svg;
  }
  // Values, not just axes: the rate chart drew the busy seconds from before the page was
  // opened (its axis reaches past the 0..1 of an idle history), the servers chart 3 of 3.
  const std::string rate = svg_of(dom, "chart_rate");
  EXPECT_GE(attribute_int(rate, "data-samples"), 2) << rate;
  const auto rate_ticks = y_ticks(rate);
  ASSERT_FALSE(rate_ticks.empty());
  EXPECT_GT(rate_ticks.back(), 1.0) << rate;
  const std::string servers = svg_of(dom, "chart_servers");
  EXPECT_GE(attribute_int(servers, "data-samples"), 4) << servers;
  EXPECT_NE(servers.find("class=\"now\">now 3 up"), std::string::npos) << servers;
  EXPECT_GE(attribute_int(svg_of(dom, "chart_load"), "data-samples"), 8)
      << "the total and three servers' lines, two samples or more each";

  const std::string png = artifacts + "/live_page.png";
  std::filesystem::remove(png);
  ASSERT_EQ(run_chromium(chromium,
                         {"--virtual-time-budget=" + std::string(kVirtualTimeBudgetMs),
                          "--window-size=1400,1400", "--hide-scrollbars", "--screenshot=" + png},
                         url, artifacts + "/live_page_screenshot.log"),
            "");
  const std::string image = read_file(png);
  ASSERT_GT(image.size(), 1000u) << png;
  EXPECT_EQ(image.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::printf("live page screenshot: %s\n", std::filesystem::canonical(png).c_str());
  EXPECT_EQ(lb.stop(), 0) << lb.child().output();
}

}  // namespace
}  // namespace shortline::testing
