// RefusalLimiter: at most one audited refusal per account per interval. Any
// local account can connect to the control socket; without a limit, one that
// may review nothing could grow the audit table with refused attempts at will.
// The refusals not written are counted and reported in the account's next row
// ("suppressed": N in its data).
//
// Thread-safety: every method may be called from any thread (internal mutex).
// Not copyable (it owns a mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace ag::control {

class RefusalLimiter {
 public:
  // REQUIRES: max_accounts >= 1.
  RefusalLimiter(std::chrono::milliseconds interval, size_t max_accounts);
  RefusalLimiter(const RefusalLimiter&) = delete;
  RefusalLimiter& operator=(const RefusalLimiter&) = delete;

  // True when a refusal to `account` is to be written now: its last row is
  // at least `interval` old (or there is none); *suppressed is then the number
  // of refusals not written since that row. False: counted, not written; also
  // when `max_accounts` accounts already have a window open (memory is bounded;
  // that count is lost).
  bool Admit(const std::string& account, int64_t* suppressed);

 private:
  using Clock = std::chrono::steady_clock;
  struct Window {
    Clock::time_point last_row;
    int64_t suppressed = 0;
  };

  const std::chrono::milliseconds interval_;
  const size_t max_accounts_;
  std::mutex mu_;
  std::map<std::string, Window> windows_;  // GUARDED_BY(mu_)
};

}  // namespace ag::control
