// Instants as text: seconds since the epoch (as the store keeps them) in ISO
// 8601 UTC, the one spelling the audit log, the control protocol and the logs
// use. Parsing what operators type lives in audit/time_spec.h.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace ag {

// Seconds since the epoch as ISO 8601 UTC, "2026-01-02T03:04:05Z".
std::string IsoUtc(int64_t seconds);

}  // namespace ag
