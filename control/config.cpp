// Placeholder until the config loader lands (being written now); returns an error.
#include "control/config.h"

namespace shortline {
ConfigResult parse_config(std::string_view) { return {std::nullopt, "config: loader not built yet"}; }
ConfigResult load_config_file(const std::string&) { return {std::nullopt, "config: loader not built yet"}; }
std::optional<Policy> parse_policy(std::string_view) { return std::nullopt; }
std::optional<Affinity> parse_affinity(std::string_view) { return std::nullopt; }
}  // namespace shortline
