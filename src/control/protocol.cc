#include "control/protocol.h"

#include "review/workflow.h"

namespace ag::control {

nlohmann::json ErrorResponse(const Status& status) {
  return {{"ok", false},
          {"code", CodeName(status.code())},
          {"refused", review::IsRefusal(status.code())},
          {"error", status.message()}};
}

nlohmann::json OkResponse(nlohmann::json result) {
  return {{"ok", true}, {"result", std::move(result)}};
}

Code CodeFromName(std::string_view name) {
  for (int i = 1; i <= static_cast<int>(Code::kInternal); ++i) {
    if (CodeName(static_cast<Code>(i)) == name) return static_cast<Code>(i);
  }
  return Code::kInternal;
}

Status StatusFromResponse(const nlohmann::json& response) {
  std::string code, error;
  if (response.is_object()) {
    if (response.contains("code") && response["code"].is_string()) code = response["code"];
    if (response.contains("error") && response["error"].is_string()) error = response["error"];
  }
  if (error.empty()) error = "the daemon gave no reason";
  switch (CodeFromName(code)) {
    case Code::kInvalidArgument: return Status::InvalidArgument(error);
    case Code::kNotFound: return Status::NotFound(error);
    case Code::kAlreadyExists: return Status::AlreadyExists(error);
    case Code::kPermissionDenied: return Status::PermissionDenied(error);
    case Code::kUnauthenticated: return Status::Unauthenticated(error);
    case Code::kFailedPrecondition: return Status::FailedPrecondition(error);
    case Code::kConflict: return Status::Conflict(error);
    case Code::kUnavailable: return Status::Unavailable(error);
    case Code::kResourceExhausted: return Status::ResourceExhausted(error);
    case Code::kDeadlineExceeded: return Status::DeadlineExceeded(error);
    case Code::kCorruption: return Status::Corruption(error);
    case Code::kIo: return Status::Io(error);
    default: return Status::Internal(error);
  }
}

Result<int64_t> ParseRequestId(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("'" + std::string(text.substr(0, 40)) +
                                   "' is not a request id (" + why + ")");
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 19) return bad("too large");
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return bad("expected a positive whole number");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0) return bad("ids start at 1");
  if (v > static_cast<uint64_t>(INT64_MAX)) return bad("too large");
  return static_cast<int64_t>(v);
}

}  // namespace ag::control
