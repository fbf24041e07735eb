// `cmake --install` of this build tree into a temporary DESTDIR: the expected files land
// there and nowhere else, the default config loads with its key path, shortline-keygen makes
// a key the balancer reads, and each unit passes `systemd-analyze verify` and scores at most
// 4.0 in `systemd-analyze security --offline=true` (the score is printed).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "child_process.h"
#include "control/config.h"
#include "control/wire/message_auth.h"

namespace shortline {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;

const fs::path kBuildDir = fs::path(SHORTLINE_BIN_DIR).parent_path();
constexpr const char* kSystemdAnalyze = "/usr/bin/systemd-analyze";
constexpr double kExposureMax = 4.0;
const std::vector<std::string> kUnits = {"shortline-lb.service", "shortline-controller.service"};

// Installed paths, relative to DESTDIR and the prefix, that must be there (by suffix).
const std::vector<std::string> kExpectedSuffixes = {
    "/bin/shortline-lb",      "/bin/shortline-controller",
    "/bin/shortline-server",  "/bin/shortline-client",
    "/bin/shortline-replay",  "/bin/shortline-keygen", "/bin/shortline-ctl",
    "/shortline/config.json", "/systemd/system/shortline-lb.service",
    "/systemd/system/shortline-controller.service", "/doc/shortline/README.md"};

class InstallTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    destdir_ = fs::path(::testing::TempDir()) / ("shortline_install_" + std::to_string(getpid()));
    fs::remove_all(destdir_);
    ChildProcess install({"/usr/bin/env", "DESTDIR=" + destdir_.string(), SHORTLINE_CMAKE,
                          "--install", kBuildDir.string()});
    install_status_ = install.wait_exit(std::chrono::seconds(120));
    install_output_ = install.output();
  }
  static void TearDownTestSuite() { fs::remove_all(destdir_); }

  void SetUp() override { ASSERT_EQ(install_status_, 0) << install_output_; }

  // Every installed path under DESTDIR, from cmake's own log of this install (the build
  // tree's install_manifest.txt is shared with any other install of the tree).
  static std::vector<std::string> manifest() {
    std::istringstream log(install_output_);
    std::vector<std::string> paths;
    for (std::string line; std::getline(log, line);) {
      for (const std::string_view verb : {"-- Installing: ", "-- Up-to-date: "}) {
        if (line.starts_with(verb)) paths.push_back(line.substr(verb.size()));
      }
    }
    return paths;
  }
  static std::string installed(const std::string& suffix) {
    for (const auto& path : manifest())
      if (path.ends_with(suffix)) return path;
    return {};
  }

  static fs::path destdir_;
  static int install_status_;
  static std::string install_output_;
};
fs::path InstallTest::destdir_;
int InstallTest::install_status_ = -1;
std::string InstallTest::install_output_;

TEST_F(InstallTest, PutsTheExpectedFilesInsideDestdirAndNothingElse) {
  const auto paths = manifest();
  for (const auto& suffix : kExpectedSuffixes)
    EXPECT_FALSE(installed(suffix).empty()) << suffix << " not installed:\n" << install_output_;
  size_t files_in_destdir = 0;
  for (const auto& entry : fs::recursive_directory_iterator(destdir_))
    if (!entry.is_directory()) ++files_in_destdir;
  EXPECT_EQ(files_in_destdir, paths.size()) << "DESTDIR holds exactly the installed files";
  for (const auto& path : paths) {
    EXPECT_TRUE(path.starts_with(destdir_.string() + "/")) << path << " is outside DESTDIR";
    EXPECT_TRUE(fs::exists(path)) << path << " missing";
    // Binaries only the tests and benchmarks use are not installed.
    EXPECT_EQ(path.find("_test"), std::string::npos) << path;
    EXPECT_EQ(path.find("bench"), std::string::npos) << path;
  }
}

TEST_F(InstallTest, DefaultConfigLoadsAndPointsAtTheServiceKey) {
  const auto loaded = load_config_file(installed("/shortline/config.json"));
  ASSERT_TRUE(loaded.config) << loaded.error;
  EXPECT_EQ(loaded.config->load_balancer.auth_key_file, "/var/lib/shortline/auth.key");
  EXPECT_FALSE(loaded.config->load_balancer.allow_unauthenticated_reports);
}

