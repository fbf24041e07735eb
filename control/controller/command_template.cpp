// Expansion of the server command template: split on whitespace, then substitute each
// {placeholder} inside a word.
#include "control/controller/command_template.h"

#include <algorithm>

namespace shortline::controller {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

bool is_known(std::string_view name) {
  return std::find(std::begin(kTemplatePlaceholders), std::end(kTemplatePlaceholders), name) !=
         std::end(kTemplatePlaceholders);
}

// Calls on_text(text) for literal runs and on_name(name) for placeholders; returns an
// error text at the first malformed brace.
template <typename OnText, typename OnName>
std::string scan(std::string_view word, OnText on_text, OnName on_name) {
  size_t i = 0;
  while (i < word.size()) {
    const size_t open = word.find_first_of("{}", i);
    if (open == std::string_view::npos) {
      on_text(word.substr(i));
      return {};
    }
    if (word[open] == '}') return std::string("a '}' without its '{' in \"").append(word) + "\"";
    on_text(word.substr(i, open - i));
    const size_t close = word.find('}', open);
    if (close == std::string_view::npos)
      return std::string("a '{' without its '}' in \"").append(word) + "\"";
    const std::string_view name = word.substr(open + 1, close - open - 1);
    if (!is_known(name)) return std::string("unknown placeholder {").append(name) + "}";
    if (!on_name(name)) return std::string("no value for {").append(name) + "}";
    i = close + 1;
  }
  return {};
}

}  // namespace

std::string check_command_template(std::string_view command) {
  const auto words = split_words(command);
  if (words.empty()) return "an empty command";
  for (const auto word : words) {
    auto error = scan(
        word, [](std::string_view) {}, [](std::string_view) { return true; });
    if (!error.empty()) return error;
  }
  return {};
}

std::optional<std::vector<std::string>> expand_command(std::string_view command,
                                                       const TemplateValues& values) {
  const auto words = split_words(command);
  if (words.empty()) return std::nullopt;
  std::vector<std::string> argv;
  argv.reserve(words.size());
  for (const auto word : words) {
    std::string out;
    const auto on_text = [&out](std::string_view text) { out.append(text); };
    const auto on_name = [&out, &values](std::string_view name) {
      const auto it = std::find_if(values.begin(), values.end(),
                                   [name](const auto& entry) { return entry.first == name; });
      if (it == values.end()) return false;
      out.append(it->second);
      return true;
    };
    if (!scan(word, on_text, on_name).empty()) return std::nullopt;
    argv.push_back(std::move(out));
  }
  return argv;
}

}  // namespace shortline::controller
