// Per-environment state of the addon: one per Node environment (main thread, each worker),
// so the addon is context-aware and environments never share a watcher or a handle.
#ifndef PROCGUARD_ADDON_STATE_H
#define PROCGUARD_ADDON_STATE_H

#include <napi.h>
#include <uv.h>

#include <list>

class ChildWatch;

struct AddonState {
  uv_loop_t *loop = nullptr;
  Napi::FunctionReference childWatchConstructor;
  int devNull = -1;                 // opened once, for 'ignore' on fds 0-2
  bool pidfdDisabled = false;       // tests force the fallback watcher
  bool clonePidfdRefused = false;   // the kernel predates CLONE_PIDFD (5.2)
  bool pidfdOpenMissing = false;    // the kernel predates pidfd_open (5.3)
  // Fallback for kernels without pidfd: libuv's SIGCHLD watcher, then waitid on each of our
  // own pids with WNOHANG. It reaps exactly our children and installs no handler of its own.
  uv_signal_t *sigchld = nullptr;
  std::list<ChildWatch *> fallbackChildren;
  // Every child still watched, so a closing environment can stop watching them all.
  std::list<ChildWatch *> liveChildren;
  int fallbackRefs = 0;
  uv_timer_t *reapSoon = nullptr;  // one look from the loop right after a fallback spawn
};

AddonState *GetState(Napi::Env env);

#endif
