// What the agent said it was doing, in its commits: the trailers of their
// messages (`Agent-Session: ...`, `Prompt-Id: ...`, `Co-authored-by: ...`,
// any `Key: value` of the message's last paragraph). The hook records them
// with the push (requests.trailers_json, the push.decision audit event);
// `agentgate show` displays them with the push options, so a reviewer can
// tie a change to the prompt that produced it.
//
// Thread-safety: pure functions (CollectTrailers reads the repository it is
// given; one thread per repository handle).
#pragma once

#include <git2.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scan/scanner.h"
#include "util/status.h"

namespace ag::hook {

inline constexpr size_t kMaxTrailers = 50;          // per ref update
inline constexpr size_t kMaxTrailerValue = 200;     // bytes; longer values are cut ("...")
inline constexpr size_t kMaxTrailerCommits = 200;   // newest commits read per ref update

struct Trailer {
  std::string key;     // as written ("Co-authored-by")
  std::string value;   // masked when it holds a secret, cut at kMaxTrailerValue
  std::string commit;  // the newest commit that carries it
};

// The trailers of one message, in order: the lines of its last paragraph,
// when each is `Key: value` (Key: a letter, then letters, digits and '-', at
// most 64) or continues the previous one (starts with a space or tab); else
// none. As git interpret-trailers reads them, without its 25% leniency.
std::vector<std::pair<std::string, std::string>> ParseTrailers(std::string_view message);

// The trailers of `commits` (oldest first, as RefDecision::commits), the
// newest commits first, each (key, value) once, at most kMaxTrailers. A
// value the scanner finds a secret in is stored as its masked form.
Result<std::vector<Trailer>> CollectTrailers(git_repository* repo,
                                             const std::vector<std::string>& commits,
                                             const scan::Scanner& scanner);

}  // namespace ag::hook
