#include "policy/policy.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ag::policy {
namespace {

namespace fs = std::filesystem;

// A temporary folder removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ag-policy-test-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    fs::path p = fs::path(path_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  std::string path_;
};

std::shared_ptr<const Policy> MustParse(const std::string& yaml) {
  std::vector<Problem> problems;
  Result<std::shared_ptr<const Policy>> p = ParsePolicy(yaml, "p.yaml", &problems);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(problems.empty());
  return p.ok() ? *p : nullptr;
}

std::vector<std::string> Patterns(const std::vector<Glob>& globs) {
  std::vector<std::string> out;
  for (const Glob& g : globs) out.push_back(g.pattern());
  return out;
}

TEST(PolicyTest, NamesRoundTrip) {
  for (Outcome o : {Outcome::kAllow, Outcome::kHold, Outcome::kBlock}) {
    EXPECT_EQ(ParseOutcome(OutcomeName(o)), o);
  }
  EXPECT_FALSE(ParseOutcome("deny").has_value());
  for (int k = 0; k <= static_cast<int>(RuleKind::kAllowPaths); ++k) {
    RuleKind kind = static_cast<RuleKind>(k);
    EXPECT_EQ(ParseRuleKind(RuleKindName(kind)), kind) << RuleKindName(kind);
  }
  EXPECT_EQ(RuleKindName(RuleKind::kProtectedPaths), "protected_paths");
  EXPECT_FALSE(ParseRuleKind("protected-paths").has_value());
}

TEST(PolicyTest, FullModel) {
  auto p = MustParse(R"(
version: 1
default_outcome: block
request_ttl: 2d
reviewers: {users: [alice], groups: [agentgate-reviewers], quorum: 1}
secrets: {builtin_rules: false, honor_inline_allow: true, max_blob_size: 1MiB}
profiles:
  - name: agents
    identities: ["agent-*"]
    groups: [agents]
    repos: ["demo"]
    refs: ["refs/heads/agent/**", "refs/heads/bot/*"]
    rules: [protected-paths, big-blobs]
  - name: anyone
rules:
  - id: protected-paths
    kind: protected_paths
    paths: [".github/workflows/**", "CODEOWNERS", "deploy/**"]
    except: ["deploy/README.md"]
    outcome: hold
    message: "changes to protected paths need a human"
    review: {groups: [platform], quorum: 2}
  - id: big-blobs
    kind: max_blob_size
    limit: 5MiB
    outcome: block
  - id: many
    kind: max_commits
    limit: 50
)");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->path, "p.yaml");
  EXPECT_EQ(p->default_outcome, Outcome::kBlock);
  EXPECT_EQ(p->request_ttl, std::chrono::hours(48));
  EXPECT_EQ(p->reviewers.users, std::vector<std::string>{"alice"});
  EXPECT_EQ(p->reviewers.groups, std::vector<std::string>{"agentgate-reviewers"});
  EXPECT_FALSE(p->secrets.builtin_rules);
  EXPECT_TRUE(p->secrets.honor_inline_allow);
  EXPECT_EQ(p->secrets.max_blob_bytes, 1u << 20);

  ASSERT_EQ(p->rules.size(), 3u);
  const Rule& pp = p->rules[0];
  EXPECT_EQ(pp.id, "protected-paths");
  EXPECT_EQ(pp.kind, RuleKind::kProtectedPaths);
  EXPECT_EQ(pp.outcome, Outcome::kHold);
  EXPECT_EQ(pp.message, "changes to protected paths need a human");
  EXPECT_EQ(Patterns(pp.paths),
            (std::vector<std::string>{".github/workflows/**", "CODEOWNERS", "deploy/**"}));
  EXPECT_EQ(pp.review.groups, std::vector<std::string>{"platform"});
  EXPECT_EQ(pp.review.quorum, 2);
  EXPECT_EQ(pp.line, 16);
  EXPECT_TRUE(pp.AppliesToPath("deploy/prod.yaml"));
  EXPECT_FALSE(pp.AppliesToPath("deploy/README.md"));
  EXPECT_FALSE(pp.AppliesToPath("src/main.cc"));
  EXPECT_EQ(p->rules[1].limit, 5u << 20);
  EXPECT_EQ(p->rules[1].outcome, Outcome::kBlock);
  EXPECT_FALSE(p->rules[1].message.empty());  // a default message
  EXPECT_EQ(p->rules[2].limit, 50u);

  ASSERT_EQ(p->profiles.size(), 2u);
  const Profile& agents = p->profiles[0];
  EXPECT_EQ(agents.name, "agents");
  EXPECT_EQ(agents.groups, std::vector<std::string>{"agents"});
  EXPECT_TRUE(agents.MayPush("refs/heads/agent/x/y"));
  EXPECT_TRUE(agents.MayPush("refs/heads/bot/x"));
  EXPECT_FALSE(agents.MayPush("refs/heads/bot/x/y"));
  EXPECT_FALSE(agents.MayPush("refs/heads/main"));
  // The second profile gets the default refs.
  EXPECT_EQ(Patterns(p->profiles[1].refs), std::vector<std::string>{"refs/heads/agent/**"});

  EXPECT_EQ(p->FindRule("big-blobs"), &p->rules[1]);
  EXPECT_EQ(p->FindRule("nope"), nullptr);
  std::vector<const Rule*> r = p->RulesFor(agents);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0]->id, "protected-paths");
  EXPECT_EQ(r[1]->id, "big-blobs");
  EXPECT_EQ(p->RulesFor(p->profiles[1]).size(), 3u);  // omitted rules: every rule
}

