// Strict YAML reading for agentgate's own files (the policy, the daemon
// configuration): every problem becomes a Problem with a 1-based
// FILE:LINE:COL, unknown and duplicate keys are problems, scalars are typed
// strictly, and yaml-cpp exceptions never leave this file. The policy and the
// config loaders (ag_policy, ag_config) share it.
//
// Usage: a Reader collects problems while a loader walks the document; typed
// readers return std::nullopt after reporting, so a loader keeps going and
// reports every problem in one pass.
//
// Thread-safety: a Reader is used by one thread; the free functions are pure.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <exception>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "util/glob.h"
#include "util/status.h"

namespace ag::policy {

// "30s", "15m", "72h", "7d", compounds "1h30m"; "0" alone is zero. Fails with
// InvalidArgument on anything else or on overflow.
Result<std::chrono::seconds> ParseDuration(std::string_view text);
// The shortest exact spelling: 259200s -> "3d", 90s -> "90s", 5400s -> "90m".
std::string FormatDuration(std::chrono::seconds d);
// "512", "512B", "10KiB", "5MiB", "1GiB", "1TiB" (binary units only).
Result<uint64_t> ParseSize(std::string_view text);
// The shortest exact spelling: 10485760 -> "10MiB", 1000 -> "1000".
std::string FormatSize(uint64_t bytes);

// A key and its value, as found in a mapping.
struct Field {
  std::string name;
  YAML::Node key;
  YAML::Node value;
};

// A checked mapping: known keys only, no duplicates.
class Map {
 public:
  // The field named `key`, or nullptr when absent.
  const Field* Get(std::string_view key) const;
  const YAML::Node& node() const { return node_; }

 private:
  friend class Reader;
  YAML::Node node_;
  std::vector<Field> fields_;
};

// Thrown by Reader::Report once a document has kMaxProblems problems, so a
// hostile or garbled file (aliases repeating a bad node) cannot make the walk
// run long or the output huge. Loaders catch it; it never leaves ag_policy
// or ag_config.
struct TooManyProblems : std::exception {
  const char* what() const noexcept override { return "too many problems"; }
};
inline constexpr size_t kMaxProblems = 100;

class Reader {
 public:
  // `file` names the file in messages; problems are appended to `problems`.
  // REQUIRES: `problems` outlives the Reader.
  Reader(std::string file, std::vector<Problem>* problems);

  const std::string& file() const { return file_; }
  bool has_problems() const { return problems_->size() > count_at_start_; }

  // Reports a problem at `mark` (0-based from yaml-cpp; a null mark gives
  // 1:1). The kMaxProblems-th problem is followed by a "stopping" note and
  // TooManyProblems is thrown.
  void Report(const YAML::Mark& mark, std::string message);
  void Report(const YAML::Node& node, std::string message);

  // Parses one YAML document. Syntax errors and a second document are
  // reported; returns std::nullopt then. An empty text gives a Null node.
  std::optional<YAML::Node> Load(std::string_view text);

  // Checks that `node` is a mapping whose keys are all in `allowed`, with no
  // key twice. Unknown and duplicate keys are reported at the key and left
  // out; a node that is not a mapping is reported (`what` names it) and gives
  // std::nullopt.
  std::optional<Map> ReadMap(const YAML::Node& node, std::string_view what,
                             std::initializer_list<std::string_view> allowed);
  // Reports a missing required key at the mapping; returns the field or nullptr.
  const Field* Require(const Map& map, std::string_view key, std::string_view what);

  // Typed values. Each reports at the value (or the key when the value is
  // empty) and returns std::nullopt on a problem.
  std::optional<std::string> String(const Field& f);
  std::optional<bool> Bool(const Field& f);
  std::optional<int64_t> Int(const Field& f, int64_t min, int64_t max);
  std::optional<std::chrono::seconds> Duration(const Field& f);
  std::optional<uint64_t> Size(const Field& f);
  // A sequence of strings; every bad element is reported.
  std::optional<std::vector<std::string>> StringList(const Field& f);
  // A sequence of glob patterns compiled with ag::Glob::Compile.
  std::optional<std::vector<Glob>> GlobList(const Field& f);
  // A mapping of string to string.
  std::optional<std::map<std::string, std::string>> StringMap(const Field& f);

 private:
  bool IsScalar(const Field& f, std::string_view expected);
  std::string file_;
  std::vector<Problem>* problems_;
  size_t count_at_start_;
};

// Sorts problems by position (stable) and joins them, one
// "FILE:LINE:COL: message" per line.
std::string JoinProblems(std::vector<Problem>* problems);

// Resolves `path` against the folder of `file` when it is relative; an
// empty path stays empty.
std::string ResolveAgainst(const std::string& file, const std::string& path);

}  // namespace ag::policy
