// Request bodies sent with Content-Encoding: gzip. git gzips fetch
// negotiation (upload-pack) bodies over 1 KiB; git http-backend would inflate
// them itself with no bound, so a small gzip bomb could feed gigabytes to
// upload-pack or into a push's quarantine. The mirror inflates instead, with
// a limit on the inflated size, and hands the child the plain body (no
// HTTP_CONTENT_ENCODING, no CONTENT_LENGTH). docs/mirror.md "Request bodies".
//
// Thread-safety: ParseContentEncoding is pure; a GzipInflater is used by one
// request at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace ag::mirror {

enum class BodyEncoding { kIdentity, kGzip };

// The body encoding named by a request's Content-Encoding fields (each may be
// a comma list; case-insensitive). None, empty or "identity": kIdentity; one
// "gzip" / "x-gzip": kGzip. Errors (InvalidArgument, answered 415): any other
// coding, or gzip twice (nested encodings).
Result<BodyEncoding> ParseContentEncoding(const std::vector<std::string_view>& fields);

// Streaming gzip inflation with a bound on the output. Not copyable.
//
//   GzipInflater z(limit);
//   z.Feed(data, n);  // borrowed: valid until Next() returns 0
//   for (;;) {
//     Result<size_t> out = z.Next(buf, cap);
//     if (!out.ok()) ...;    // 413 (ResourceExhausted) / 400
//     if (*out == 0) break;  // feed more; at the end of the body check finished()
//     write(buf, *out);
//   }
class GzipInflater {
 public:
  // `max_output`: the inflated bytes allowed in total.
  explicit GzipInflater(uint64_t max_output);
  ~GzipInflater();
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;

  // Hands the next input bytes over (borrowed until Next() returns 0).
  // REQUIRES: the previous input is consumed (Next() returned 0).
  void Feed(const char* data, size_t n);

  // Inflates up to `cap` bytes into `out`. Returns the count; 0 when the
  // input is consumed (or the stream ended: bytes after the gzip member are
  // ignored, as git http-backend does). Errors: ResourceExhausted when the
  // output would pass max_output (nothing of the excess is returned);
  // InvalidArgument for data that is not gzip.
  Result<size_t> Next(char* out, size_t cap);

  // The gzip member ended (its trailer checked). A body that ends before
  // that is truncated.
  bool finished() const { return finished_; }
  uint64_t total_out() const { return total_out_; }

 private:
  struct Stream;
  std::unique_ptr<Stream> z_;
  uint64_t max_output_;
  uint64_t total_out_ = 0;
  bool finished_ = false;
  bool failed_ = false;
  bool output_full_ = false;  // the last Next() filled `cap`: zlib may hold more
};

}  // namespace ag::mirror