TEST(PolicyTest, ProfileFor) {
  auto p = MustParse(R"(
version: 1
profiles:
  - {name: local, identities: ["local:*"], refs: ["refs/heads/**"]}
  - {name: ci, groups: [ci, bots], repos: ["demo-*"]}
  - {name: named, identities: ["gha:**"]}
)");
  ASSERT_NE(p, nullptr);
  auto name = [&](std::string_view id, std::vector<std::string> groups, std::string_view repo) {
    const Profile* prof = p->ProfileFor(id, groups, repo);
    return prof ? prof->name : std::string("<none>");
  };
  EXPECT_EQ(name("local:root", {}, "demo"), "local");
  EXPECT_EQ(name("agent-1", {"bots"}, "demo-web"), "ci");
  EXPECT_EQ(name("agent-1", {"bots"}, "other"), "<none>");
  EXPECT_EQ(name("agent-1", {"x"}, "demo-web"), "<none>");
  EXPECT_EQ(name("gha:repo:org/x:ref:refs/heads/main", {}, "any"), "named");
  EXPECT_EQ(name("gha-not", {}, "any"), "<none>");
}

TEST(PolicyTest, KindDefaults) {
  auto p = MustParse(R"(
version: 1
rules:
  - {id: a, kind: protected_paths, paths: [x]}
  - {id: b, kind: denied_paths, paths: [x]}
  - {id: c, kind: deletions}
  - {id: d, kind: config_changes, paths: [x]}
  - {id: e, kind: non_fast_forward}
  - {id: f, kind: ref_deletion}
  - {id: g, kind: tags}
  - {id: h, kind: max_blob_size, limit: 1}
  - {id: i, kind: max_commits, limit: 1}
  - {id: j, kind: binary_files}
  - {id: k, kind: symlinks}
  - {id: l, kind: symlink_outside}
  - {id: m, kind: submodules}
  - {id: n, kind: executable_bit}
  - {id: o, kind: secrets, except: ["testdata/**"]}
  - {id: p, kind: allow_paths, paths: ["docs/**"]}
)");
  ASSERT_NE(p, nullptr);
  const char* expected = "hbhhbbbbbhhbhhba";
  ASSERT_EQ(p->rules.size(), 16u);
  for (size_t i = 0; i < p->rules.size(); ++i) {
    EXPECT_EQ(OutcomeName(p->rules[i].outcome)[0], expected[i]) << p->rules[i].id;
    EXPECT_FALSE(p->rules[i].message.empty()) << p->rules[i].id;
  }
  EXPECT_EQ(Patterns(p->FindRule("c")->paths), std::vector<std::string>{"**"});
  EXPECT_TRUE(p->FindRule("j")->AppliesToPath("any/file.bin"));
  EXPECT_FALSE(p->FindRule("o")->AppliesToPath("testdata/key.txt"));
  EXPECT_TRUE(p->FindRule("o")->AppliesToPath("src/key.txt"));
  // Top-level defaults.
  EXPECT_EQ(p->default_outcome, Outcome::kHold);
  EXPECT_EQ(p->request_ttl, std::chrono::hours(72));
  EXPECT_TRUE(p->secrets.builtin_rules);
  EXPECT_FALSE(p->secrets.honor_inline_allow);
  EXPECT_EQ(p->secrets.max_blob_bytes, 10u << 20);
  EXPECT_EQ(p->reviewers.quorum, 1);
  EXPECT_TRUE(p->profiles.empty());
}

