// Replay benchmark (issue 6): the time the replay worker takes to push an
// approved request upstream vs a plain `git push` of the same commits to the
// same upstream (nginx + fcgiwrap + git http-backend with a token), in one run.
// The upstream is reset to the same state before every timed push, so both
// sides send the same objects. Prints a table and the ratios (target <= 1.2x).
//
// usage: replay_bench [ROUNDS] [LARGE_COMMITS]   (default 7 200)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "e2e/upstream_fixture.h"
#include "git/git.h"
#include "replay/replay_env.h"
#include "replay/worker.h"

using ag::testing::HttpUpstream;
using ag::testing::ReplayEnv;
using ag::testing::Cmd;
using ag::testing::ShellQuote;
using Clock = std::chrono::steady_clock;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Reset(const HttpUpstream& up, const std::string& pristine) {
  Cmd("rm -rf " + ShellQuote(up.repo().path()) + " && cp -a " + ShellQuote(pristine) + " " +
     ShellQuote(up.repo().path()));
}

struct Case {
  const char* name;
  int commits;
  int file_bytes;
};

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 7;
  int large = argc > 2 ? std::atoi(argv[2]) : 200;
  HttpUpstream up(3);
  if (!up.ok()) {
    std::fprintf(stderr, "upstream did not start\n%s\n", up.error_log().c_str());
    return 2;
  }
  std::string pristine = up.root() + "/pristine.git";
  Cmd("cp -a " + ShellQuote(up.repo().path()) + " " + ShellQuote(pristine));
  ReplayEnv env(up.url(), up.repo().path(), up.token());
  std::printf("| case | commits | git push (ms, median) | replay (ms, median) | ratio |\n");
  std::printf("|---|---|---|---|---|\n");
  const Case cases[] = {{"small", 1, 200}, {"large", large, 20000}};
  bool ok = true;
  for (const Case& c : cases) {
    std::string tip;
    for (int i = 0; i < c.commits; ++i) {
      std::string content;
      for (int b = 0; static_cast<int>(content.size()) < c.file_bytes; ++b) {
        content += std::string(c.name) + " " + std::to_string(i) + " line " + std::to_string(b) + " " +
                   ag::testing::RandomToken("") + "\n";
      }
      tip = env.Commit(tip, std::string(c.name) + "/f" + std::to_string(i % 50) + ".txt", content);
    }
    std::vector<double> git_ms, replay_ms;
    for (int r = 0; r < rounds; ++r) {
      // Plain git push of the same commits from the mirror.
      Reset(up, pristine);
      auto t0 = Clock::now();
      auto g = Cmd("git --git-dir=" + ShellQuote(env.mirror()) + " push -q " + up.url_with_token() +
                  " " + tip + ":refs/heads/bench");
      git_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (g.rc != 0 || up.repo().Ref("refs/heads/bench") != tip) {
        std::fprintf(stderr, "git push failed\n");
        ok = false;
      }
      // The replay worker pushing an approved request for the same tip.
      Reset(up, pristine);
      env.Approve("refs/heads/bench", std::string(ag::git::kZeroOid), tip);
      ag::replay::ReplayWorker w(env.config());
      auto t1 = Clock::now();
      auto s = w.RunOnce();
      replay_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
      if (!s.ok() || s->pushed != 1 || up.repo().Ref("refs/heads/bench") != tip) {
        std::fprintf(stderr, "replay failed\n");
        ok = false;
      }
    }
    double gm = Median(git_ms), rm = Median(replay_ms);
    std::printf("| %s | %d | %.1f | %.1f | %.2fx |\n", c.name, c.commits, gm, rm, rm / gm);
    std::fflush(stdout);
  }
  return ok ? 0 : 1;
}
