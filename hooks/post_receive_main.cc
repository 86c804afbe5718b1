// agentgate-post-receive: turns landed pushes into pending requests (src/hook).
#include "hook_main.h"

int main(int argc, char** argv) {
  return ag::hook::HookMain(argc, argv, "agentgate-post-receive", ag::hook::RunPostReceiveWith);
}
