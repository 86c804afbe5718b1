#include "mirror/inflate.h"

#include <zlib.h>

#include <algorithm>
#include <string>

namespace ag::mirror {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

}  // namespace

Result<BodyEncoding> ParseContentEncoding(const std::vector<std::string_view>& fields) {
  int gzip = 0;
  for (std::string_view field : fields) {
    while (true) {
      size_t comma = field.find(',');
      std::string_view coding = Trim(field.substr(0, comma));
      if (IEquals(coding, "gzip") || IEquals(coding, "x-gzip")) {
        ++gzip;
      } else if (!coding.empty() && !IEquals(coding, "identity")) {
        return Status::InvalidArgument("unsupported Content-Encoding");
      }
      if (comma == std::string_view::npos) break;
      field.remove_prefix(comma + 1);
    }
  }
  if (gzip > 1) return Status::InvalidArgument("nested Content-Encoding");
  return gzip == 1 ? BodyEncoding::kGzip : BodyEncoding::kIdentity;
}

struct GzipInflater::Stream {
  z_stream z{};
  bool ready = false;
};

GzipInflater::GzipInflater(uint64_t max_output) : z_(new Stream), max_output_(max_output) {
  // 16 + MAX_WBITS: a gzip member only (not zlib, not raw deflate), like git.
  z_->ready = inflateInit2(&z_->z, 16 + MAX_WBITS) == Z_OK;
}

GzipInflater::~GzipInflater() {
  if (z_->ready) inflateEnd(&z_->z);
}

void GzipInflater::Feed(const char* data, size_t n) {
  z_->z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  z_->z.avail_in = static_cast<uInt>(n);
}

Result<size_t> GzipInflater::Next(char* out, size_t cap) {
  if (!z_->ready) return Status::Internal("inflate: zlib did not initialise");
  if (failed_) return Status::InvalidArgument("bad gzip body");
  z_stream& z = z_->z;
  if (finished_) {
    z.avail_in = 0;  // bytes after the gzip member are ignored
    return size_t{0};
  }
  // zlib may hold output back when the last call filled the buffer.
  if (z.avail_in == 0 && !output_full_) return size_t{0};
  Bytef* begin = reinterpret_cast<Bytef*>(out);
  z.next_out = begin;
  z.avail_out = static_cast<uInt>(std::min<size_t>(cap, 1u << 30));
  int rc;
  do {  // header bytes alone give no output: go on while input is consumed
    uInt before = z.avail_in;
    rc = inflate(&z, Z_NO_FLUSH);
    if (z.avail_in == before) break;
  } while (rc == Z_OK && z.avail_in > 0 && z.next_out == begin);
  size_t n = static_cast<size_t>(z.next_out - begin);
  output_full_ = z.avail_out == 0;
  if (rc == Z_STREAM_END) {
    finished_ = true;
    z.avail_in = 0;
  } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
    failed_ = true;
    return Status::InvalidArgument("bad gzip body");
  }
  total_out_ += n;
  if (total_out_ > max_output_) {
    failed_ = true;
    return Status::ResourceExhausted("gzip body inflates past the limit");
  }
  return n;
}

}  // namespace ag::mirror
