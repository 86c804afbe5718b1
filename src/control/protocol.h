// The control socket protocol between `agentgate` (the reviewer's CLI) and
// agentgate-mirror: a Unix stream socket; the client writes one JSON object
// per line, the daemon answers each with one JSON object per line.
//
//   -> {"cmd":"list","repo":"demo","status":"pending","limit":100}
//   -> {"cmd":"show","id":42}
//   -> {"cmd":"approve","id":42,"ref":"refs/heads/agent/x","old":"<oid>","new":"<oid>","comment":"lgtm"}
//   -> {"cmd":"reject","id":42,"reason":"touches CI secrets"}
//   -> {"cmd":"retry","id":42}
//   <- {"ok":true,"result":...}
//   <- {"ok":false,"code":"not_found","refused":true,"error":"alice is not a reviewer of request 42 ..."}
//
// Who is asking is never part of a request: the daemon reads the caller's uid
// from the socket (SO_PEERCRED). `refused` is true for a workflow refusal
// (CLI exit 1), false for a usage or system error (CLI exit 2).
//
// Thread-safety: plain functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/status.h"

namespace ag::control {

inline constexpr size_t kDefaultMaxRequestBytes = 64 << 10;  // one request line
inline constexpr int kDefaultListLimit = 100;
inline constexpr int kMaxListLimit = 10000;

// {"ok":false,"code":...,"refused":...,"error":...} for a non-OK status.
nlohmann::json ErrorResponse(const Status& status);
nlohmann::json OkResponse(nlohmann::json result);

// A Status from an error response (code parsed back from its name).
Status StatusFromResponse(const nlohmann::json& response);

// Code from its CodeName() spelling; kInternal when unknown.
Code CodeFromName(std::string_view name);

// A request id: decimal digits only, 1 .. 2^63-1. InvalidArgument otherwise,
// with a message naming the text.
Result<int64_t> ParseRequestId(std::string_view text);

}  // namespace ag::control
