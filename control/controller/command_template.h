// The server command template: a line of whitespace-separated words with {placeholders},
// expanded into an argv for each server the controller starts. No shell is involved, so a
// value that holds spaces stays one argument and nothing is interpreted.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shortline::controller {

// The placeholders a template may use, in the order the docs list them.
inline constexpr std::string_view kTemplatePlaceholders[] = {
    "bin_dir", "port",       "id",           "balancer", "host",
    "log_dir", "service_ms", "service_dist", "workers",  "auth_key_file"};

// The template used when controller.server_command is empty (with load_balancer.
// auth_key_file set, kAuthArguments is appended so that the servers sign their reports).
inline constexpr std::string_view kDefaultServerCommand =
    "{bin_dir}/shortline-server --port {port} --id {id} --balancer {balancer} "
    "--listen-address {host} --service-ms {service_ms} --service-dist {service_dist} "
    "--workers {workers} --log-dir {log_dir}";
inline constexpr std::string_view kAuthArguments = " --auth-key-file {auth_key_file}";

using TemplateValues = std::vector<std::pair<std::string_view, std::string>>;

// Checks a template without values: at least one word, every '{' opens a known
// placeholder that is closed, no stray '}'. Returns an empty string when it is valid, else
// what is wrong ("unknown placeholder {prot}").
[[nodiscard]] std::string check_command_template(std::string_view command);

// Splits and substitutes. Requires check_command_template(command) to be empty and a
// value for every placeholder the template uses; returns nullopt otherwise.
[[nodiscard]] std::optional<std::vector<std::string>> expand_command(std::string_view command,
                                                                     const TemplateValues& values);

}  // namespace shortline::controller
