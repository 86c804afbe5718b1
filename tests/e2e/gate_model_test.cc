// A randomized model test of the gate (issue 11, "Must show"). Three agents
// (token identities) work in their own clones: they commit docs, code and
// workflow changes, start branches from origin/main or from another agent's
// pushed branch, merge each other's branches, push (superseding their pending
// requests), and force-push (blocked); the test's own user, the policy's
// reviewer, approves and rejects pending requests with the real CLI; the
// replay forwards approved requests to a real upstream. The policy is
// policies/examples/docs-auto-approve.yaml.
//
// The model records, per request, its range (the commit ids the hook recorded
// for it, i.e. what `rejected-commits` uses), whether the policy auto-approved
// it, when a human approved it and when it was rejected. After every step the
// REAL upstream (its commits minus those it had at the start) is checked:
//   (a) every commit there is in the range of a request a human approved or
//       the policy auto-approved;
//   (b) a commit of a rejected request is there only through a human approval,
//       after the rejection, of a request whose range holds it (or through a
//       decision taken before the rejection whose replay was already under
//       way: a rejection revokes approved requests sharing its commits, but
//       not a push in flight; such arrivals are reported as notes, and
//       gate_integrity_test pins the revocation down deterministically);
//   (c) no auto-approved range holds a code or workflow commit, a commit of a
//       request rejected before it was pushed, or no docs commit at all;
//   and upstream's refs only move forward (invariant 2).
// Per push: the outcome is the one the model predicts from the recorded range
// (allow iff every commit is docs or a clean merge, one is docs, and none was
// rejected), and the range holds every commit of the tip that upstream lacks.
// Per approval: `show --json` lists every commit of the range that upstream
// lacks, those of rejected requests marked with the newest one. At the end,
// once no request is approved or replaying: every approved request was
// replayed (or hit a lease conflict), a replayed one with its whole range.
//
// There is no `agentgate sync` command: sync is the daemon's periodic fetch
// (every 60 s by default), which may run during a seed; nothing waits for it.
//
// Seeds and steps: 3 seeds of 300 steps by default (10 to 30 s a seed on 2
// cores, depending on load). For a bench run, e.g.
//   AG_MODEL_SEEDS=1,2,3,4,5,6,7,8 AG_MODEL_STEPS=1000 build/bin/gate_model_test
// (AG_MODEL_TRAIL=1 prints what each step did; a failure always does).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e/loop_fixture.h"

namespace ag::testing {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------
// The model and its checker: plain data, no processes (unit-tested below).

enum class Kind { kDocs, kCode, kWorkflow, kMerge };

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kDocs:
      return "docs";
    case Kind::kCode:
      return "code";
    case Kind::kWorkflow:
      return "workflow";
    case Kind::kMerge:
      return "merge";
  }
  return "?";
}

struct ModelRequest {
  std::vector<std::string> range;  // as recorded by the hook
  bool auto_approved = false;      // outcome allow (approved at created_step)
  int created_step = 0;
  int human_approved_step = -1;  // -1: no human approval
  int rejected_step = -1;        // -1: not rejected

  // The step the request became approved, or -1.
  int ApprovedStep() const { return auto_approved ? created_step : human_approved_step; }
  bool Holds(const std::string& c) const {
    return std::find(range.begin(), range.end(), c) != range.end();
  }
};

struct Model {
  std::map<std::string, Kind> kinds;         // every commit the agents made
  std::map<int64_t, ModelRequest> requests;  // by request id
  std::map<std::string, int> first_seen;     // upstream commit -> first step seen there
};

struct Verdict {
  std::vector<std::string> violations;
  std::vector<std::string> notes;
};

std::string Short(const std::string& oid) { return oid.substr(0, 10); }

