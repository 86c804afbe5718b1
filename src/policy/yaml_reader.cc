#include "policy/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <limits>
#include <sstream>
#include <tuple>
#include <utility>

#include <yaml-cpp/eventhandler.h>

namespace ag::policy {
namespace {

// Longest duration we accept: about 31,700 years. Keeps arithmetic far from
// overflow in every caller that adds it to a time point.
constexpr uint64_t kMaxDurationSeconds = 1'000'000'000'000ull;

constexpr const char* kStopMessage = "too many problems; stopping here";

std::string_view TypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "an undefined node";
  }
}

// Parses the leading decimal digits of `s` into `out`; returns how many
// characters were used (0 when none or on overflow).
size_t ParseDigits(std::string_view s, uint64_t* out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return 0;
    v = v * 10 + d;
    ++i;
  }
  *out = v;
  return i;
}

std::string Quote(std::string_view s) {
  std::string out = "'";
  // Values in messages are bounded: a huge scalar should not flood the output.
  if (s.size() > 80) {
    out.append(s.substr(0, 77));
    out += "...";
  } else {
    out.append(s);
  }
  out += "'";
  return out;
}

std::string JoinNames(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out.append(n);
  }
  return out;
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  const std::string bad = "bad duration " + Quote(text) + " (use e.g. 30s, 15m, 72h, 7d)";
  if (text == "0") return std::chrono::seconds(0);
  if (text.empty()) return Status::InvalidArgument(bad);
  uint64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    uint64_t n = 0;
    size_t used = ParseDigits(text.substr(i), &n);
    if (used == 0 || i + used >= text.size()) return Status::InvalidArgument(bad);
    i += used;
    uint64_t unit = 0;
    switch (text[i]) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return Status::InvalidArgument(bad);
    }
    ++i;
    if (n > kMaxDurationSeconds / unit || total + n * unit > kMaxDurationSeconds) {
      return Status::InvalidArgument("duration " + Quote(text) + " is too long");
    }
    total += n * unit;
  }
  return std::chrono::seconds(static_cast<int64_t>(total));
}

std::string FormatDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  if (s <= 0) return "0s";
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

Result<uint64_t> ParseSize(std::string_view text) {
  const std::string bad = "bad size " + Quote(text) + " (use e.g. 512, 10KiB, 5MiB, 1GiB)";
  uint64_t n = 0;
  size_t used = ParseDigits(text, &n);
  if (used == 0) return Status::InvalidArgument(bad);
  std::string_view unit = text.substr(used);
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "KiB") {
    shift = 10;
  } else if (unit == "MiB") {
    shift = 20;
  } else if (unit == "GiB") {
    shift = 30;
  } else if (unit == "TiB") {
    shift = 40;
  } else {
    return Status::InvalidArgument(bad);
  }
  if (shift > 0 && n > (std::numeric_limits<uint64_t>::max() >> shift)) {
    return Status::InvalidArgument("size " + Quote(text) + " is too large");
  }
  return n << shift;
}

std::string FormatSize(uint64_t bytes) {
  if (bytes == 0) return "0";
  static constexpr std::pair<int, const char*> kUnits[] = {
      {40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}};
  for (const auto& [shift, name] : kUnits) {
    uint64_t unit = uint64_t{1} << shift;
    if (bytes % unit == 0) return std::to_string(bytes >> shift) + name;
  }
  return std::to_string(bytes);
}

const Field* Map::Get(std::string_view key) const {
  for (const Field& f : fields_) {
    if (f.name == key) return &f;
  }
  return nullptr;
}

Reader::Reader(std::string file, std::vector<Problem>* problems)
    : file_(std::move(file)), problems_(problems), count_at_start_(problems->size()) {}

void Reader::Report(const YAML::Mark& mark, std::string message) {
  Problem p;
  p.file = file_;
  p.line = mark.is_null() || mark.line < 0 ? 1 : mark.line + 1;
  p.column = mark.is_null() || mark.column < 0 ? 1 : mark.column + 1;
  p.message = std::move(message);
  problems_->push_back(std::move(p));
  if (problems_->size() - count_at_start_ >= kMaxProblems) {
    Problem stop;
    stop.file = file_;
    stop.line = problems_->back().line;
    stop.column = problems_->back().column;
    stop.message = kStopMessage;
    problems_->push_back(std::move(stop));
    throw TooManyProblems();
  }
}

