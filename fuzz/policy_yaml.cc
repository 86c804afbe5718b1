// Fuzz target: the policy loader (policy::ParsePolicy, the strict YAML reader
// behind it) on arbitrary text, then the loaded policy's lookups. Also the
// duration and size spellings on the first line, which must round-trip.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "policy/policy.h"
#include "policy/yaml_reader.h"

namespace {

using ag::fuzz::Fail;

void Lookups(const ag::policy::Policy& p) {
  static const char* const kIdentities[] = {"agent-ci", "local:alice", "gha:repo:org/x", ""};
  static const char* const kPaths[] = {"README.md", ".github/workflows/ci.yml", "a/b/c.pem", ""};
  for (const char* id : kIdentities) {
    const ag::policy::Profile* profile = p.ProfileFor(id, {"agents", "ci"}, "demo");
    if (!profile) continue;
    profile->MayPush("refs/heads/agent/x");
    profile->MayPush("refs/tags/v1");
    for (const ag::policy::Rule* rule : p.RulesFor(*profile)) {
      if (p.FindRule(rule->id) == nullptr) Fail("RulesFor gave a rule FindRule does not know");
      for (const char* path : kPaths) rule->AppliesToPath(path);
    }
  }
}

void RoundTrips(std::string_view line) {
  using namespace ag::policy;
  if (auto d = ParseDuration(line); d.ok()) {
    auto again = ParseDuration(FormatDuration(*d));
    if (!again.ok() || *again != *d) Fail("FormatDuration does not round-trip");
  }
  if (auto s = ParseSize(line); s.ok()) {
    auto again = ParseSize(FormatSize(*s));
    if (!again.ok() || *again != *s) Fail("FormatSize does not round-trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = ag::fuzz::AsText(data, size);
  RoundTrips(text.substr(0, std::min<size_t>(text.find('\n'), 64)));
  std::vector<ag::policy::Problem> problems;
  auto policy = ag::policy::ParsePolicy(text, "/etc/agentgate/policy.yaml", &problems);
  if (!policy.ok()) {
    if (problems.empty()) Fail("a refused policy without problems");
    if (problems.size() > ag::policy::kMaxProblems + 1) Fail("more problems than kMaxProblems");
    for (const auto& p : problems) {
      if (p.line < 1 || p.column < 1) Fail("a problem without a 1-based position");
    }
    return 0;
  }
  Lookups(**policy);
  return 0;
}