TEST_F(InstallTest, KeygenMakesAnOwnerOnlyKeyOnceThatTheBalancerReads) {
  const std::string key_path = destdir_.string() + "/auth.key";
  ChildProcess keygen({installed("/bin/shortline-keygen"), key_path});
  ASSERT_EQ(keygen.wait_exit(), 0) << keygen.output();
  struct stat info {};
  ASSERT_EQ(stat(key_path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::string error;
  const auto key = wire::AuthKey::load_file(key_path, error);
  ASSERT_TRUE(key) << error;
  ChildProcess again({installed("/bin/shortline-keygen"), key_path});
  ASSERT_EQ(again.wait_exit(), 0) << again.output();
  const auto same = wire::AuthKey::load_file(key_path, error);
  ASSERT_TRUE(same) << error;
  EXPECT_EQ(same->bytes, key->bytes) << "an existing key is kept";
  fs::remove(key_path);
}

// systemd-analyze verify --root resolves the units' dependencies (sysinit.target, ...) and
// commands (/bin/kill in ExecReload) inside the root, so the check runs on a copy of DESTDIR
// with the host's targets and slices and /bin/kill added.
fs::path make_verify_root(const fs::path& destdir) {
  const fs::path root = destdir.string() + "_verify";
  fs::remove_all(root);
  fs::copy(destdir, root, fs::copy_options::recursive);
  const fs::path units = root / "lib/systemd/system";
  fs::create_directories(units);
  for (const auto& entry : fs::directory_iterator("/lib/systemd/system")) {
    const auto ext = entry.path().extension();
    if ((ext == ".target" || ext == ".slice") && fs::is_regular_file(entry.path()) &&
        !fs::exists(units / entry.path().filename()))
      fs::copy_file(entry.path(), units / entry.path().filename());  // follows symlinks
  }
  fs::create_directories(root / "bin");
  fs::copy_file("/bin/kill", root / "bin/kill");
  return root;
}

TEST_F(InstallTest, UnitsPassSystemdAnalyzeVerify) {
  ASSERT_TRUE(fs::exists(kSystemdAnalyze)) << "systemd-analyze is in Debian's systemd package";
  ASSERT_TRUE(fs::exists(destdir_.string() + "/lib/systemd/system/shortline-lb.service"))
      << "this check expects the units in /lib/systemd/system (Debian's systemdsystemunitdir)";
  const fs::path root = make_verify_root(destdir_);
  std::vector<std::string> argv = {kSystemdAnalyze, "verify", "--root=" + root.string()};
  argv.insert(argv.end(), kUnits.begin(), kUnits.end());
  ChildProcess verify(argv);
  EXPECT_EQ(verify.wait_exit(std::chrono::seconds(60)), 0) << verify.output();
  // verify exits 0 on unknown keys and bad values too (it only warns): no output at all.
  EXPECT_EQ(verify.output(), "") << "systemd-analyze verify warned";
  fs::remove_all(root);
}

// "→ Overall exposure level for shortline-lb.service: 1.7 OK 🙂" -> 1.7, or -1.
double exposure_score(const std::string& output) {
  const std::string marker = "Overall exposure level for ";
  const auto at = output.find(marker);
  if (at == std::string::npos) return -1;
  const auto colon = output.find(": ", at);
  return colon == std::string::npos ? -1 : std::stod(output.substr(colon + 2));
}

TEST_F(InstallTest, UnitsScoreAtMostFourInSystemdAnalyzeSecurity) {
  ASSERT_TRUE(fs::exists(kSystemdAnalyze)) << "systemd-analyze is in Debian's systemd package";
  for (const auto& unit : kUnits) {
    const std::string path = installed("/systemd/system/" + unit);
    ASSERT_FALSE(path.empty()) << unit;
    ChildProcess security({kSystemdAnalyze, "security", "--offline=true", "--no-pager", path});
    const int status = security.wait_exit(std::chrono::seconds(60));
    const double score = exposure_score(security.output());
    std::cout << unit << ": systemd-analyze security exposure " << score << "\n";
    RecordProperty(unit + "_exposure", std::to_string(score));
    EXPECT_EQ(status, 0) << security.output();
    EXPECT_GE(score, 0) << security.output();
    EXPECT_LE(score, kExposureMax) << security.output();
  }
}

}  // namespace
}  // namespace shortline