void Reader::Report(const YAML::Node& node, std::string message) {
  Report(node.IsDefined() ? node.Mark() : YAML::Mark::null_mark(), std::move(message));
}

namespace {

// Where each document of a stream starts, and its root node (parser events
// otherwise ignored).
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts, roots;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Root(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Root(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Root(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Root(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Root(mark);
  }
  void OnMapEnd() override {}

 private:
  void Root(const YAML::Mark& mark) {
    if (roots.size() < starts.size()) roots.push_back(mark);
  }
};

}  // namespace

std::optional<YAML::Node> Reader::Load(std::string_view text) {
  try {
    // Not YAML::LoadAll: in yaml-cpp 0.7 it never returns on a stray ','
    // (a document that consumes no token repeats forever, allocating:
    // jbeder/yaml-cpp#1040). The first document, then at most one more.
    const std::string input(text);
    YAML::Node first = YAML::Load(input);
    std::istringstream stream(input);
    YAML::Parser parser(stream);
    DocumentStarts docs;
    if (parser.HandleNextDocument(docs) && parser.HandleNextDocument(docs)) {
      if (docs.starts.size() == 2 && docs.starts[1].pos == docs.starts[0].pos) {
        Report(docs.starts[1], "YAML syntax error: unexpected token");
      } else {
        Report(docs.roots.size() == 2 ? docs.roots[1] : docs.starts.back(),
               "more than one YAML document; put everything in one");
      }
      return std::nullopt;
    }
    if (!first.IsDefined()) return YAML::Node(YAML::NodeType::Null);
    return first;
  } catch (const YAML::Exception& e) {
    Report(e.mark, "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    Report(YAML::Mark::null_mark(), std::string("cannot parse YAML: ") + e.what());
  }
  return std::nullopt;
}

std::optional<Map> Reader::ReadMap(const YAML::Node& node, std::string_view what,
                                   std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) {
    Report(node, std::string(what) + ": expected a mapping, got " + std::string(TypeName(node)));
    return std::nullopt;
  }
  Map map;
  map.node_ = node;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // A copy: `it->first` lives in a proxy destroyed at the end of this
    // statement (a reference to it dangles: ASan stack-use-after-scope).
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      Report(key, std::string(what) + ": keys must be plain names");
      continue;
    }
    const std::string& name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      Report(key, "unknown key " + Quote(name) + " in " + std::string(what) +
                      " (expected one of: " + JoinNames(allowed) + ")");
      continue;
    }
    if (map.Get(name) != nullptr) {
      Report(key, "duplicate key " + Quote(name) + " in " + std::string(what));
      continue;
    }
    map.fields_.push_back(Field{name, key, it->second});
  }
  return map;
}

const Field* Reader::Require(const Map& map, std::string_view key, std::string_view what) {
  const Field* f = map.Get(key);
  if (f == nullptr) {
    Report(map.node(), std::string(what) + ": missing required key " + Quote(key));
  }
  return f;
}

bool Reader::IsScalar(const Field& f, std::string_view expected) {
  if (f.value.IsScalar()) return true;
  Report(f.value.IsNull() ? f.key : f.value, f.name + ": expected " + std::string(expected) +
                                                  ", got " + std::string(TypeName(f.value)));
  return false;
}

std::optional<std::string> Reader::String(const Field& f) {
  if (!IsScalar(f, "a string")) return std::nullopt;
  return f.value.Scalar();
}

std::optional<bool> Reader::Bool(const Field& f) {
  if (!IsScalar(f, "true or false")) return std::nullopt;
  const std::string& s = f.value.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  Report(f.value, f.name + ": expected true or false, got " + Quote(s));
  return std::nullopt;
}

