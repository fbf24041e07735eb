// Admin actions for shortline-lb: HTTP statuses for the control thread's results.
#include "control/lb_admin_actions.h"

#include "control/lb_console.h"

namespace shortline {

AdminActions make_admin_actions(ControlThread& control,
                                           LbReloader& reloader, std::string token) {
  const auto to_answer = [](const OperatorResult& r) {
    static constexpr int kStatus[] = {200, 400, 404, 409, 500};
    return AdminAnswer{kStatus[static_cast<int>(r.code)], r.message};
  };
  AdminActions actions;
  actions.token = std::move(token);
  actions.drain = [&control, to_answer](std::string_view s) { return to_answer(control.drain(s)); };
  actions.undrain = [&control, to_answer](std::string_view s) {
    return to_answer(control.undrain(s));
  };
  actions.add_backend = [&control, to_answer](std::string_view a, uint32_t w) {
    return to_answer(control.add_backend(a, w));
  };
  actions.remove_backend = [&control, to_answer](std::string_view a) {
    return to_answer(control.remove_backend(a));
  };
  actions.reload = [&reloader] {
    const auto outcome = reloader.reload("admin");
    print_event(outcome.message);
    return AdminAnswer{outcome.ok ? 200 : 400, outcome.message};
  };
  return actions;
}

}  // namespace shortline
