#include "mirror/inflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace ag::mirror {
namespace {

std::string Gzip(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Feeds `in` in pieces of `piece` bytes, reading with a `cap`-byte buffer.
Result<std::string> InflateAll(GzipInflater* z, const std::string& in, size_t piece, size_t cap) {
  std::string out;
  std::string buf(cap, '\0');
  for (size_t off = 0; off < in.size(); off += piece) {
    z->Feed(in.data() + off, std::min(piece, in.size() - off));
    while (true) {
      Result<size_t> n = z->Next(buf.data(), cap);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      out.append(buf.data(), *n);
    }
  }
  return out;
}

TEST(ContentEncodingTest, Table) {
  struct Case {
    std::vector<std::string_view> fields;
    int want;  // 0 identity, 1 gzip, -1 error
  } cases[] = {
      {{}, 0},
      {{""}, 0},
      {{"identity"}, 0},
      {{"gzip"}, 1},
      {{"GZip"}, 1},
      {{"x-gzip"}, 1},
      {{" gzip , identity"}, 1},
      {{"deflate"}, -1},
      {{"br"}, -1},
      {{"gzip, gzip"}, -1},      // nested
      {{"gzip", "x-gzip"}, -1},  // two fields
      {{"gzip", "deflate"}, -1},
  };
  for (const Case& c : cases) {
    Result<BodyEncoding> r = ParseContentEncoding(c.fields);
    std::string what = c.fields.empty() ? "(none)" : std::string(c.fields[0]);
    if (c.want < 0) {
      EXPECT_FALSE(r.ok()) << what;
    } else {
      ASSERT_TRUE(r.ok()) << what;
      EXPECT_EQ(*r == BodyEncoding::kGzip, c.want == 1) << what;
    }
  }
}

TEST(GzipInflaterTest, RoundTripsInAnyPieces) {
  std::string data;
  for (int i = 0; i < 20000; ++i) data += "0032have " + std::to_string(i * 7919) + "\n";
  std::string gz = Gzip(data);
  for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, gz.size()}) {
    for (size_t cap : {size_t{1}, size_t{100}, size_t{65536}}) {
      GzipInflater z(data.size());
      Result<std::string> out = InflateAll(&z, gz, piece, cap);
      ASSERT_TRUE(out.ok()) << out.status().message();
      EXPECT_EQ(*out, data) << piece << " " << cap;
      EXPECT_TRUE(z.finished());
      EXPECT_EQ(z.total_out(), data.size());
    }
  }
}

TEST(GzipInflaterTest, BombStopsAtTheLimit) {
  std::string zeros(64 << 20, '\0');
  std::string gz = Gzip(zeros);
  ASSERT_LT(gz.size(), 100u << 10);  // a ~1000:1 bomb
  GzipInflater z(1 << 20);
  Result<std::string> out = InflateAll(&z, gz, 65536, 65536);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kResourceExhausted);
  EXPECT_LE(z.total_out(), (1u << 20) + 65536);
  // Exactly at the limit is fine.
  GzipInflater exact(64 << 20);
  EXPECT_TRUE(InflateAll(&exact, gz, 65536, 65536).ok());
}

TEST(GzipInflaterTest, GarbageTruncationAndTrailingBytes) {
  GzipInflater bad(1 << 20);
  Result<std::string> out = InflateAll(&bad, "this is not gzip at all", 100, 100);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kInvalidArgument);

  std::string gz = Gzip("hello, world\n");
  GzipInflater truncated(1 << 20);
  out = InflateAll(&truncated, gz.substr(0, gz.size() - 4), 100, 100);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(truncated.finished());  // the caller answers 400

  GzipInflater trailing(1 << 20);
  out = InflateAll(&trailing, gz + "trailing junk", 5, 100);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "hello, world\n");
  EXPECT_TRUE(trailing.finished());
}

}  // namespace
}  // namespace ag::mirror
