// A small command-line reader shared by the controller and the tools: "--name value" or
// "--name=value", typed getters with range checks, one error naming the flag. Start-up only.
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shortline {

class CliFlags {
 public:
  CliFlags(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
  }

  // Steps to the next flag; false at the end or after an error.
  bool next() {
    if (!error_.empty() || index_ >= args_.size()) return false;
    std::string_view arg = args_[index_++];
    if (arg.substr(0, 2) != "--") {
      error_ = "unexpected argument '" + std::string(arg) + "'";
      return false;
    }
    const auto equals = arg.find('=');
    name_ = std::string(arg.substr(0, equals));
    inline_value_.reset();
    if (equals != std::string_view::npos) inline_value_ = std::string(arg.substr(equals + 1));
    return true;
  }

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool is(std::string_view flag) const { return name_ == flag; }

  // The flag's value; sets an error when it is missing.
  std::string text() {
    if (inline_value_) return *inline_value_;
    if (index_ >= args_.size()) {
      error_ = name_ + " needs a value";
      return {};
    }
    return args_[index_++];
  }

  template <typename T>
  T integer(T min, T max = std::numeric_limits<T>::max()) {
    const std::string value = text();
    T parsed{};
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error_.empty() && (ec != std::errc{} || ptr != value.data() + value.size() ||
                           parsed < min || parsed > max)) {
      error_ = name_ + ": '" + value + "' is not an integer in [" + std::to_string(min) + ", " +
               std::to_string(max) + "]";
    }
    return parsed;
  }

  double number(double min, double max) {
    const std::string value = text();
    double parsed = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error_.empty() && (ec != std::errc{} || ptr != value.data() + value.size() ||
                           !(parsed >= min && parsed <= max))) {
      error_ = name_ + ": '" + value + "' is not a number in [" + std::to_string(min) + ", " +
               std::to_string(max) + "]";
    }
    return parsed;
  }

  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }
  void unknown() { fail("unknown flag " + name_ + " (see --help)"); }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  std::vector<std::string> args_;
  std::size_t index_ = 0;
  std::string name_;
  std::optional<std::string> inline_value_;
  std::string error_;
};

}  // namespace shortline
