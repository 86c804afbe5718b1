#include "scan/keywords.h"

#include <array>
#include <deque>

namespace ag::scan {

KeywordMatcher::KeywordMatcher(const std::vector<std::string>& keywords)
    : num_keywords_(keywords.size()) {
  // Byte classes: 0 for bytes in no keyword; one class per distinct byte
  // otherwise, with A-Z sharing the class of a-z.
  for (const std::string& k : keywords)
    for (unsigned char c : k)
      if (classes_[c] == 0) classes_[c] = static_cast<uint8_t>(num_classes_++);
  for (int c = 'A'; c <= 'Z'; ++c) classes_[c] = classes_[c - 'A' + 'a'];
  const uint32_t nc = num_classes_;

  // Trie.
  std::vector<std::vector<int32_t>> go(1, std::vector<int32_t>(nc, -1));
  std::vector<std::vector<uint32_t>> out(1);
  for (uint32_t ki = 0; ki < keywords.size(); ++ki) {
    int32_t s = 0;
    for (unsigned char c : keywords[ki]) {
      uint8_t k = classes_[c];
      if (go[s][k] < 0) {
        go[s][k] = static_cast<int32_t>(go.size());
        go.emplace_back(nc, -1);
        out.emplace_back();
      }
      s = go[s][k];
    }
    out[s].push_back(ki);
  }

  // Failure links in BFS order, folded into a full transition table.
  const size_t states = go.size();
  std::vector<int32_t> fail(states, 0);
  std::deque<int32_t> queue;
  for (uint32_t c = 0; c < nc; ++c) {
    if (go[0][c] < 0) {
      go[0][c] = 0;
    } else {
      fail[go[0][c]] = 0;
      queue.push_back(go[0][c]);
    }
  }
  while (!queue.empty()) {
    int32_t s = queue.front();
    queue.pop_front();
    const auto& inherited = out[fail[s]];
    out[s].insert(out[s].end(), inherited.begin(), inherited.end());
    for (uint32_t c = 0; c < nc; ++c) {
      int32_t t = go[s][c];
      if (t < 0) {
        go[s][c] = go[fail[s]][c];
      } else {
        fail[t] = go[fail[s]][c];
        queue.push_back(t);
      }
    }
  }

  delta_.resize(states * nc);
  out_begin_.resize(states + 1);
  for (size_t s = 0; s < states; ++s) {
    out_begin_[s] = static_cast<uint32_t>(outputs_.size());
    outputs_.insert(outputs_.end(), out[s].begin(), out[s].end());
    for (uint32_t c = 0; c < nc; ++c) {
      uint32_t t = static_cast<uint32_t>(go[s][c]);
      delta_[s * nc + c] = t * nc | (out[t].empty() ? 0 : kOutputBit);
    }
  }
  out_begin_[states] = static_cast<uint32_t>(outputs_.size());
}

}  // namespace ag::scan