// Checks invariants (a), (b) and (c) for `upstream_new`, the commits upstream
// holds beyond those it had at the start.
Verdict CheckModel(const Model& m, const std::set<std::string>& upstream_new) {
  Verdict v;
  std::map<std::string, std::vector<int64_t>> holders;  // commit -> requests whose range holds it
  for (const auto& [id, r] : m.requests) {
    for (const std::string& c : r.range) holders[c].push_back(id);
  }
  for (const std::string& c : upstream_new) {
    const std::vector<int64_t>& in = holders[c];
    // (a) approved, by a human or by the policy, as part of a whole range.
    bool approved = std::any_of(in.begin(), in.end(),
                                [&](int64_t id) { return m.requests.at(id).ApprovedStep() >= 0; });
    if (!approved) {
      v.violations.push_back("(a) upstream has " + Short(c) +
                             ", in the range of no approved request");
    }
    // (b) rejections stick.
    for (int64_t a : in) {
      const ModelRequest& rejected = m.requests.at(a);
      if (rejected.rejected_step < 0) continue;
      bool human_after = false, decided_before = false;
      for (int64_t id : in) {
        const ModelRequest& r = m.requests.at(id);
        human_after |= r.human_approved_step > rejected.rejected_step;
        decided_before |= r.ApprovedStep() >= 0 && r.ApprovedStep() < rejected.rejected_step;
      }
      if (!human_after && !decided_before) {
        v.violations.push_back("(b) upstream has " + Short(c) + " of rejected request " +
                               std::to_string(a) + " (step " +
                               std::to_string(rejected.rejected_step) +
                               ") without a later human approval of a range holding it");
      } else if (!human_after) {
        auto seen = m.first_seen.find(c);
        if (seen != m.first_seen.end() && seen->second > rejected.rejected_step) {
          v.notes.push_back(Short(c) + " of rejected request " + std::to_string(a) +
                            " reached upstream after the rejection, through an approval given "
                            "before it");
        }
      }
    }
  }
  // (c) auto-approval only for docs-only ranges with nothing rejected.
  for (const auto& [id, r] : m.requests) {
    if (!r.auto_approved) continue;
    bool docs = false;
    for (const std::string& c : r.range) {
      auto k = m.kinds.find(c);
      if (k == m.kinds.end()) {
        v.violations.push_back("(c) auto-approved request " + std::to_string(id) +
                               " holds unknown commit " + Short(c));
        continue;
      }
      docs |= k->second == Kind::kDocs;
      if (k->second == Kind::kCode || k->second == Kind::kWorkflow) {
        v.violations.push_back("(c) auto-approved request " + std::to_string(id) + " holds " +
                               KindName(k->second) + " commit " + Short(c));
      }
      for (const auto& [other, o] : m.requests) {
        if (o.rejected_step >= 0 && o.rejected_step < r.created_step && o.Holds(c)) {
          v.violations.push_back("(c) auto-approved request " + std::to_string(id) + " holds " +
                                 Short(c) + " of request " + std::to_string(other) +
                                 ", rejected before it was pushed");
        }
      }
    }
    if (!docs) {
      v.violations.push_back("(c) auto-approved request " + std::to_string(id) +
                             " has no docs commit");
    }
  }
  return v;
}

// The outcome the policy must give a range pushed at `step`.
std::string PredictOutcome(const Model& m, const std::vector<std::string>& range, int step) {
  bool docs = false, other = false, rejected = false;
  for (const std::string& c : range) {
    auto k = m.kinds.find(c);
    if (k == m.kinds.end() || k->second == Kind::kCode || k->second == Kind::kWorkflow)
      other = true;
    else if (k->second == Kind::kDocs)
      docs = true;
    for (const auto& [id, r] : m.requests) {
      if (r.rejected_step >= 0 && r.rejected_step < step && r.Holds(c)) rejected = true;
    }
  }
  return docs && !other && !rejected ? "allow" : "hold";
}

// The newest rejected request whose range holds `c`, or 0.
int64_t RejectedIn(const Model& m, const std::string& c) {
  int64_t newest = 0;
  for (const auto& [id, r] : m.requests) {
    if (r.rejected_step >= 0 && r.Holds(c)) newest = std::max(newest, id);
  }
  return newest;
}

