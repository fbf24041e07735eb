// libFuzzer target: parse_config on arbitrary bytes must never crash, throw or leave the
// result half-filled (exactly one of config and error is set).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "control/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const shortline::ConfigResult result = shortline::parse_config(text);
  if (result.config.has_value() == !result.error.empty()) std::abort();
  // An error is one line: it goes to a log or a terminal as it is.
  if (result.error.find('\n') != std::string_view::npos) std::abort();
  return 0;
}
