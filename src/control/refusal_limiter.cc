#include "control/refusal_limiter.h"

namespace ag::control {

RefusalLimiter::RefusalLimiter(std::chrono::milliseconds interval, size_t max_accounts)
    : interval_(interval), max_accounts_(max_accounts) {}

bool RefusalLimiter::Admit(const std::string& account, int64_t* suppressed) {
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> l(mu_);
  auto it = windows_.find(account);
  if (it == windows_.end()) {
    if (windows_.size() >= max_accounts_) {
      // Closed windows with nothing to report are forgotten first.
      for (auto w = windows_.begin(); w != windows_.end();) {
        w = now - w->second.last_row >= interval_ && w->second.suppressed == 0 ? windows_.erase(w)
                                                                                : std::next(w);
      }
      if (windows_.size() >= max_accounts_) return false;
    }
    windows_[account] = Window{now, 0};
    *suppressed = 0;
    return true;
  }
  Window& w = it->second;
  if (now - w.last_row < interval_) {
    ++w.suppressed;
    return false;
  }
  *suppressed = w.suppressed;
  w = Window{now, 0};
  return true;
}

}  // namespace ag::control
