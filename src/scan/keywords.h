// KeywordMatcher: finds every occurrence of a set of lower-case keywords in a
// text, case-insensitively (ASCII). It is the scanner's prefilter: only lines
// holding a keyword reach RE2.
//
// How: a filter looks at every position's 4 bytes (OR 0x20, a coarse case
// fold) and tests a hash of them in a bitmap of the keywords' first 4 bytes
// (3-byte keywords are entered with every possible 4th byte; 1- and 2-byte
// keywords go to a second, exact bitmap of 2-byte prefixes). 64 positions are
// tested at once (AVX2 gathers when the CPU has them, else scalar code, both
// branch-free); a block without a candidate costs no further work. Each
// candidate position is then verified against the keywords of its bucket
// with an exact ASCII-folding compare. There is no loop-carried dependency,
// unlike an Aho-Corasick DFA, whose table load per byte bounds its speed.
//
// Thread-safety: immutable after construction; Scan() is const and reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ag::scan {
namespace internal {
inline constexpr uint32_t kFold = 0x20202020u;  // OR'd into 4 bytes: coarse ASCII case fold
inline constexpr uint32_t kMul = 0x9E3779B1u;   // multiplicative hash of the folded 4 bytes
constexpr std::array<unsigned char, 256> AsciiLowerTable() {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[c] = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return t;
}
}  // namespace internal

class KeywordMatcher {
 public:
  // REQUIRES: keywords are non-empty. Matching folds ASCII A-Z to a-z, so
  // upper-case letters in `keywords` never match. `simd` false forces the
  // scalar filter (tests compare both).
  explicit KeywordMatcher(const std::vector<std::string>& keywords, bool simd = true);
  KeywordMatcher() : KeywordMatcher(std::vector<std::string>{}) {}

  // Calls on_hit(end, keyword) for every occurrence (end = offset one past
  // the keyword's last byte), in order of the occurrence's start offset;
  // several keywords may start at the same offset. on_hit returns false to
  // stop early.
  template <typename F>
  void Scan(std::string_view text, F&& on_hit) const {
    if (num_keywords_ == 0) return;
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t base = 0;
    // Whole blocks: the filter reads up to 3 bytes past the block.
    for (; base + kBlock + 3 <= n; base += kBlock) {
      uint64_t m = (this->*block_mask_)(p + base);
      while (m) {
        size_t i = base + static_cast<size_t>(__builtin_ctzll(m));
        m &= m - 1;
        if (!Verify(p + i, p, n, i, on_hit)) return;
      }
    }
    // The tail (under 67 bytes), through zero-padded copies (padding folds
    // to ' ', which only adds candidates; Verify checks the real text and
    // its bounds).
    for (; base < n; base += kBlock) {
      unsigned char buf[kBlock + 8] = {};
      const size_t rest = n - base;
      std::memcpy(buf, p + base, rest < sizeof buf ? rest : sizeof buf);
      uint64_t m = (this->*block_mask_)(buf);
      if (rest < kBlock) m &= (uint64_t{1} << rest) - 1;
      while (m) {
        size_t j = static_cast<size_t>(__builtin_ctzll(m));
        m &= m - 1;
        if (!Verify(buf + j, p, n, base + j, on_hit)) return;
      }
    }
  }

  size_t size() const { return num_keywords_; }

 private:
  static constexpr size_t kBlock = 64;
  static constexpr uint32_t kFold = internal::kFold;
  static constexpr uint32_t kMul = internal::kMul;

  static uint32_t Load32(const unsigned char* q) {
    uint32_t w;
    std::memcpy(&w, q, 4);
    return w;
  }
  uint32_t Hash(uint32_t folded) const { return (folded * kMul) >> hash_shift_; }

  // Bit j: position j of the 64 starting at `q` may start a keyword.
  // REQUIRES: q[0, 67) readable.
  uint64_t MaskScalar(const unsigned char* q) const;
  uint64_t MaskAvx2(const unsigned char* q) const;

  // Reports the keywords starting at text offset i. `gram` points at the
  // 4 bytes the filter saw there (the text or the padded tail copy).
  template <typename F>
  bool Verify(const unsigned char* gram, const unsigned char* p, size_t n, size_t i,
              F& on_hit) const {
    const uint32_t w = Load32(gram) | kFold;
    if (!CheckBucket(long_, Hash(w), p, n, i, on_hit)) return false;
    if (has_short_ && !CheckBucket(short_, w & 0xffffu, p, n, i, on_hit)) return false;
    return true;
  }

  // Keywords indexed by a key (a 4-gram hash or an exact 2-byte prefix).
  struct Buckets {
    int slot_shift = 0;               // slot = key >> slot_shift
    std::vector<uint32_t> begin;      // per slot, into keys/words; size slots+1
    std::vector<uint32_t> keys;
    std::vector<uint32_t> words;      // keyword index
  };

  template <typename F>
  bool CheckBucket(const Buckets& b, uint32_t key, const unsigned char* p, size_t n, size_t i,
                   F& on_hit) const {
    const uint32_t slot = key >> b.slot_shift;
    for (uint32_t e = b.begin[slot]; e < b.begin[slot + 1]; ++e) {
      if (b.keys[e] != key) continue;
      const std::string& k = keywords_[b.words[e]];
      if (k.size() > n - i) continue;
      size_t j = 0;
      while (j < k.size() && kLower[p[i + j]] == static_cast<unsigned char>(k[j])) ++j;
      if (j == k.size() && !on_hit(i + k.size(), b.words[e])) return false;
    }
    return true;
  }

  static constexpr std::array<unsigned char, 256> kLower = internal::AsciiLowerTable();

  size_t num_keywords_ = 0;
  std::vector<std::string> keywords_;
  int hash_bits_ = 16;      // bits of the 4-gram hash
  int hash_shift_ = 16;     // 32 - hash_bits_
  bool has_short_ = false;  // any keyword of 1 or 2 bytes
  std::vector<uint32_t> long_bits_;   // 2^hash_bits_ bits: 4-gram hashes
  std::vector<uint32_t> short_bits_;  // 2^16 bits: folded 2-byte prefixes
  Buckets long_, short_;
  uint64_t (KeywordMatcher::*block_mask_)(const unsigned char*) const = &KeywordMatcher::MaskScalar;
};

}  // namespace ag::scan
