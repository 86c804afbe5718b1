#include "identity/jwt.h"

#include <optional>

#include "identity/base64.h"

namespace ag::identity {
namespace {

struct Parts {
  std::string_view header, payload, signature;
};

std::optional<Parts> Split(std::string_view token) {
  size_t a = token.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = token.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  if (token.find('.', b + 1) != std::string_view::npos) return std::nullopt;
  Parts p{token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
  if (!IsBase64Url(p.header) || !IsBase64Url(p.payload)) return std::nullopt;
  if (!p.signature.empty() && !IsBase64Url(p.signature)) return std::nullopt;
  return p;
}

std::optional<nlohmann::json> DecodeObject(std::string_view segment) {
  std::optional<std::string> raw = Base64UrlDecode(segment);
  if (!raw) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

}  // namespace

bool LooksLikeJwt(std::string_view token) { return Split(token).has_value(); }

Result<Jwt> ParseJwt(std::string_view token) {
  std::optional<Parts> parts = Split(token);
  if (!parts) return Status::Unauthenticated("malformed token");
  std::optional<nlohmann::json> header = DecodeObject(parts->header);
  std::optional<nlohmann::json> claims = DecodeObject(parts->payload);
  std::optional<std::string> signature = Base64UrlDecode(parts->signature);
  if (!header || !claims || !signature) return Status::Unauthenticated("malformed token");
  Jwt jwt;
  jwt.signing_input = std::string(token.substr(0, parts->header.size() + 1 + parts->payload.size()));
  jwt.signature = std::move(*signature);
  jwt.header = std::move(*header);
  jwt.claims = std::move(*claims);
  return jwt;
}

}  // namespace ag::identity
