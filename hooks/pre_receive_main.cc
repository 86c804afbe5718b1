// agentgate-pre-receive: decides every ref update of a push (src/hook).
#include "hook_main.h"

int main(int argc, char** argv) {
  return ag::hook::HookMain(argc, argv, "agentgate-pre-receive", ag::hook::RunPreReceiveWith);
}
