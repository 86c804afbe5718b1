// Fuzz target: the gitleaks TOML rule importer (scan::ParseGitleaksToml,
// src/scan/load_toml.cc) on arbitrary text, and CompileRules on what it
// accepts (every regex compiled, under a small memory budget). `[extend]
// useDefault = true` finds a small default config; relative `[extend] path`s
// resolve into a folder that does not exist.
#include <cstdint>
#include <string>

#include <re2/re2.h>

#include "fuzz_support.h"
#include "scan/rules.h"

namespace {

constexpr int64_t kMaxMem = 1 << 20;

const char kDefaultConfig[] = R"(title = "fuzz default"
[allowlist]
description = "global"
paths = ['''(^|/)vendor/''']
regexes = ['''EXAMPLE''']

[[rules]]
id = "aws-access-token"
regex = '''\b((?:AKIA|ASIA)[A-Z2-7]{16})\b'''
keywords = ["akia", "asia"]
entropy = 3

[[rules]]
id = "generic-api-key"
regex = '''(?i)api[_-]?key\s*[:=]\s*['"]?([a-z0-9]{20,})'''
keywords = ["api_key", "apikey"]
entropy = 3.5
[rules.allowlist]
stopwords = ["example"]
)";

struct Env {
  ag::fuzz::TempDir dir;
  ag::scan::LoadOptions options;
  Env() {
    options.gitleaks_default_config = dir / "gitleaks.toml";
    ag::fuzz::WriteFile(options.gitleaks_default_config, kDefaultConfig);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env* env = new Env;
  auto pack = ag::scan::ParseGitleaksToml(ag::fuzz::AsText(data, size),
                                          "/nonexistent/ag-fuzz/gitleaks.toml", env->options);
  if (!pack.ok()) return 0;
  auto set = ag::scan::CompileRules({*pack}, kMaxMem, /*eager=*/true);
  if (set.ok() && (*set)->rules.size() > pack->rules.size()) {
    ag::fuzz::Fail("more compiled rules than specs");
  }
  return 0;
}
