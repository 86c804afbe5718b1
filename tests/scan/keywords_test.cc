// KeywordMatcher against a naive reference: random texts and keyword sets
// (1 to 12 bytes, punctuation, high bytes, case), both filters (AVX2 where
// the CPU has it, and scalar), every text length around the 64-byte blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "scan/keywords.h"

namespace ag::scan {
namespace {

using Hits = std::vector<std::pair<size_t, uint32_t>>;

Hits Naive(const std::vector<std::string>& keywords, std::string_view text) {
  Hits out;
  auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; };
  for (size_t i = 0; i < text.size(); ++i)
    for (uint32_t k = 0; k < keywords.size(); ++k) {
      const std::string& w = keywords[k];
      if (w.size() > text.size() - i) continue;
      size_t j = 0;
      while (j < w.size() && lower(static_cast<unsigned char>(text[i + j])) ==
                                 static_cast<unsigned char>(w[j]))
        ++j;
      if (j == w.size()) out.push_back({i + w.size(), k});
    }
  return out;
}

Hits Collect(const KeywordMatcher& m, std::string_view text) {
  Hits out;
  m.Scan(text, [&](size_t end, uint32_t k) {
    out.push_back({end, k});
    return true;
  });
  return out;
}

TEST(KeywordMatcherTest, FindsOverlappingKeywordsCaseInsensitively) {
  for (bool simd : {true, false}) {
    KeywordMatcher m({"he", "she", "hers", "his"}, simd);
    Hits hits = Collect(m, "uSHErs and HIS");
    Hits want = {{4, 1}, {4, 0}, {6, 2}, {14, 3}};
    std::sort(hits.begin(), hits.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(hits, want);
  }
}

TEST(KeywordMatcherTest, UpperCaseKeywordBytesNeverMatch) {
  KeywordMatcher m({"Token"});
  EXPECT_TRUE(Collect(m, "Token token TOKEN").empty());
}

TEST(KeywordMatcherTest, HitsComeInOrderOfStart) {
  KeywordMatcher m({"abcdef", "cd", "b", "xyz"});
  std::string text = std::string(100, '.') + "abcdef" + std::string(70, '-') + "xyzabcdef";
  Hits hits = Collect(m, text);
  std::vector<size_t> starts;
  const size_t len[] = {6, 2, 1, 3};
  for (auto [end, k] : hits) starts.push_back(end - len[k]);
  EXPECT_TRUE(std::is_sorted(starts.begin(), starts.end()));
  EXPECT_EQ(hits.size(), 7u);
}

TEST(KeywordMatcherTest, MatchesNaiveReferenceOnRandomInput) {
  std::mt19937 rng(20261125);
  // A small alphabet makes hits frequent; it holds the case-fold traps
  // ('_' vs DEL, '@' vs '`', '[' vs '{') and high bytes.
  const std::string alphabet = "abcdeABCDE_-.:@`[{ \n\x7f\xc3\xa9" "0123";
  auto pick = [&](size_t n, bool lower) {
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      char c = alphabet[rng() % alphabet.size()];
      if (lower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      s.push_back(c);
    }
    return s;
  };
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> keywords;
    size_t nk = 1 + rng() % 40;
    for (size_t i = 0; i < nk; ++i) keywords.push_back(pick(1 + rng() % 12, true));
    if (round % 3 == 0) keywords.erase(std::remove_if(keywords.begin(), keywords.end(),
                                                      [](auto& k) { return k.size() < 3; }),
                                       keywords.end());
    if (keywords.empty()) keywords.push_back("abcd");
    std::string text = pick(rng() % 400, false);
    for (bool simd : {true, false}) {
      KeywordMatcher m(keywords, simd);
      Hits got = Collect(m, text), want = Naive(keywords, text);
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
      Hits missing, extra;
      std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                          std::back_inserter(missing));
      std::set_difference(got.begin(), got.end(), want.begin(), want.end(),
                          std::back_inserter(extra));
      for (auto [end, k] : missing)
        ADD_FAILURE() << "missing end " << end << " keyword '" << keywords[k] << "' of "
                      << keywords.size() << " text size " << text.size();
      for (auto [end, k] : extra) ADD_FAILURE() << "extra end " << end << " keyword " << k;
      ASSERT_EQ(got, want) << "round " << round << " simd " << simd;
    }
  }
}

TEST(KeywordMatcherTest, EveryLengthAroundBlocks) {
  KeywordMatcher simd({"token", "aws", "ey", "k"}, true), scalar({"token", "aws", "ey", "k"}, false);
  for (size_t n = 0; n < 200; ++n) {
    for (size_t at = 0; at + 5 <= n; at += 7) {
      std::string text(n, ' ');
      text.replace(at, 5, "TOKEN");
      if (n >= at + 8) text.replace(n - 3, 3, "AwS");  // a keyword ending the text
      Hits want = Naive({"token", "aws", "ey", "k"}, text);
      Hits a = Collect(simd, text), b = Collect(scalar, text);
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      std::sort(want.begin(), want.end());
      ASSERT_EQ(a, want) << n << " " << at;
      ASSERT_EQ(b, want) << n << " " << at;
    }
  }
}

TEST(KeywordMatcherTest, StopsWhenAsked) {
  KeywordMatcher m({"ab"});
  int calls = 0;
  m.Scan(std::string(500, 'a') + "ababab", [&](size_t, uint32_t) { return ++calls < 2; });
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace ag::scan
