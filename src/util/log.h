// Structured logging: one event per line on stderr, logfmt style, which
// journald stores as is:
//   ts=2026-11-25T00:41:03Z level=info event=request id=ab12 status=200
// Values with spaces, quotes or '=' are quoted. Never pass a secret or a
// token as a value: mask it first (scan::Mask) or pass a fingerprint.
//
// Thread-safety: Log() may be called from any thread; each line is written
// with one write(2) so lines never interleave.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ag {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string>;

// Lines below this level are dropped. Default kInfo; AGENTGATE_LOG_LEVEL
// (debug|info|warn|error) overrides it at first use.
void SetLogLevel(LogLevel level);

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

inline void LogInfo(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, event, fields);
}
inline void LogWarn(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarn, event, fields);
}
inline void LogError(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, event, fields);
}

}  // namespace ag
