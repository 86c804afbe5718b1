// Glob patterns over '/'-separated names (paths in a tree, ref names).
//
//   *    any run of characters except '/'
//   **   any run of characters including '/'; "**/" also matches nothing,
//        so "**/*.pem" matches "a.pem" and "x/y/a.pem"
//   ?    one character except '/'
//   [..] a character class, "[!..]" or "[^..]" negated, ranges "a-z"
//   \c   the character c literally
// A pattern matches the whole name. Matching is linear-bounded: no
// backtracking blow-up (memoised on pattern x name positions).
//
// Thread-safety: Glob is immutable after construction; share freely.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace ag {

class Glob {
 public:
  // Checks the syntax (unclosed '[', trailing '\', empty pattern).
  static Result<Glob> Compile(std::string_view pattern);

  bool Matches(std::string_view name) const;
  const std::string& pattern() const { return pattern_; }

 private:
  explicit Glob(std::string pattern) : pattern_(std::move(pattern)) {}
  std::string pattern_;
};

}  // namespace ag