bool Mentions(const std::vector<std::string>& lines, const std::string& what) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(what) != std::string::npos; });
}

// The checker must be able to fail: synthetic states, each with one violation.
TEST(GateModelChecker, FlagsARejectedCommitUpstreamWithoutALaterHumanApproval) {
  Model m;
  m.kinds = {{"c1", Kind::kCode}, {"d1", Kind::kDocs}};
  m.requests[1] = {{"c1"}, false, 1, -1, 2};  // rejected at step 2
  m.requests[2] = {{"c1", "d1"}, false, 3};   // pending, never approved
  Verdict v = CheckModel(m, {"c1"});
  EXPECT_TRUE(Mentions(v.violations, "(a) upstream has c1"))
      << ::testing::PrintToString(v.violations);
  EXPECT_TRUE(Mentions(v.violations, "(b) upstream has c1 of rejected request 1"));
  // The same commit approved by a human before the rejection only: allowed
  // (decided before), and reported as a note once it lands after it.
  m.requests[3] = {{"c1"}, false, 1, 1};
  m.first_seen["c1"] = 4;
  v = CheckModel(m, {"c1"});
  EXPECT_TRUE(v.violations.empty()) << ::testing::PrintToString(v.violations);
  EXPECT_TRUE(Mentions(v.notes, "after the rejection"));
  // An auto-approval after the rejection does not count.
  m.requests.erase(3);
  m.kinds["d2"] = Kind::kDocs;
  m.requests[4] = {{"c1", "d2"}, true, 5};
  v = CheckModel(m, {"c1", "d2"});
  EXPECT_TRUE(Mentions(v.violations, "(b) upstream has c1 of rejected request 1"));
  EXPECT_TRUE(Mentions(v.violations, "(c) auto-approved request 4 holds code commit c1"));
  EXPECT_TRUE(Mentions(v.violations, "rejected before it was pushed"));
  // A later human approval of a range holding it: allowed.
  m.requests.erase(4);
  m.requests[5] = {{"c1", "d1"}, false, 3, 6};
  v = CheckModel(m, {"c1", "d1"});
  EXPECT_TRUE(v.violations.empty()) << ::testing::PrintToString(v.violations);
}

TEST(GateModelChecker, FlagsUnapprovedCommitsAndNonDocsAutoApprovals) {
  Model m;
  m.kinds = {{"w1", Kind::kWorkflow}, {"d1", Kind::kDocs}, {"m1", Kind::kMerge}};
  m.requests[1] = {{"w1"}, false, 1};  // held, pending
  Verdict v = CheckModel(m, {"w1"});
  EXPECT_TRUE(Mentions(v.violations, "(a) upstream has w1"));
  m.requests[2] = {{"d1", "m1", "w1"}, true, 2};
  v = CheckModel(m, {"w1"});
  EXPECT_FALSE(Mentions(v.violations, "(a)"));
  EXPECT_TRUE(Mentions(v.violations, "(c) auto-approved request 2 holds workflow commit w1"));
  m.requests[3] = {{"m1"}, true, 3};
  v = CheckModel(m, {});
  EXPECT_TRUE(Mentions(v.violations, "(c) auto-approved request 3 has no docs commit"));
  EXPECT_EQ(PredictOutcome(m, {"d1", "m1"}, 4), "allow");
  EXPECT_EQ(PredictOutcome(m, {"d1", "w1"}, 4), "hold");
  EXPECT_EQ(PredictOutcome(m, {"m1"}, 4), "hold");
  EXPECT_EQ(PredictOutcome(m, {}, 4), "hold");
}

// ---------------------------------------------------------------------------
// The run: real agents, real mirror, real reviewer, real upstream.

std::vector<uint32_t> Seeds() {
  std::vector<uint32_t> seeds;
  const char* env = std::getenv("AG_MODEL_SEEDS");
  std::stringstream in(env && *env ? env : "1,2,3");
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) seeds.push_back(static_cast<uint32_t>(std::stoul(item)));
  }
  return seeds;
}

