// Holds the data plane's limits table, DataplaneConfig's defaults, the loader's key list,
// README.md's load_balancer key table and the repo's config.json to one another, so that
// none of them can drift from the others.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.h"
#include "dataplane/dataplane_limits.h"

namespace shortline {
namespace {

constexpr std::string_view kTableHeading = "### `load_balancer` — the balancer and its data plane";

struct DocRow {
  std::string default_text;  // without backticks
  std::string allowed;
  std::string meaning;
};

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return std::string(text);
}

std::string without_backticks(std::string_view text) {
  if (text.size() >= 2 && text.front() == '`' && text.back() == '`')
    text = text.substr(1, text.size() - 2);
  return std::string(text);
}

// The cells of a Markdown table row; "\|" is a literal bar inside a cell.
std::vector<std::string> cells_of(std::string_view line) {
  std::vector<std::string> cells;
  std::string cell;
  for (size_t i = 1; i < line.size(); ++i) {  // line[0] is the leading '|'
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cell.push_back('|');
      ++i;
    } else if (line[i] == '|') {
      cells.push_back(trimmed(cell));
      cell.clear();
    } else {
      cell.push_back(line[i]);
    }
  }
  return cells;
}

// The load_balancer key table: key -> its row. Empty when the heading or table is missing.
std::map<std::string, DocRow> readme_rows() {
  const std::string readme = read_file(SHORTLINE_SOURCE_DIR "/README.md");
  std::map<std::string, DocRow> rows;
  const size_t heading = readme.find(kTableHeading);
  if (heading == std::string::npos) return rows;
  std::istringstream lines(readme.substr(heading + kTableHeading.size()));
  std::string line;
  bool in_table = false;
  while (std::getline(lines, line)) {
    if (!line.starts_with("|")) {
      if (in_table) break;  // the first table after the heading ends here
      continue;
    }
    in_table = true;
    const auto cells = cells_of(line);
    if (cells.size() != 4 || !cells[0].starts_with("`")) continue;  // header or rule line
    rows[without_backticks(cells[0])] = {without_backticks(cells[1]), cells[2], cells[3]};
  }
  return rows;
}

// Whether `text` holds `number` as a whole number (not as part of a longer one).
bool holds_number_at(std::string_view text, size_t at, std::string_view number) {
  if (at > 0 && std::isdigit(static_cast<unsigned char>(text[at - 1]))) return false;
  const size_t end = at + number.size();
  return end == text.size() || !std::isdigit(static_cast<unsigned char>(text[end]));
}

bool states_range(std::string_view allowed, uint32_t min, uint32_t max) {
  const std::string range = std::to_string(min) + " to " + std::to_string(max);
  for (size_t at = allowed.find(range); at != std::string_view::npos;
       at = allowed.find(range, at + 1)) {
    if (holds_number_at(allowed, at, std::to_string(min)) &&
        holds_number_at(allowed, at + range.size() - std::to_string(max).size(),
                        std::to_string(max)))
      return true;
  }
  return false;
}

TEST(ConfigKeysDocTest, TableDefaultsAreDataplaneConfigDefaults) {
  const DataplaneConfig defaults;
  for (const DataplaneLimit& limit : kDataplaneLimits)
    EXPECT_EQ(defaults.*limit.field, limit.default_value) << limit.key;
  EXPECT_EQ(validate_limits(defaults), "");
}

TEST(ConfigKeysDocTest, ReadmeTableIsFound) {
  const auto rows = readme_rows();
  EXPECT_GE(rows.size(), std::size(kDataplaneLimits)) << "no load_balancer table after '"
                                                       << kTableHeading << "'";
}

TEST(ConfigKeysDocTest, EveryLimitIsDocumentedWithItsDefaultAndRange) {
  const auto rows = readme_rows();
  for (const DataplaneLimit& limit : kDataplaneLimits) {
    const auto row = rows.find(std::string(limit.key));
    if (row == rows.end()) {
      ADD_FAILURE() << limit.key << " is missing from README.md's load_balancer table";
      continue;
    }
    EXPECT_EQ(row->second.default_text, std::to_string(limit.default_value)) << limit.key;
    EXPECT_TRUE(states_range(row->second.allowed, limit.min, limit.max))
        << limit.key << ": allowed column '" << row->second.allowed << "' does not say "
        << limit.min << " to " << limit.max;
    if (limit.rule == LimitRule::power_of_two) {
      EXPECT_NE(row->second.allowed.find("power of two"), std::string::npos) << limit.key;
    }
    EXPECT_FALSE(row->second.meaning.empty()) << limit.key;
  }
}