struct BadCase {
  const char* yaml;
  int line;
  int column;
  const char* message_part;
};

TEST(PolicyTest, ProblemsHavePositions) {
  const BadCase cases[] = {
      {"", 1, 1, "the policy is empty"},
      {"version: 2\n", 1, 10, "unsupported policy version 2"},
      {"default_outcome: hold\n", 1, 1, "missing required key 'version'"},
      {"version: one\n", 1, 10, "version: expected an integer, got 'one'"},
      {"version: 1\nversoin: 1\n", 2, 1, "unknown key 'versoin' in policy"},
      {"version: 1\ndefault_outcome: deny\n", 2, 18, "unknown outcome 'deny'"},
      {"version: 1\ndefault_outcome: [hold]\n", 2, 18, "expected a string, got a list"},
      {"version: 1\nrequest_ttl: 3 days\n", 2, 14, "bad duration '3 days'"},
      {"version: 1\nrequest_ttl: 0\n", 2, 14, "request_ttl must be longer than 0"},
      {"version: 1\nreviewers: {quorum: 0}\n", 2, 21, "quorum must be at least 1"},
      {"version: 1\nreviewers: {users: [a], quorum: 2}\n", 2, 33, "can never be met"},
      {"version: 1\nreviewers: {usr: [a]}\n", 2, 13, "unknown key 'usr' in reviewers"},
      {"version: 1\nsecrets: {max_blob_size: 10MB}\n", 2, 26, "bad size '10MB'"},
      {"version: 1\nsecrets: {builtin_rules: maybe}\n", 2, 26, "expected true or false"},
      {"version: 1\nsecrets: {rule_files: [nope.yaml]}\n", 2, 24, "'nope.yaml' not found"},
      {"version: 1\nrules: {id: x}\n", 2, 8, "rules: expected a list of rules"},
      {"version: 1\nrules:\n  - id: x\n    kind: nope\n", 4, 11, "unknown rule kind 'nope'"},
      {"version: 1\nrules:\n  - kind: tags\n", 3, 5, "rule: missing required key 'id'"},
      {"version: 1\nrules:\n  - id: x\n", 3, 5, "rule: missing required key 'kind'"},
      {"version: 1\nrules:\n  - id: Bad Id\n    kind: tags\n", 3, 9, "must match [a-z0-9._-]+"},
      {"version: 1\nrules:\n  - id: x\n    kind: protected_paths\n", 3, 5,
       "kind protected_paths needs 'paths'"},
      {"version: 1\nrules:\n  - id: x\n    kind: denied_paths\n    paths: ['[a-']\n", 5, 13,
       "bad glob '[a-'"},
      {"version: 1\nrules:\n  - id: x\n    kind: denied_paths\n    paths: []\n", 5, 12,
       "paths: empty list"},
      {"version: 1\nrules:\n  - id: x\n    kind: tags\n    paths: [a]\n", 5, 5,
       "kind tags takes no 'paths'"},
      {"version: 1\nrules:\n  - id: x\n    kind: max_blob_size\n", 3, 5,
       "kind max_blob_size needs 'limit'"},
      {"version: 1\nrules:\n  - id: x\n    kind: max_blob_size\n    limit: huge\n", 5, 12,
       "bad size 'huge'"},
      {"version: 1\nrules:\n  - id: x\n    kind: max_commits\n    limit: 5MiB\n", 5, 12,
       "expected an integer"},
      {"version: 1\nrules:\n  - id: x\n    kind: max_commits\n    limit: 0\n", 5, 12,
       "limit must be at least 1"},
      {"version: 1\nrules:\n  - id: x\n    kind: tags\n    limit: 3\n", 5, 5,
       "kind tags takes no 'limit'"},
      {"version: 1\nrules:\n  - id: x\n    kind: tags\n    outcome: maybe\n", 5, 14,
       "unknown outcome 'maybe'"},
      {"version: 1\nrules:\n  - id: x\n    kind: deletions\n    review: {quorum: -1}\n", 5, 22,
       "quorum must be at least 1"},
      {"version: 1\nrules:\n  - id: x\n    kind: tags\n    review: {quorum: 2}\n", 5, 5,
       "'review' only applies to rules whose outcome is hold"},
      {"version: 1\nrules:\n  - id: x\n    kind: tags\n    pathz: [a]\n", 5, 5,
       "unknown key 'pathz' in rule"},
      {"version: 1\nrules:\n  - {id: x, kind: tags}\n  - {id: x, kind: tags}\n", 4, 5,
       "duplicate rule id 'x' (first defined on line 3)"},
      {"version: 1\nprofiles:\n  - name: a\n    rules: [x]\n", 4, 13,
       "profile names unknown rule 'x'"},
      {"version: 1\nprofiles:\n  - name: a\n    rules: []\n", 4, 12, "rules: empty list"},
      {"version: 1\nprofiles:\n  - name: a\n    refs: ['refs/[x']\n", 4, 12, "bad glob"},
      {"version: 1\nprofiles:\n  - name: a\n    identity: [x]\n", 4, 5,
       "unknown key 'identity' in profile"},
      {"version: 1\nprofiles:\n  - refs: [x]\n", 3, 5, "profile: missing required key 'name'"},
      {"version: 1\nprofiles:\n  - {name: a}\n  - {name: a}\n", 4, 12,
       "duplicate profile name 'a'"},
      {"version: 1\nprofiles:\n  - just-a-string\n", 3, 5, "profile: expected a mapping"},
      {"version: 1\nrules: [\n", 3, 1, "YAML syntax error"},
      {"version: 1\n---\nversion: 1\n", 3, 1, "more than one YAML document"},
      {"- a\n- b\n", 1, 1, "policy: expected a mapping, got a list"},
      {"version: 1\nversion: 1\n", 2, 1, "duplicate key 'version'"},
  };
  for (const BadCase& c : cases) {
    std::vector<Problem> problems;
    Result<std::shared_ptr<const Policy>> p = ParsePolicy(c.yaml, "bad.yaml", &problems);
    ASSERT_FALSE(p.ok()) << c.yaml;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    ASSERT_EQ(problems.size(), 1u) << c.yaml << "\n" << p.status().message();
    EXPECT_EQ(problems[0].file, "bad.yaml");
    EXPECT_EQ(problems[0].line, c.line) << c.yaml << "\n" << problems[0].ToString();
    EXPECT_EQ(problems[0].column, c.column) << c.yaml << "\n" << problems[0].ToString();
    EXPECT_NE(problems[0].message.find(c.message_part), std::string::npos)
        << c.yaml << "\n" << problems[0].ToString();
    EXPECT_EQ(p.status().message(), problems[0].ToString());
  }
}