std::optional<int64_t> Reader::Int(const Field& f, int64_t min, int64_t max) {
  if (!IsScalar(f, "an integer")) return std::nullopt;
  const std::string& s = f.value.Scalar();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    Report(f.value, f.name + ": expected an integer, got " + Quote(s));
    return std::nullopt;
  }
  if (v < min || v > max) {
    Report(f.value, f.name + ": " + s + " is out of range (" + std::to_string(min) + " to " +
                        std::to_string(max) + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::seconds> Reader::Duration(const Field& f) {
  if (!IsScalar(f, "a duration")) return std::nullopt;
  Result<std::chrono::seconds> d = ParseDuration(f.value.Scalar());
  if (!d.ok()) {
    Report(f.value, f.name + ": " + d.status().message());
    return std::nullopt;
  }
  return *d;
}

std::optional<uint64_t> Reader::Size(const Field& f) {
  if (!IsScalar(f, "a size")) return std::nullopt;
  Result<uint64_t> s = ParseSize(f.value.Scalar());
  if (!s.ok()) {
    Report(f.value, f.name + ": " + s.status().message());
    return std::nullopt;
  }
  return *s;
}

std::optional<std::vector<std::string>> Reader::StringList(const Field& f) {
  if (!f.value.IsSequence()) {
    Report(f.value.IsNull() ? f.key : f.value,
           f.name + ": expected a list, got " + std::string(TypeName(f.value)));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool good = true;
  for (const YAML::Node& item : f.value) {
    if (!item.IsScalar()) {
      Report(item, f.name + ": expected a string, got " + std::string(TypeName(item)));
      good = false;
      continue;
    }
    out.push_back(item.Scalar());
  }
  if (!good) return std::nullopt;
  return out;
}

std::optional<std::vector<Glob>> Reader::GlobList(const Field& f) {
  if (!f.value.IsSequence()) {
    Report(f.value.IsNull() ? f.key : f.value,
           f.name + ": expected a list of glob patterns, got " + std::string(TypeName(f.value)));
    return std::nullopt;
  }
  std::vector<Glob> out;
  bool good = true;
  for (const YAML::Node& item : f.value) {
    if (!item.IsScalar()) {
      Report(item, f.name + ": expected a glob pattern, got " + std::string(TypeName(item)));
      good = false;
      continue;
    }
    Result<Glob> g = Glob::Compile(item.Scalar());
    if (!g.ok()) {
      Report(item, f.name + ": bad glob " + Quote(item.Scalar()) + ": " + g.status().message());
      good = false;
      continue;
    }
    out.push_back(std::move(g).value());
  }
  if (!good) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> Reader::StringMap(const Field& f) {
  if (!f.value.IsMap()) {
    Report(f.value.IsNull() ? f.key : f.value,
           f.name + ": expected a mapping, got " + std::string(TypeName(f.value)));
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  bool good = true;
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    if (!it->first.IsScalar() || !it->second.IsScalar()) {
      Report(it->first, f.name + ": expected string keys and string values");
      good = false;
      continue;
    }
    if (!out.emplace(it->first.Scalar(), it->second.Scalar()).second) {
      Report(it->first, "duplicate key " + Quote(it->first.Scalar()) + " in " + f.name);
      good = false;
    }
  }
  if (!good) return std::nullopt;
  return out;
}

std::string JoinProblems(std::vector<Problem>* problems) {
  // The "stopping here" note stays last.
  auto end = problems->end();
  if (!problems->empty() && problems->back().message == kStopMessage) --end;
  std::stable_sort(problems->begin(), end, [](const Problem& a, const Problem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  std::string out;
  for (const Problem& p : *problems) {
    if (!out.empty()) out += '\n';
    out += p.ToString();
  }
  return out;
}

std::string ResolveAgainst(const std::string& file, const std::string& path) {
  if (path.empty()) return path;
  std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  std::error_code ec;
  std::filesystem::path base = std::filesystem::absolute(std::filesystem::path(file), ec);
  if (ec) base = std::filesystem::path(file);
  return (base.parent_path() / p).lexically_normal().string();
}

}  // namespace ag::policy
