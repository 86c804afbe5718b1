// KeywordMatcher: a small Aho-Corasick automaton compiled to a full DFA over
// byte classes, matching lower-case keywords case-insensitively (ASCII).
// It is the scanner's prefilter: only lines holding a keyword reach RE2.
//
// Thread-safety: immutable after Build(); Scan() is const and reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ag::scan {

class KeywordMatcher {
 public:
  // REQUIRES: keywords are non-empty. Matching folds ASCII A-Z to a-z, so
  // upper-case letters in `keywords` never match.
  explicit KeywordMatcher(const std::vector<std::string>& keywords);
  KeywordMatcher() : KeywordMatcher(std::vector<std::string>{}) {}

  // Calls on_hit(end, keyword) for every occurrence, in order of `end` (the
  // offset one past the keyword's last byte). Several keywords may end at
  // the same offset. on_hit returns false to stop early.
  template <typename F>
  void Scan(std::string_view text, F&& on_hit) const {
    const uint8_t* cls = classes_;
    const uint32_t* delta = delta_.data();
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    uint32_t s = 0;
    for (size_t i = 0; i < n; ++i) {
      uint32_t t = delta[s + cls[p[i]]];
      s = t & kStateMask;
      if (t & kOutputBit) [[unlikely]] {
        uint32_t state = s / num_classes_;
        for (uint32_t k = out_begin_[state]; k < out_begin_[state + 1]; ++k)
          if (!on_hit(i + 1, outputs_[k])) return;
      }
    }
  }

  size_t size() const { return num_keywords_; }
  size_t num_states() const { return out_begin_.empty() ? 0 : out_begin_.size() - 1; }

 private:
  static constexpr uint32_t kOutputBit = 0x80000000u;
  static constexpr uint32_t kStateMask = 0x7fffffffu;
  uint8_t classes_[256] = {};
  uint32_t num_classes_ = 1;
  size_t num_keywords_ = 0;
  // delta_[state * num_classes_ + class] = next state * num_classes_, with
  // kOutputBit set when the next state ends at least one keyword.
  std::vector<uint32_t> delta_;
  std::vector<uint32_t> out_begin_;  // per state, into outputs_; size states+1
  std::vector<uint32_t> outputs_;    // keyword indices
};

}  // namespace ag::scan
