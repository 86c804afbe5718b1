// Bookkeeping against starvation (docs/mirror.md "Connections"): which client
// connections are open, from which address, and which of them are idle (no
// request in progress), so that a new connection over a cap can take the
// place of the oldest idle one; and a log throttle that turns a flood of one
// event into one line per burst.
//
// Pure: no sockets, no clock of their own (time is passed in). Thread-safety:
// none; agentgate-mirror uses both from its network thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ag::mirror {

// Open connections, counted in total and per client address. Not copyable
// (one table per server).
class ConnectionTable {
 public:
  using Id = uint64_t;  // never 0

  struct Limits {
    uint32_t max_total = 512;
    uint32_t max_per_address = 64;
  };

  // What to do with a new connection from an address.
  struct Admission {
    enum Verdict { kAdmit, kShedThenAdmit, kRefuse } verdict = kAdmit;
    Id victim = 0;  // kShedThenAdmit: close this one first (then Remove it)
  };

  explicit ConnectionTable(Limits limits) : limits_(limits) {}
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;

  // Under both caps: kAdmit. Over the per-address cap: the address's oldest
  // idle connection is the victim; over the total cap: the oldest idle one
  // overall. No idle victim: kRefuse (every connection is busy serving).
  Admission Admit(const std::string& address) const;

  // Registers a new connection (idle: it has sent no request yet).
  Id Add(const std::string& address);
  // Marks a connection idle (waiting for a request header) or busy. The idle
  // order is the order of the last SetIdle(true); unknown ids are ignored.
  void SetIdle(Id id, bool idle);
  // Forgets a connection; unknown ids (already removed) are ignored.
  void Remove(Id id);

  // The connection idle for the longest time; 0 when none is idle.
  Id OldestIdle() const;

  size_t size() const { return conns_.size(); }
  uint32_t CountFor(const std::string& address) const;

 private:
  struct Conn {
    std::string address;
    uint64_t idle_seq = 0;  // 0: busy
  };
  struct Address {
    uint32_t count = 0;
    std::set<std::pair<uint64_t, Id>> idle;  // (idle_seq, id), oldest first
  };
  void DropIdle(Id id, Conn* c);

  Limits limits_;
  Id next_id_ = 1;
  uint64_t next_seq_ = 1;
  std::unordered_map<Id, Conn> conns_;
  std::map<std::string, Address> addresses_;
  std::set<std::pair<uint64_t, Id>> idle_;  // every idle connection, oldest first
};

// At most one log line per event name per `window`: the first occurrence of
// a burst is logged at once (Note returns true), later ones are counted and
// reported by Due() once the window has passed; a window with no occurrence
// ends the burst.
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration window) : window_(window) {}
  LogThrottle(const LogThrottle&) = delete;
  LogThrottle& operator=(const LogThrottle&) = delete;

  // Counts one `event` at `now`. True: write a line for it now.
  bool Note(std::string_view event, Clock::time_point now);
  // (event, occurrences not yet logged) for every burst whose window passed
  // by `now` with occurrences; those counts restart. Bursts whose window
  // passed without any end.
  std::vector<std::pair<std::string, uint64_t>> Due(Clock::time_point now);
  // True while some burst is open: call Due() again after window().
  bool active() const { return !bursts_.empty(); }
  Clock::duration window() const { return window_; }

 private:
  struct Burst {
    Clock::time_point since;  // start of the current window
    uint64_t unlogged = 0;
  };
  Clock::duration window_;
  std::map<std::string, Burst, std::less<>> bursts_;
};

}  // namespace ag::mirror
