// Fuzz target: the ref update lines git writes to pre-receive and
// post-receive stdin ("<old> <new> <ref>\n", git::ParseRefUpdates in
// src/git/inspect.h), and what the hook derives from each update: the
// upstream tracking ref, hidden-Unicode check and terminal escaping of the
// ref name. Parsed updates must print back to lines that parse the same.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "git/inspect.h"
#include "util/display.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ag::fuzz::Fail;
  constexpr size_t kMaxUpdates = 16;
  auto updates = ag::git::ParseRefUpdates(ag::fuzz::AsText(data, size), kMaxUpdates);
  if (!updates.ok()) return 0;
  if (updates->size() > kMaxUpdates) Fail("more updates than max_updates");
  std::string again;
  for (const ag::git::RefUpdate& u : *updates) {
    if (u.ref_name.empty()) Fail("an empty ref name");
    (void)u.is_create();
    (void)u.is_delete();
    if (ag::git::UpstreamTrackingRef(u.ref_name).rfind("refs/agentgate/upstream/", 0) != 0) {
      Fail("UpstreamTrackingRef outside refs/agentgate/upstream/");
    }
    (void)ag::HasHiddenUnicode(u.ref_name);
    std::string shown = ag::EscapeForTerminal(u.ref_name);
    if (shown.size() > 4 * u.ref_name.size()) Fail("EscapeForTerminal past 4 bytes per byte");
    for (unsigned char c : shown) {
      if (c < 0x20 && c != '\t') Fail("EscapeForTerminal let a control byte through");
    }
    again += u.old_oid + " " + u.new_oid + " " + u.ref_name + "\n";
  }
  auto reparsed = ag::git::ParseRefUpdates(again, kMaxUpdates);
  if (!reparsed.ok() || reparsed->size() != updates->size()) Fail("updates do not round-trip");
  for (size_t i = 0; i < updates->size(); ++i) {
    const auto &a = (*updates)[i], &b = (*reparsed)[i];
    if (a.old_oid != b.old_oid || a.new_oid != b.new_oid || a.ref_name != b.ref_name) {
      Fail("an update changed on the round trip");
    }
  }
  return 0;
}
