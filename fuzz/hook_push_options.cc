// Fuzz target: push options as the pre-receive hook reads them from git's
// environment (GIT_PUSH_OPTION_COUNT, GIT_PUSH_OPTION_<n>): the count, the
// limits, the UTF-8 check, and the secret scan that masks an option before it
// is stored. That parser (PushOptions) is file-local to
// src/hook/pre_receive.cc, so this file compiles pre_receive.cc into itself
// (the rest of ag_hook is linked as usual; its pre_receive.o is not pulled).
//
// Input: "<GIT_PUSH_OPTION_COUNT>\n<option 0>\n<option 1>..."; an input
// without a newline leaves the count unset.
#include "hook/pre_receive.cc"  // NOLINT: for the file-local PushOptions

#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_support.h"

namespace {

struct Env {
  std::shared_ptr<const ag::scan::Scanner> scanner;
  Env() {
    auto s = ag::scan::Scanner::Create({});  // the built-in rules, as with a default policy
    if (!s.ok()) ag::fuzz::Fail("Scanner::Create");
    scanner = *s;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ag::fuzz::Fail;
  static Env* env = new Env;
  ag::hook::HookOptions options;
  options.max_push_options = 8;
  options.max_push_option_bytes = 512;
  ag::hook::HookInvocation inv;
  auto fields = ag::fuzz::Split(ag::fuzz::AsText(data, size), '\n', 1 + 2 * options.max_push_options);
  if (fields.size() > 1) {
    inv.env["GIT_PUSH_OPTION_COUNT"] = std::string(fields[0]);
    for (size_t i = 1; i < fields.size(); ++i) {
      inv.env["GIT_PUSH_OPTION_" + std::to_string(i - 1)] = std::string(fields[i]);
    }
  }
  std::vector<std::string> raw;
  auto stored = ag::hook::PushOptions(options, inv, *env->scanner, &raw);
  if (!stored.ok()) return 0;
  if (stored->size() != raw.size() || stored->size() > options.max_push_options) {
    Fail("push option counts disagree");
  }
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i].size() > options.max_push_option_bytes) Fail("an option over the limit");
    if (!ag::IsUtf8(raw[i])) Fail("a non-UTF-8 option accepted");
    if ((*stored)[i] != raw[i] && (*stored)[i] != ag::scan::Mask(raw[i])) {
      Fail("a stored option is neither the option nor its mask");
    }
  }
  return 0;
}
