// The admin endpoint's runtime changes bound to shortline-lb's control thread and reloader:
// each action is one call, its result one JSON answer (and the reload an event line).
#pragma once

#include <string>

#include "control/admin_actions.h"
#include "control/control_thread.h"
#include "control/lb_reload.h"

namespace shortline {

[[nodiscard]] AdminActions make_admin_actions(ControlThread& control, LbReloader& reloader,
                                              std::string token);

}  // namespace shortline