int Steps() {
  const char* env = std::getenv("AG_MODEL_STEPS");
  return env && *env ? std::atoi(env) : 300;
}

// The docs example policy, with this test's user as the reviewer.
std::string DocsPolicy() {
  std::string policy =
      ReadFileOrEmpty(std::string(AG_SOURCE_DIR) + "/policies/examples/docs-auto-approve.yaml");
  size_t at = policy.find("groups: [agentgate-reviewers]");
  if (at != std::string::npos) policy.replace(at, 29, "users: [" + ShOut("id -un") + "]");
  return policy;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

struct Agent {
  std::string id, dir;
  std::string branch;                 // checked out
  std::vector<std::string> branches;  // made so far
};

struct Upstream {
  std::set<std::string> commits;
  std::map<std::string, std::string> refs;
};

class GateModelTest : public LoopTest, public ::testing::WithParamInterface<uint32_t> {
 protected:
  LoopOptions Options() override {
    return {DocsPolicy(), "", {{"agent-b", "agents"}, {"agent-c", "agents"}}};
  }

  void Run(uint32_t seed, int steps);

  // Runs `script` with /bin/sh in the agent's clone, git isolated as LoopTest::Git.
  CmdResult In(const Agent& a, const std::string& script) const {
    return Cmd("export HOME=" + dir_.path() +
               "/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0; cd " + a.dir + " && " + script);
  }
  std::string Head(const Agent& a) const { return ShOut("git -C " + a.dir + " rev-parse HEAD"); }
  json AgJson(const std::string& args) const {
    CmdResult r = Agentgate(args);
    EXPECT_EQ(r.rc, 0) << args << ": " << r.out;
    return json::parse(r.out, nullptr, false);
  }
  Upstream ReadUpstream() const {
    std::string up = "git --git-dir=" + upstream_.repo().path();
    CmdResult r = Cmd(up + " rev-list --all && echo --- && " + up +
                      " for-each-ref --format='%(refname) %(objectname)'");
    EXPECT_EQ(r.rc, 0) << r.out;
    Upstream u;
    bool refs = false;
    for (const std::string& l : SplitLines(r.out)) {
      if (l == "---")
        refs = true;
      else if (!refs)
        u.commits.insert(l);
      else if (size_t sp = l.find(' '); sp != std::string::npos)
        u.refs[l.substr(0, sp)] = l.substr(sp + 1);
    }
    return u;
  }
  std::set<std::string> MirrorAncestors(const std::string& tip) const {
    auto lines =
        SplitLines(ShOut("git --git-dir=" + dir_.path() + "/data/repos/demo.git rev-list " + tip));
    return {lines.begin(), lines.end()};
  }
  // The commit ids the hook recorded for request `id` (the store is only read).
  std::vector<std::string> RecordedRange(int64_t id) const {
    CmdResult r =
        Cmd("sqlite3 -readonly " + dir_.path() + "/data/agentgate.db '"
            "WITH RECURSIVE ch(id, d) AS (SELECT " + std::to_string(id) + ", 0 UNION ALL "
            "SELECT c.base_request, d + 1 FROM ch JOIN request_commits c ON c.request_id = ch.id "
            "WHERE c.base_request IS NOT NULL) "
            "SELECT json_group_array(value) FROM (SELECT j.value FROM ch JOIN request_commits c "
            "ON c.request_id = ch.id, json_each(c.commits_json) j ORDER BY ch.d DESC, j.key)'");
    EXPECT_EQ(r.rc, 0) << r.out;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.out;
    return j.is_array() ? j.get<std::vector<std::string>>() : std::vector<std::string>();
  }
  template <typename T>
  const T& Pick(const std::vector<T>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng_)];
  }
  std::vector<std::string> PushedBranches(const Agent& a) const {
    return SplitLines(In(a,
                         "git fetch -q origin && git for-each-ref --format='%(refname:short)' "
                         "refs/remotes/origin/agent/")
                          .out);
  }

  void Log(const std::string& what) { trail_.push_back(std::to_string(step_) + ": " + what); }

  // The steps.
  void Commit(Agent& a);
  void Push(Agent& a, bool force);
  void NewBranch(Agent& a);
  void Prefix(Agent& a);
  void Switch(Agent& a);
  void Merge(Agent& a);
  void ForcePush(Agent& a);
  void Review(bool approve);
  // Checks the upstream against the model; false once a violation is found.
  bool CheckUpstream();
  void Settle();

  std::mt19937 rng_;
  Model model_;
  std::vector<Agent> agents_;
  int step_ = 0;
  int files_ = 0;
  std::set<std::string> upstream_start_;
  std::map<std::string, std::string> upstream_refs_;
  std::set<std::string> notes_;
  std::vector<std::string> trail_;  // what each step did, printed on failure
  std::map<std::string, int> counts_;
};

