// shortline-ctl status: the balancer's /api/status as the table the original project
// printed (id, queue, state, speed, requests), with health and address beside it.
#pragma once

#include <string>
#include <string_view>

namespace shortline::ctl {

// The table for a /api/status body; a body that is not the expected JSON gives a one-line
// error in `error` and "".
[[nodiscard]] std::string status_table(std::string_view json_body, std::string& error);

}  // namespace shortline::ctl
