// The value readers under the config loader: one-line errors that name the key path, the
// value given and what is allowed, and Section, a JSON object checked against its keys.
// Internal to control/config.cpp; errors are thrown as ConfigError and caught there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace shortline::config_values {

using Json = nlohmann::json;

// Thrown inside the loader only and turned into ConfigResult.error by parse_config. Loading
// runs once at start-up, and unwinding keeps every field reader a single line.
struct ConfigError {
  std::string message;
};

inline constexpr size_t kShownCharsMax = 64;  // of a string value quoted in an error

// Escapes control and non-ASCII bytes (and, inside quotes, '"' and '\\') so that an error
// stays one printable line whatever the input held.
[[nodiscard]] std::string printable(std::string_view text, size_t chars_max, bool quoting);
[[nodiscard]] std::string in_quotes(std::string_view text);
// A value as an error shows it; containers are named, never dumped.
[[nodiscard]] std::string shown(const Json& value);
[[noreturn]] void fail(std::string_view path, std::string_view value_shown,
                       std::string_view allowed);
[[nodiscard]] std::string integer_range(uint64_t min, uint64_t max);
// A JSON unsigned integer or a whole decimal string ("42"); nullopt for anything else.
[[nodiscard]] std::optional<uint64_t> integer_value(const Json& value);
[[nodiscard]] uint64_t read_integer(const Json& value, std::string_view path, uint64_t min,
                                    uint64_t max);
// A real number above min and at most max.
[[nodiscard]] double read_real(const Json& value, std::string_view path, double min, double max,
                               std::string_view allowed);
[[nodiscard]] bool read_bool(const Json& value, std::string_view path);
[[nodiscard]] const std::string& read_string(const Json& value, std::string_view path,
                                             std::string_view allowed);

// One JSON object of the config: its key path and the keys it may hold. Construction
// rejects a non-object and any unknown key, so readers only look keys up.
class Section {
 public:
  Section(const Json& value, std::string path, std::span<const std::string_view> keys)
      : value_(value), path_(std::move(path)) {
    if (!value_.is_object()) fail(path_, shown(value_), "an object");
    for (const auto& item : value_.items()) {
      if (is_allowed(item.key(), keys)) continue;
      std::string message("config: ");
      message.append(path_of(printable(item.key(), kShownCharsMax, false)));
      message.append(": unknown key (allowed: ");
      for (size_t i = 0; i < keys.size(); ++i) message.append(i ? ", " : "").append(keys[i]);
      throw ConfigError{message.append(")")};
    }
  }

  [[nodiscard]] const Json* find(std::string_view key) const {
    const auto it = value_.find(key);
    return it == value_.end() ? nullptr : &*it;
  }
  [[nodiscard]] std::string path_of(std::string_view key) const {
    return path_.empty() ? std::string(key) : std::string(path_).append(".").append(key);
  }

  template <typename T>
  void integer(std::string_view key, T& field, uint64_t min, uint64_t max) const {
    static_assert(std::is_unsigned_v<T>);
    if (max > std::numeric_limits<T>::max()) throw ConfigError{"config: range exceeds type"};
    if (const Json* value = find(key))
      field = static_cast<T>(read_integer(*value, path_of(key), min, max));
  }
  void port(std::string_view key, uint16_t& field) const { integer(key, field, 1, 65535); }
  void boolean(std::string_view key, bool& field) const {
    if (const Json* value = find(key)) field = read_bool(*value, path_of(key));
  }
  void real(std::string_view key, double& field, double min, double max,
            std::string_view allowed) const {
    if (const Json* value = find(key)) field = read_real(*value, path_of(key), min, max, allowed);
  }

 private:
  static bool is_allowed(const std::string& key, std::span<const std::string_view> keys) {
    for (const auto allowed : keys)
      if (key == allowed) return true;
    return false;
  }

  const Json& value_;
  std::string path_;
};

}  // namespace shortline::config_values
