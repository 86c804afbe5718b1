// Test-only program: runs the replay worker against one repo until nothing
// is left to do (or forever with --loop), so a test can kill -9 it at any
// moment and start it again.
//
// usage: replay_helper DATA_DIR MIRROR UPSTREAM_URL CREDENTIAL_FILE [KNOWN_HOSTS]
// exit: 0 when a pass found nothing left, 2 on a store error.
#include <cstdio>
#include <memory>

#include "config/config.h"
#include "replay/worker.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: replay_helper DATA_DIR MIRROR UPSTREAM_URL CREDENTIAL [KNOWN_HOSTS]\n");
    return 2;
  }
  auto c = std::make_shared<ag::config::Config>();
  c->data_dir = argv[1];
  c->replay_max_attempts = 1000;
  c->replay_backoff_max = std::chrono::seconds(0);
  ag::config::RepoConfig r;
  r.name = "demo";
  r.path = argv[2];
  r.upstream = argv[3];
  r.credential = argv[4];
  if (argc > 5) r.ssh_known_hosts = argv[5];
  c->repos.push_back(r);
  ag::replay::ReplayWorker w(c);
  for (int pass = 0; pass < 10000; ++pass) {
    auto s = w.RunOnce();
    if (!s.ok()) {
      std::fprintf(stderr, "replay_helper: %s\n", s.status().ToString().c_str());
      return 2;
    }
    if (s->handled() == 0) return 0;
  }
  return 1;
}
