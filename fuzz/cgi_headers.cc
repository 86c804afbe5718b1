// Fuzz target: the header block git http-backend writes before its body, as
// agentgate-mirror reads it (mirror::CgiHeaderParser::Feed, mirror/cgi.cc),
// fed in pieces the way bytes arrive from a pipe. The first input byte picks
// the piece sizes; the rest is the child's output. Checks: Feed never claims
// more bytes than it was given, stops at the blank line, and a parsed status
// is a 3-digit code.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "mirror/cgi.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ag::fuzz::Fail;
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;  // 1..64 bytes per read
  std::string_view out = ag::fuzz::AsText(data + 1, size - 1);
  ag::mirror::CgiHeaderParser parser;
  size_t header_bytes = 0;
  while (!out.empty() && !parser.done()) {
    std::string_view chunk = out.substr(0, piece + (out.size() > 4096 ? 4096 : 0));
    auto used = parser.Feed(chunk);
    if (!used.ok()) return 0;  // the mirror answers 502 and stops reading
    if (*used > chunk.size()) Fail("Feed used more bytes than it was given");
    if (!parser.done() && *used != chunk.size()) Fail("Feed left bytes before the header end");
    header_bytes += *used;
    out.remove_prefix(chunk.size());
  }
  if (parser.done()) {
    if (parser.status() < 100 || parser.status() > 599) Fail("status out of range");
    if (header_bytes > ag::mirror::CgiHeaderParser::kMaxHeaderBytes + 4) Fail("header too long");
    std::string_view all = ag::fuzz::AsText(data + 1, size - 1);
    std::string_view head = all.substr(0, header_bytes);
    if (!(head.ends_with("\n\n") || head.ends_with("\r\n\r\n"))) Fail("header not ended by a blank line");
    auto again = parser.Feed("more");
    if (!again.ok() || *again != 0) Fail("Feed after done takes bytes");
  }
  return 0;
}
