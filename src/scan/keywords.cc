#include "scan/keywords.h"

#include <immintrin.h>

#include <algorithm>
#include <utility>

namespace ag::scan {
namespace {

// Bytes a folded (OR 0x20) byte can be: those with bit 5 set.
std::vector<uint32_t> FoldedBytes() {
  std::vector<uint32_t> out;
  for (uint32_t c = 0; c < 256; ++c)
    if ((c | 0x20u) == c) out.push_back(c);
  return out;
}

uint32_t Fold(unsigned char c) { return c | 0x20u; }

void SetBit(std::vector<uint32_t>& bits, uint32_t i) { bits[i >> 5] |= 1u << (i & 31); }

}  // namespace

KeywordMatcher::KeywordMatcher(const std::vector<std::string>& keywords, bool simd)
    : num_keywords_(keywords.size()), keywords_(keywords) {
  // (folded 4 bytes, keyword) for keywords of 3+ bytes; (folded 2 bytes,
  // keyword) for shorter ones. Missing bytes take every folded value.
  std::vector<std::pair<uint32_t, uint32_t>> grams, pairs;
  const std::vector<uint32_t> any = FoldedBytes();
  for (uint32_t ki = 0; ki < keywords.size(); ++ki) {
    const std::string& k = keywords[ki];
    auto b = [&](size_t j) { return Fold(static_cast<unsigned char>(k[j])); };
    if (k.size() >= 4) {
      grams.push_back({b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24, ki});
    } else if (k.size() == 3) {
      for (uint32_t c : any) grams.push_back({b(0) | b(1) << 8 | b(2) << 16 | c << 24, ki});
    } else if (k.size() == 2) {
      pairs.push_back({b(0) | b(1) << 8, ki});
    } else if (k.size() == 1) {
      for (uint32_t c : any) pairs.push_back({b(0) | c << 8, ki});
    }
  }
  // Hash bits: keep the bitmap at most 1/128 full (few false candidates)
  // and small enough for L1/L2 (2^16..2^20 bits).
  hash_bits_ = 16;
  while (hash_bits_ < 20 && (grams.size() << 7) > (size_t{1} << hash_bits_)) ++hash_bits_;
  hash_shift_ = 32 - hash_bits_;
  has_short_ = !pairs.empty();

  auto build = [](std::vector<std::pair<uint32_t, uint32_t>>& entries, int key_bits,
                  std::vector<uint32_t>* bits, Buckets* out) {
    std::sort(entries.begin(), entries.end());
    entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
    bits->assign((size_t{1} << key_bits) / 32, 0);
    out->slot_shift = key_bits - 12;
    out->begin.assign((size_t{1} << 12) + 1, 0);
    for (const auto& [key, word] : entries) {
      SetBit(*bits, key);
      ++out->begin[(key >> out->slot_shift) + 1];
      out->keys.push_back(key);
      out->words.push_back(word);
    }
    for (size_t s = 1; s < out->begin.size(); ++s) out->begin[s] += out->begin[s - 1];
  };
  for (auto& [gram, word] : grams) gram = Hash(gram);
  build(grams, hash_bits_, &long_bits_, &long_);
  build(pairs, 16, &short_bits_, &short_);

  __builtin_cpu_init();
  if (simd && __builtin_cpu_supports("avx2")) block_mask_ = &KeywordMatcher::MaskAvx2;
}

uint64_t KeywordMatcher::MaskScalar(const unsigned char* q) const {
  const uint32_t* lb = long_bits_.data();
  const uint32_t* sb = short_bits_.data();
  uint64_t m = 0;
  if (has_short_) {
    for (unsigned j = 0; j < kBlock; ++j) {
      const uint32_t w = Load32(q + j) | kFold;
      const uint32_t h = Hash(w), g = w & 0xffffu;
      const uint32_t bit = ((lb[h >> 5] >> (h & 31)) | (sb[g >> 5] >> (g & 31))) & 1;
      m |= uint64_t{bit} << j;
    }
  } else {
    for (unsigned j = 0; j < kBlock; ++j) {
      const uint32_t h = Hash(Load32(q + j) | kFold);
      m |= uint64_t{(lb[h >> 5] >> (h & 31)) & 1} << j;
    }
  }
  return m;
}

// The AVX2 code: compiled for AVX2 whatever the build's baseline (a target
// attribute on each function, which gcc and clang both honour; clang ignores
// `#pragma GCC target`), called only when the CPU has it (constructor).
#define AG_AVX2 __attribute__((target("avx2")))
namespace {

// Lane l of the load at q + k holds the 4 bytes at position 4l + k: 1 in lane
// l when that position's candidate bit is set.
template <bool kShort>
AG_AVX2 inline __m256i BitAtAvx2(const unsigned char* q, int k, const int* lb, const int* sb,
                                 __m128i shift) {
  const __m256i fold = _mm256_set1_epi32(static_cast<int>(internal::kFold));
  const __m256i mul = _mm256_set1_epi32(static_cast<int>(internal::kMul));
  const __m256i low5 = _mm256_set1_epi32(31);
  const __m256i w =
      _mm256_or_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + k)), fold);
  const __m256i h = _mm256_srl_epi32(_mm256_mullo_epi32(w, mul), shift);
  const __m256i words = _mm256_i32gather_epi32(lb, _mm256_srli_epi32(h, 5), 4);
  __m256i bit = _mm256_srlv_epi32(words, _mm256_and_si256(h, low5));
  if constexpr (kShort) {
    const __m256i g = _mm256_and_si256(w, _mm256_set1_epi32(0xffff));
    const __m256i words2 = _mm256_i32gather_epi32(sb, _mm256_srli_epi32(g, 5), 4);
    bit = _mm256_or_si256(bit, _mm256_srlv_epi32(words2, _mm256_and_si256(g, low5)));
  }
  return _mm256_and_si256(bit, _mm256_set1_epi32(1));
}

// 32 positions from q: the candidate bit of position 4l + k goes to bit k of
// lane l.
template <bool kShort>
AG_AVX2 inline uint32_t Mask32Avx2(const unsigned char* q, const int* lb, const int* sb,
                                   __m128i shift) {
  const __m256i acc = _mm256_or_si256(
      _mm256_or_si256(BitAtAvx2<kShort>(q, 0, lb, sb, shift),
                      _mm256_slli_epi32(BitAtAvx2<kShort>(q, 1, lb, sb, shift), 1)),
      _mm256_or_si256(_mm256_slli_epi32(BitAtAvx2<kShort>(q, 2, lb, sb, shift), 2),
                      _mm256_slli_epi32(BitAtAvx2<kShort>(q, 3, lb, sb, shift), 3)));
  if (_mm256_testz_si256(acc, acc)) return 0;
  alignas(32) uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  uint32_t bits = 0;
  for (unsigned l = 0; l < 8; ++l) bits |= lanes[l] << (4 * l);
  return bits;
}

}  // namespace

AG_AVX2 uint64_t KeywordMatcher::MaskAvx2(const unsigned char* q) const {
  const int* lb = reinterpret_cast<const int*>(long_bits_.data());
  const int* sb = reinterpret_cast<const int*>(short_bits_.data());
  const __m128i shift = _mm_cvtsi32_si128(hash_shift_);
  if (has_short_)
    return Mask32Avx2<true>(q, lb, sb, shift) |
           uint64_t{Mask32Avx2<true>(q + 32, lb, sb, shift)} << 32;
  return Mask32Avx2<false>(q, lb, sb, shift) |
         uint64_t{Mask32Avx2<false>(q + 32, lb, sb, shift)} << 32;
}
#undef AG_AVX2

}  // namespace ag::scan