void GateModelTest::Commit(Agent& a) {
  static const std::vector<Kind> kKinds = {Kind::kDocs, Kind::kDocs, Kind::kDocs,
                                           Kind::kCode, Kind::kCode, Kind::kWorkflow};
  Kind kind = Pick(kKinds);
  std::string n = std::to_string(++files_);
  std::string path = kind == Kind::kDocs   ? "docs/" + a.id + "-" + n + ".md"
                     : kind == Kind::kCode ? "src/" + a.id + "-" + n + ".py"
                                           : ".github/workflows/" + a.id + "-" + n + ".yml";
  std::string text =
      kind == Kind::kDocs ? "# note " + n + "\n"
      : kind == Kind::kCode
          ? "print(" + n + ")\n"
          : "on: push\njobs: {j: {runs-on: ubuntu-latest, steps: [{run: echo " + n + "}]}}\n";
  WriteFile(a.dir + "/" + path, text);
  CmdResult r = In(a, "git add -A && git commit -q -m '" + std::string(KindName(kind)) + " " + n +
                          "' && git rev-parse HEAD");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::string tip = SplitLines(r.out).back();
  model_.kinds[tip] = kind;
  Log(a.id + " commits " + KindName(kind) + " " + Short(tip) + " on " + a.branch);
}

void GateModelTest::Push(Agent& a, bool force) {
  CmdResult r =
      In(a, "git push origin " + std::string(force ? "+" : "") + "HEAD:refs/heads/" + a.branch);
  json line;
  for (const std::string& l : SplitLines(r.out)) {
    size_t at = l.find("agentgate: {");
    if (at != std::string::npos) line = json::parse(l.substr(at + 11), nullptr, false);
  }
  if (!line.is_object()) {  // no ref update reached the hook (up to date)
    EXPECT_EQ(r.rc, 0) << r.out;
    Log(a.id + " pushes " + a.branch + ": no update");
    return;
  }
  std::string outcome = line.value("outcome", "");
  if (outcome == "block") {
    // Only a force push is blocked under this policy, and nothing of it lands.
    EXPECT_TRUE(force) << r.out;
    EXPECT_NE(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("non-fast-forward"), std::string::npos) << r.out;
    Log(a.id + " pushes " + a.branch + ": blocked");
    ++counts_["blocked"];
    return;
  }
  ASSERT_EQ(r.rc, 0) << r.out;
  ASSERT_TRUE(line["request"].is_number_integer()) << r.out;
  int64_t id = line["request"];
  ModelRequest req;
  req.range = RecordedRange(id);
  req.created_step = step_;
  req.auto_approved = outcome == "allow";
  EXPECT_EQ(outcome, PredictOutcome(model_, req.range, step_))
      << "request " << id << ", range of " << req.range.size() << ": " << r.out;
  // The range holds every commit of the tip that upstream lacks (what the
  // replay forwards), each one made by an agent.
  std::set<std::string> up = ReadUpstream().commits;
  for (const std::string& c : MirrorAncestors(Head(a))) {
    if (up.count(c)) continue;
    EXPECT_TRUE(req.Holds(c)) << "request " << id << " misses " << c << " that upstream lacks";
  }
  for (const std::string& c : req.range)
    EXPECT_TRUE(model_.kinds.count(c)) << "unknown commit " << c;
  model_.requests[id] = req;
  ++counts_[req.auto_approved ? "auto-approved" : "held"];
  json rules = line.value("rules", json::array());
  if (std::find(rules.begin(), rules.end(), "rejected-commits") != rules.end()) {
    ++counts_[rules.size() == 1 ? "held-only-by-rejected-commits" : "held-rejected-commits"];
  }
  if (req.range.size() > 1) ++counts_[req.auto_approved ? "auto-approved-multi" : "held-multi"];
  Log(a.id + " pushes " + a.branch + ": request " + std::to_string(id) + " " + outcome +
      ", range " + std::to_string(req.range.size()));
}

