// Finding a program the way execvp does: a name with a '/' is a path, any other is looked up
// in PATH. Shared by the controller (the processes it starts) and shortline-replay (gnuplot).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace shortline {

// The first executable of that name in PATH (a name holding a '/' as given, if executable);
// nothing when there is none. Without PATH, /usr/local/bin:/usr/bin:/bin is searched.
[[nodiscard]] std::optional<std::string> find_program(std::string_view name);

}  // namespace shortline
