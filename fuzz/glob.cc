// Fuzz target: glob patterns (ag::Glob, src/util/glob.h), as the policy uses
// them for paths, refs, identities and repos. Input: "<pattern>\n<name>";
// every compiled pattern is matched against the name and a few fixed ones.
// A pattern without wildcards, classes or escapes matches exactly itself.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "util/glob.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = ag::fuzz::Split(ag::fuzz::AsText(data, size), '\n', 2);
  std::string_view pattern = parts[0];
  std::string_view name = parts.size() > 1 ? parts[1] : std::string_view("refs/heads/agent/x");
  auto glob = ag::Glob::Compile(pattern);
  if (!glob.ok()) return 0;
  bool literal = pattern.find_first_of("*?[\\") == std::string_view::npos;
  bool matches = glob->Matches(name);
  if (literal && matches != (pattern == name)) ag::fuzz::Fail("a literal pattern misbehaves");
  if (literal && !glob->Matches(pattern)) ag::fuzz::Fail("a literal pattern misses itself");
  for (const char* fixed : {"", "a", "/", "a/b/c.pem", ".github/workflows/ci.yml", "]"}) {
    (void)glob->Matches(fixed);
  }
  return 0;
}