void GateModelTest::NewBranch(Agent& a) {
  std::vector<std::string> bases = PushedBranches(a);
  std::string base = bases.empty() || rng_() % 5 < 2 ? "origin/main" : Pick(bases);
  std::string name = "agent/" + a.id + "/b" + std::to_string(a.branches.size());
  CmdResult r = In(a, "git checkout -q -b " + name + " " + base);
  ASSERT_EQ(r.rc, 0) << r.out;
  a.branch = name;
  a.branches.push_back(name);
  Log(a.id + " starts " + name + " from " + base);
}

// A new branch at one of the last commits of the current one, pushed at
// once: a docs commit under a held or rejected change, alone.
void GateModelTest::Prefix(Agent& a) {
  std::vector<std::string> recent =
      SplitLines(ShOut("git -C " + a.dir + " rev-list --max-count=4 HEAD"));
  if (recent.empty()) return;
  std::string at = Pick(recent);
  if (!model_.kinds.count(at)) return;  // an upstream seed commit
  std::string name = "agent/" + a.id + "/b" + std::to_string(a.branches.size());
  CmdResult r = In(a, "git checkout -q -b " + name + " " + at);
  ASSERT_EQ(r.rc, 0) << r.out;
  a.branch = name;
  a.branches.push_back(name);
  Log(a.id + " starts " + name + " at " + Short(at) + " (" + KindName(model_.kinds[at]) + ")");
  Push(a, /*force=*/false);
}

void GateModelTest::Switch(Agent& a) {
  std::string to = Pick(a.branches);
  CmdResult r = In(a, "git checkout -q " + to);
  ASSERT_EQ(r.rc, 0) << r.out;
  a.branch = to;
  Log(a.id + " switches to " + to);
}

void GateModelTest::Merge(Agent& a) {
  std::vector<std::string> from;
  for (const std::string& b : PushedBranches(a)) {
    if (b != "origin/" + a.branch) from.push_back(b);
  }
  if (from.empty()) return;
  std::string other = Pick(from);
  std::string before = Head(a);
  // Every commit writes its own file: merges are always clean.
  CmdResult r = In(a, "git merge -q --no-ff --no-edit " + other);
  ASSERT_EQ(r.rc, 0) << r.out;
  std::string after = Head(a);
  if (after == before) return;
  model_.kinds[after] = Kind::kMerge;
  Log(a.id + " merges " + other + " into " + a.branch + ": " + Short(after));
}

void GateModelTest::ForcePush(Agent& a) {
  std::string head = Head(a);
  auto k = model_.kinds.find(head);
  if (k == model_.kinds.end()) return;  // an upstream seed commit: leave it
  CmdResult amend = In(a, "git commit -q --amend -m 'amended " + std::to_string(++files_) +
                              "' && git rev-parse HEAD");
  ASSERT_EQ(amend.rc, 0) << amend.out;
  std::string tip = SplitLines(amend.out).back();
  model_.kinds[tip] = k->second;  // same tree and parents: same changes
  Log(a.id + " amends " + Short(head) + " into " + Short(tip));
  int blocked = counts_["blocked"];
  Push(a, /*force=*/true);
  if (counts_["blocked"] > blocked) {
    CmdResult back = In(a, "git reset -q --hard " + head);
    ASSERT_EQ(back.rc, 0) << back.out;
  }
}