TEST(PolicyTest, ReportsEveryProblemInOrder) {
  std::vector<Problem> problems;
  Result<std::shared_ptr<const Policy>> p = ParsePolicy(R"(version: 1
profiles:
  - name: a
    rules: [missing]
rules:
  - id: x
    kind: nope
  - id: y
    kind: denied_paths
    paths: ["[bad"]
    colour: red
)",
                                                        "many.yaml", &problems);
  ASSERT_FALSE(p.ok());
  ASSERT_EQ(problems.size(), 4u) << p.status().message();
  EXPECT_EQ(problems[0].line, 4);
  EXPECT_EQ(problems[1].line, 7);
  EXPECT_EQ(problems[2].line, 10);
  EXPECT_EQ(problems[3].line, 11);
  EXPECT_EQ(p.status().message(),
            problems[0].ToString() + "\n" + problems[1].ToString() + "\n" +
                problems[2].ToString() + "\n" + problems[3].ToString());
}

TEST(PolicyTest, ProblemsAreBounded) {
  // Aliases repeat one bad rule many times: the walk stops after
  // kMaxProblems instead of reporting (and re-checking) every copy.
  std::string yaml = "version: 1\nrules:\n  - &r {id: x, kind: tags, paths: ['[', '[', '[']}\n";
  for (int i = 0; i < 5000; ++i) yaml += "  - *r\n";
  std::vector<Problem> problems;
  Result<std::shared_ptr<const Policy>> p = ParsePolicy(yaml, "big.yaml", &problems);
  ASSERT_FALSE(p.ok());
  ASSERT_EQ(problems.size(), 101u);
  EXPECT_EQ(problems.back().message, "too many problems; stopping here");
}

TEST(PolicyTest, RuleFilesResolveAgainstThePolicyFolder) {
  TempDir dir;
  std::string extra = dir.Write("rules/extra.yaml", "rules: []\n");
  std::string path = dir.Write("policy.yaml",
                               "version: 1\nsecrets: {rule_files: [rules/extra.yaml]}\n");
  Result<std::shared_ptr<const Policy>> p = LoadPolicy(path);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->path, path);
  EXPECT_EQ((*p)->secrets.rule_files, std::vector<std::string>{extra});
}

