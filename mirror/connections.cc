#include "mirror/connections.h"

namespace ag::mirror {

ConnectionTable::Admission ConnectionTable::Admit(const std::string& address) const {
  auto it = addresses_.find(address);
  if (it != addresses_.end() && it->second.count >= limits_.max_per_address) {
    if (it->second.idle.empty()) return {Admission::kRefuse, 0};
    return {Admission::kShedThenAdmit, it->second.idle.begin()->second};
  }
  if (conns_.size() >= limits_.max_total) {
    if (idle_.empty()) return {Admission::kRefuse, 0};
    return {Admission::kShedThenAdmit, idle_.begin()->second};
  }
  return {};
}

ConnectionTable::Id ConnectionTable::Add(const std::string& address) {
  Id id = next_id_++;
  conns_[id].address = address;
  ++addresses_[address].count;
  SetIdle(id, true);
  return id;
}

void ConnectionTable::DropIdle(Id id, Conn* c) {
  if (c->idle_seq == 0) return;
  idle_.erase({c->idle_seq, id});
  addresses_[c->address].idle.erase({c->idle_seq, id});
  c->idle_seq = 0;
}

void ConnectionTable::SetIdle(Id id, bool idle) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  DropIdle(id, &c);
  if (!idle) return;
  c.idle_seq = next_seq_++;
  idle_.insert({c.idle_seq, id});
  addresses_[c.address].idle.insert({c.idle_seq, id});
}

void ConnectionTable::Remove(Id id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  DropIdle(id, &it->second);
  auto a = addresses_.find(it->second.address);
  if (a != addresses_.end() && --a->second.count == 0) addresses_.erase(a);
  conns_.erase(it);
}

ConnectionTable::Id ConnectionTable::OldestIdle() const {
  return idle_.empty() ? 0 : idle_.begin()->second;
}

uint32_t ConnectionTable::CountFor(const std::string& address) const {
  auto it = addresses_.find(address);
  return it == addresses_.end() ? 0 : it->second.count;
}

bool LogThrottle::Note(std::string_view event, Clock::time_point now) {
  auto it = bursts_.find(event);
  if (it == bursts_.end()) {
    bursts_.emplace(std::string(event), Burst{now, 0});
    return true;
  }
  ++it->second.unlogged;
  return false;
}

std::vector<std::pair<std::string, uint64_t>> LogThrottle::Due(Clock::time_point now) {
  std::vector<std::pair<std::string, uint64_t>> due;
  for (auto it = bursts_.begin(); it != bursts_.end();) {
    Burst& b = it->second;
    if (now - b.since < window_) {
      ++it;
      continue;
    }
    if (b.unlogged == 0) {
      it = bursts_.erase(it);
      continue;
    }
    due.emplace_back(it->first, b.unlogged);
    b.unlogged = 0;
    b.since = now;
    ++it;
  }
  return due;
}

}  // namespace ag::mirror
