// Fuzz target: the agentgate YAML rule-pack loader (scan::ParseYamlPack,
// src/scan/load_yaml.cc) on arbitrary text, and CompileRules on what it
// accepts (every regex compiled, under a small memory budget).
#include <cstdint>
#include <string>

#include <re2/re2.h>

#include "fuzz_support.h"
#include "scan/rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto pack = ag::scan::ParseYamlPack(ag::fuzz::AsText(data, size), "fuzz.yaml");
  if (!pack.ok()) return 0;
  auto set = ag::scan::CompileRules({*pack}, /*max_mem=*/1 << 20, /*eager=*/true);
  if (set.ok() && (*set)->rules.size() > pack->rules.size()) {
    ag::fuzz::Fail("more compiled rules than specs");
  }
  return 0;
}