void GateModelTest::Review(bool approve) {
  json pending = AgJson("list --status pending --limit 10000 --json");
  if (!pending.is_array() || pending.empty()) return;
  int64_t id = Pick(std::vector<json>(pending.begin(), pending.end())).value("id", 0LL);
  auto known = model_.requests.find(id);
  ASSERT_NE(known, model_.requests.end()) << "request " << id << " was not made by a push";
  ModelRequest& req = known->second;
  if (!approve) {
    CmdResult r = Agentgate("reject " + std::to_string(id) + " --reason model");
    ASSERT_EQ(r.rc, 0) << r.out;
    req.rejected_step = step_;
    ++counts_["rejected"];
    Log("reviewer rejects " + std::to_string(id));
    return;
  }
  // What the reviewer is shown: every commit of the range upstream lacks,
  // those of rejected requests marked with the newest one.
  json shown = AgJson("show " + std::to_string(id) + " --json");
  std::set<std::string> listed;
  for (const json& c : shown.value("commits", json::array())) {
    std::string oid = c.value("id", "");
    listed.insert(oid);
    int64_t rejected = RejectedIn(model_, oid);
    if (rejected)
      EXPECT_EQ(c.value("rejected_in", 0LL), rejected) << "request " << id << " " << oid;
    else
      EXPECT_FALSE(c.contains("rejected_in")) << "request " << id << " " << c.dump();
  }
  std::set<std::string> up = ReadUpstream().commits;
  for (const std::string& c : req.range) {
    EXPECT_TRUE(up.count(c) || listed.count(c)) << "request " << id << " does not show " << c;
  }
  CmdResult r = Agentgate("approve " + std::to_string(id));
  if (r.rc != 0) {
    // Refused: only when sync saw upstream move under the request.
    EXPECT_NE(r.out.find("upstream moved"), std::string::npos) << r.out;
    Log("reviewer approves " + std::to_string(id) + ": refused");
    return;
  }
  EXPECT_NE(r.out.find("it will be replayed"), std::string::npos) << r.out;
  req.human_approved_step = step_;
  ++counts_["human-approved"];
  if (std::any_of(req.range.begin(), req.range.end(),
                  [&](const std::string& c) { return RejectedIn(model_, c) != 0; })) {
    ++counts_["human-approved-rejected-commits"];
  }
  Log("reviewer approves " + std::to_string(id));
}

bool GateModelTest::CheckUpstream() {
  Upstream u = ReadUpstream();
  bool ok = true;
  // Invariant 2: upstream's refs only move forward.
  for (const auto& [ref, oid] : u.refs) {
    auto was = upstream_refs_.find(ref);
    if (was == upstream_refs_.end() || was->second == oid) continue;
    CmdResult ff = Cmd("git --git-dir=" + upstream_.repo().path() + " merge-base --is-ancestor " +
                       was->second + " " + oid);
    EXPECT_EQ(ff.rc, 0) << ref << " moved from " << was->second << " to " << oid
                        << " (not forward)";
    ok &= ff.rc == 0;
  }
  for (const auto& [ref, oid] : upstream_refs_) {
    EXPECT_TRUE(u.refs.count(ref)) << ref << " was deleted upstream";
    ok &= u.refs.count(ref) > 0;
  }
  upstream_refs_ = u.refs;
  std::set<std::string> added;
  for (const std::string& c : u.commits) {
    if (upstream_start_.count(c)) continue;
    added.insert(c);
    model_.first_seen.emplace(c, step_);
  }
  Verdict v = CheckModel(model_, added);
  for (const std::string& violation : v.violations) ADD_FAILURE() << violation;
  notes_.insert(v.notes.begin(), v.notes.end());
  counts_["upstream-commits"] = static_cast<int>(added.size());
  return ok && v.violations.empty();
}

