// Times and durations as operators type them: "24h", "90d", "2w", "30m",
// "45s", or ISO 8601 instants ("2026-01-02", "2026-01-02T03:04:05Z",
// "2026-01-02T03:04:05+02:00"). Times are seconds since the epoch, as in the
// store; util/time.h (IsoUtc) writes them back as ISO 8601.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace ag::audit {

// "<n><unit>" with unit s, m, h, d or w (e.g. "90d"); a bare number is
// seconds. InvalidArgument otherwise, or when it overflows or is negative.
Result<int64_t> ParseDuration(std::string_view text);

// An ISO 8601 instant, or a duration meaning "that long before `now`".
Result<int64_t> ParseTimeSpec(std::string_view text, int64_t now);

}  // namespace ag::audit
