// The config loader's value readers and their one-line errors (see config_values.h).
#include "control/config_values.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <system_error>

namespace shortline::config_values {
namespace {

// Whole decimal text only: no sign, no spaces, no exponent.
std::optional<uint64_t> parse_decimal(std::string_view text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<double> parse_real(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

// Escapes control and non-ASCII bytes (and, inside quotes, '"' and '\') so that an error
// stays one printable line whatever the input held.
std::string printable(std::string_view text, size_t chars_max, bool quoting) {
  std::string out;
  for (const char c : text.substr(0, chars_max)) {
    const auto byte = static_cast<unsigned char>(c);
    if (quoting && (c == '"' || c == '\\')) {
      out.append(1, '\\').append(1, c);
    } else if (byte < 0x20 || byte >= 0x7f) {
      std::array<char, 8> hex{};
      std::snprintf(hex.data(), hex.size(), "\\x%02x", static_cast<unsigned>(byte));
      out.append(hex.data());
    } else {
      out.append(1, c);
    }
  }
  if (text.size() > chars_max) out.append("...");
  return out;
}

std::string in_quotes(std::string_view text) {
  std::string out("\"");
  out.append(printable(text, kShownCharsMax, true)).append("\"");
  return out;
}

// A value as an error shows it. Containers are named, never dumped: dumping recurses, and
// hostile input can nest a hundred thousand levels deep.
std::string shown(const Json& value) {
  if (value.is_string()) return in_quotes(value.get_ref<const std::string&>());
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  return value.dump();  // number, boolean or null: short and flat
}

[[noreturn]] void fail(std::string_view path, std::string_view value_shown,
                       std::string_view allowed) {
  std::string message("config: ");
  message.append(path).append(": ").append(value_shown);
  message.append(" is not allowed: expected ").append(allowed);
  throw ConfigError{std::move(message)};
}

std::string integer_range(uint64_t min, uint64_t max) {
  std::string text("an integer from ");
  text.append(std::to_string(min)).append(" to ").append(std::to_string(max));
  return text;
}

std::optional<uint64_t> integer_value(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_string()) return parse_decimal(value.get_ref<const std::string&>());
  return std::nullopt;
}

uint64_t read_integer(const Json& value, std::string_view path, uint64_t min, uint64_t max) {
  const std::optional<uint64_t> number = integer_value(value);
  if (!number || *number < min || *number > max) fail(path, shown(value), integer_range(min, max));
  return *number;
}

// A real number above min and at most max (no key here takes a zero or negative number).
double read_real(const Json& value, std::string_view path, double min, double max,
                 std::string_view allowed) {
  std::optional<double> number;
  if (value.is_number()) number = value.get<double>();
  if (value.is_string()) number = parse_real(value.get_ref<const std::string&>());
  if (!number || !(*number > min && *number <= max)) fail(path, shown(value), allowed);
  return *number;
}

bool read_bool(const Json& value, std::string_view path) {
  if (value.is_boolean()) return value.get<bool>();
  if (value == "true") return true;
  if (value == "false") return false;
  fail(path, shown(value), "true or false");
}

const std::string& read_string(const Json& value, std::string_view path, std::string_view allowed) {
  if (!value.is_string()) fail(path, shown(value), allowed);
  return value.get_ref<const std::string&>();
}

}  // namespace shortline::config_values