// Waits until no request is approved or replaying, then checks how each
// approved request ended.
void GateModelTest::Settle() {
  json all;
  bool settled = WaitFor(
      [&] {
        all = AgJson("list --limit 10000 --json");
        return all.is_array() && std::none_of(all.begin(), all.end(), [](const json& r) {
                 return r["status"] == "approved" || r["status"] == "replaying";
               });
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(settled) << all.dump(1) << DaemonLog();
  ASSERT_TRUE(CheckUpstream());
  std::set<std::string> up = ReadUpstream().commits;
  for (const json& r : all) {
    int64_t id = r.value("id", 0LL);
    std::string status = r.value("status", "");
    ++counts_["final " + status];
    const ModelRequest& req = model_.requests[id];
    if (req.ApprovedStep() >= 0) {
      EXPECT_TRUE(status == "replayed" || status == "conflict")
          << "approved request " << id << " ended " << status << ": " << r.dump();
    }
    if (status == "replayed") {
      for (const std::string& c : req.range) {
        EXPECT_TRUE(up.count(c)) << "replayed request " << id << " without its commit " << c;
      }
    }
  }
}

void GateModelTest::Run(uint32_t seed, int steps) {
  rng_.seed(seed);
  upstream_start_ = ReadUpstream().commits;
  upstream_refs_ = ReadUpstream().refs;
  for (std::string id : {"agent-ci", "agent-b", "agent-c"}) {
    Agent a{id, id == "agent-ci" ? WorkDir() : dir_.path() + "/work-" + id, "", {}};
    if (id != "agent-ci") {
      CmdResult clone = Git("clone -q " + AgentUrl(id) + " " + a.dir);
      ASSERT_EQ(clone.rc, 0) << clone.out;
    }
    agents_.push_back(a);
    NewBranch(agents_.back());
    ASSERT_FALSE(HasFatalFailure());
  }
  // Weights of the steps, in the order of the switch below.
  std::discrete_distribution<int> next({30, 20, 8, 6, 4, 5, 3, 15, 9});
  for (step_ = 1; step_ <= steps; ++step_) {
    Agent& a = agents_[std::uniform_int_distribution<size_t>(0, agents_.size() - 1)(rng_)];
    SCOPED_TRACE("step " + std::to_string(step_) + " (seed " + std::to_string(seed) + ")");
    switch (next(rng_)) {
      case 0:
        Commit(a);
        break;
      case 1:
        Push(a, /*force=*/false);
        break;
      case 2:
        NewBranch(a);
        break;
      case 3:
        Prefix(a);
        break;
      case 4:
        Switch(a);
        break;
      case 5:
        Merge(a);
        break;
      case 6:
        ForcePush(a);
        break;
      case 7:
        Review(/*approve=*/true);
        break;
      default:
        Review(/*approve=*/false);
        break;
    }
    if (HasFatalFailure() || !CheckUpstream()) return;
  }
  Settle();
}

TEST_P(GateModelTest, UpstreamHoldsOnlyWhatWasApprovedAsAWhole) {
  const uint32_t seed = GetParam();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: AG_MODEL_SEEDS=" + std::to_string(seed) +
               ")");
  auto start = std::chrono::steady_clock::now();
  Run(seed, Steps());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string summary;
  for (const auto& [what, n] : counts_) summary += " " + what + "=" + std::to_string(n);
  std::printf("seed %u: %d steps in %.1f s;%s\n", seed, step_ - 1, seconds, summary.c_str());
  for (const std::string& n : notes_) std::printf("  note: %s\n", n.c_str());
  std::string trail;
  for (const std::string& line : trail_) trail += "  " + line + "\n";
  if (HasFailure()) {
    std::string log = DaemonLog();
    ADD_FAILURE() << "seed " << seed << ", what happened:\n"
                  << trail << "daemon log (end):\n"
                  << log.substr(log.size() > 20000 ? log.size() - 20000 : 0);
  } else if (std::getenv("AG_MODEL_TRAIL")) {
    std::printf("%s", trail.c_str());  // AG_MODEL_TRAIL=1: what each step did
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, GateModelTest, ::testing::ValuesIn(Seeds()),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return "seed" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace ag::testing
