#include "util/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <string>

#include "util/time.h"

namespace ag {
namespace {

std::atomic<int> g_level{-1};

int Level() {
  int l = g_level.load(std::memory_order_relaxed);
  if (l >= 0) return l;
  l = static_cast<int>(LogLevel::kInfo);
  if (const char* env = std::getenv("AGENTGATE_LOG_LEVEL")) {
    std::string v = env;
    if (v == "debug") l = 0;
    else if (v == "warn") l = 2;
    else if (v == "error") l = 3;
  }
  g_level.store(l, std::memory_order_relaxed);
  return l;
}

void AppendValue(std::string* out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out->append(v);
    return;
  }
  out->push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < Level()) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  std::string line = "ts=";
  line += IsoUtc(std::time(nullptr));
  line += " level=";
  line += kNames[static_cast<int>(level)];
  line += " event=";
  AppendValue(&line, event);
  for (const LogField& f : fields) {
    line.push_back(' ');
    line.append(f.first);
    line.push_back('=');
    AppendValue(&line, f.second);
  }
  line.push_back('\n');
  ssize_t unused = ::write(2, line.data(), line.size());
  (void)unused;
}

}  // namespace ag
