// Offline checksums of token formats (rules.h): GitHub's and npm's tokens end
// in a CRC32 of their random part in base62.
#include <zlib.h>

#include "scan/rules.h"

namespace ag::scan {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kPayload = 30;
constexpr size_t kCheck = 6;

}  // namespace

std::string_view ChecksumKindName(ChecksumKind kind) {
  return kind == ChecksumKind::kCrc32Base62 ? "crc32-base62" : "";
}

ChecksumKind ChecksumKindFromName(std::string_view name) {
  return name == "crc32-base62" ? ChecksumKind::kCrc32Base62 : ChecksumKind::kNone;
}

std::string Crc32Base62(std::string_view payload) {
  uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  std::string out(kCheck, '0');
  for (size_t i = kCheck; i > 0 && crc != 0; --i) {
    out[i - 1] = kBase62[crc % 62];
    crc /= 62;
  }
  return out;
}

bool VerifyChecksum(ChecksumKind kind, std::string_view secret) {
  if (kind != ChecksumKind::kCrc32Base62) return false;
  size_t us = secret.rfind('_');
  if (us == std::string_view::npos) return false;
  std::string_view rest = secret.substr(us + 1);
  if (rest.size() != kPayload + kCheck) return false;
  return Crc32Base62(rest.substr(0, kPayload)) == rest.substr(kPayload);
}

}  // namespace ag::scan
