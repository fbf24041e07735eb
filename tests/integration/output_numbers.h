// Numbers read out of a child's printed output (counters, pids), for the integration tests.
#pragma once

#include <cstdint>
#include <string>

namespace shortline::testing {

// The decimal number after the first `key` in `text` (and any spaces: "  sent   12"), or -1.
// (No std::regex: gcc 12 warns falsely inside it under ASan.)
inline int64_t number_after(const std::string& text, const std::string& key) {
  const auto at = text.find(key);
  if (at == std::string::npos) return -1;
  const auto start = text.find_first_not_of(' ', at + key.size());
  if (start == std::string::npos) return -1;
  const auto end = text.find_first_not_of("0123456789", start);
  if (end == start) return -1;
  return std::stoll(text.substr(start, end - start));
}

}  // namespace shortline::testing