TEST(ConfigKeysDocTest, ReadmeDocumentsExactlyTheKeysTheLoaderAccepts) {
  const auto rows = readme_rows();
  std::map<std::string, bool> accepted;
  for (const std::string_view key : load_balancer_keys()) accepted[std::string(key)] = true;
  for (const auto& [key, row] : rows) {
    EXPECT_TRUE(accepted.contains(key)) << key << " is documented but the loader refuses it";
    // The documented default is itself an accepted value.
    std::string text(R"({"load_balancer": {")");
    text.append(key).append(R"(": )").append(row.default_text).append("}}");
    const ConfigResult result = parse_config(text);
    EXPECT_TRUE(result.config.has_value()) << key << ": " << result.error;
  }
  for (const auto& [key, unused] : accepted)
    EXPECT_TRUE(rows.contains(key)) << key << " is accepted but not in README.md's table";
  for (const DataplaneLimit& limit : kDataplaneLimits)
    EXPECT_TRUE(accepted.contains(std::string(limit.key))) << limit.key;
}

TEST(ConfigKeysDocTest, RepoConfigJsonHoldsTheDefaults) {
  const ConfigResult result = load_config_file(SHORTLINE_SOURCE_DIR "/config.json");
  ASSERT_TRUE(result.config.has_value()) << result.error;
  const DataplaneConfig& dataplane = result.config->load_balancer.dataplane;
  for (const DataplaneLimit& limit : kDataplaneLimits)
    EXPECT_EQ(dataplane.*limit.field, limit.default_value) << limit.key;
}

TEST(ConfigKeysDocTest, ValidateLimitsNamesKeyValueAndRange) {
  DataplaneConfig config;
  config.workers = DataplaneConfig::kWorkersMax + 1;
  EXPECT_EQ(validate_limits(config),
            "workers: 257 is not allowed: expected an integer from 0 to 256");
  config = DataplaneConfig{};
  config.buffers_per_worker = 100;
  EXPECT_EQ(validate_limits(config),
            "buffers_per_worker: 100 is not allowed: expected a power of two from 64 to 32768");
  config = DataplaneConfig{};
  config.socket_buffer_bytes = DataplaneConfig::kSocketBufferBytesMin - 1;
  EXPECT_NE(validate_limits(config).find("socket_buffer_bytes: 4095"), std::string::npos);
  config = DataplaneConfig{};
  config.max_servers = 1;
  config.backends.resize(2);
  EXPECT_EQ(validate_limits(config),
            "max_servers: 1 is not allowed: expected at least the number of backends (2)");
  // Relations the data plane does not ask for are not imposed.
  config = DataplaneConfig{};
  config.session_unreplied_timeout_ms = config.session_idle_timeout_ms + 1;
  config.upstream_sockets = config.max_sessions + 1;
  EXPECT_EQ(validate_limits(config), "");
}

TEST(ConfigKeysDocTest, EveryLimitBoundIsAcceptedAndOneBeyondRefused) {
  for (const DataplaneLimit& limit : kDataplaneLimits) {
    DataplaneConfig config;
    config.*limit.field = limit.min;
    EXPECT_EQ(validate_limits(config), "") << limit.key;
    config.*limit.field = limit.max;
    EXPECT_EQ(validate_limits(config), "") << limit.key;
    if (limit.min > 0) {
      config.*limit.field = limit.min - 1;
      EXPECT_TRUE(validate_limits(config).starts_with(std::string(limit.key) + ": ")) << limit.key;
    }
    if (limit.max < std::numeric_limits<uint32_t>::max()) {
      config.*limit.field = limit.max + 1;
      EXPECT_TRUE(validate_limits(config).starts_with(std::string(limit.key) + ": ")) << limit.key;
    }
  }
}

}  // namespace
}  // namespace shortline