TEST(PolicyTest, MissingFileIsNotAProblemList) {
  std::vector<Problem> problems;
  Result<std::shared_ptr<const Policy>> p = LoadPolicy("/nonexistent/policy.yaml", &problems);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kNotFound);
  EXPECT_TRUE(problems.empty());
}

TEST(PolicyTest, ShippedDefaultPolicy) {
  std::string path = std::string(AG_SOURCE_DIR) + "/policies/default.yaml";
  std::vector<Problem> problems;
  Result<std::shared_ptr<const Policy>> r = LoadPolicy(path, &problems);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Policy& p = **r;
  EXPECT_EQ(p.default_outcome, Outcome::kHold);
  EXPECT_EQ(p.reviewers.groups, std::vector<std::string>{"agentgate-reviewers"});

  // Agents push refs/heads/agent/** only; local admins any branch.
  const Profile* agent = p.ProfileFor("agent-ci", {"agents"}, "demo");
  ASSERT_NE(agent, nullptr);
  EXPECT_TRUE(agent->MayPush("refs/heads/agent/fix-1"));
  EXPECT_FALSE(agent->MayPush("refs/heads/main"));
  EXPECT_FALSE(agent->MayPush("refs/tags/v1"));
  const Profile* local = p.ProfileFor("local:root", {}, "demo");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->name, "local");
  EXPECT_TRUE(local->MayPush("refs/heads/main"));

  // Every kind the issue lists has a rule, with the documented outcome.
  struct Want {
    RuleKind kind;
    Outcome outcome;
  } wants[] = {
      {RuleKind::kSecrets, Outcome::kBlock},        {RuleKind::kDeniedPaths, Outcome::kBlock},
      {RuleKind::kProtectedPaths, Outcome::kHold},  {RuleKind::kDeletions, Outcome::kHold},
      {RuleKind::kConfigChanges, Outcome::kHold},   {RuleKind::kNonFastForward, Outcome::kBlock},
      {RuleKind::kRefDeletion, Outcome::kBlock},    {RuleKind::kTags, Outcome::kBlock},
      {RuleKind::kMaxBlobSize, Outcome::kBlock},    {RuleKind::kMaxCommits, Outcome::kBlock},
      {RuleKind::kBinaryFiles, Outcome::kHold},     {RuleKind::kSymlinks, Outcome::kHold},
      {RuleKind::kSymlinkOutside, Outcome::kBlock}, {RuleKind::kSubmodules, Outcome::kBlock},
      {RuleKind::kExecutableBit, Outcome::kHold},
  };
  for (const Want& w : wants) {
    const Rule* found = nullptr;
    for (const Rule& rule : p.rules) {
      if (rule.kind == w.kind) found = &rule;
    }
    ASSERT_NE(found, nullptr) << RuleKindName(w.kind);
    EXPECT_EQ(found->outcome, w.outcome) << RuleKindName(w.kind);
  }
  auto matches = [&](std::string_view id, std::string_view path) {
    const Rule* r = p.FindRule(id);
    return r != nullptr && r->AppliesToPath(path);
  };
  EXPECT_TRUE(matches("denied-paths", "certs/server.pem"));
  EXPECT_TRUE(matches("denied-paths", "id_rsa"));
  EXPECT_TRUE(matches("denied-paths", "app/.env"));
  EXPECT_FALSE(matches("denied-paths", "src/env.cc"));
  EXPECT_TRUE(matches("protected-paths", ".github/workflows/ci.yml"));
  EXPECT_TRUE(matches("protected-paths", "CODEOWNERS"));
  EXPECT_TRUE(matches("protected-paths", "deploy/k8s/app.yaml"));
  EXPECT_FALSE(matches("protected-paths", "src/deploy.cc"));
  EXPECT_TRUE(matches("config-changes", "Dockerfile"));
  EXPECT_TRUE(matches("config-changes", "web/package.json"));
  EXPECT_FALSE(matches("config-changes", "README.md"));
  EXPECT_EQ(p.FindRule("max-blob-size")->limit, 10u << 20);
  EXPECT_EQ(p.FindRule("max-commits")->limit, 1000u);
}

TEST(PolicyTest, ShippedExamplesLoad) {
  fs::path dir = fs::path(AG_SOURCE_DIR) / "policies" / "examples";
  int count = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    Result<std::shared_ptr<const Policy>> r = LoadPolicy(e.path().string());
    EXPECT_TRUE(r.ok()) << e.path() << ": " << r.status().message();
    ++count;
  }
  EXPECT_GE(count, 2);
}

}  // namespace
}  // namespace ag::policy
