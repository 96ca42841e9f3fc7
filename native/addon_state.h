// Per-environment state of the addon: one per Node environment (main thread, each worker),
// so the addon is context-aware and environments never share a watcher or a handle.
#ifndef PROCGUARD_ADDON_STATE_H
#define PROCGUARD_ADDON_STATE_H

#include <napi.h>
#include <uv.h>

#include <cstdlib>
#include <list>

class ChildWatch;
class ExitThread;
struct TeardownTracker;

struct AddonState {
  uv_loop_t *loop = nullptr;
  Napi::FunctionReference childWatchConstructor;
  int devNull = -1;                 // opened once, for 'ignore' on fds 0-2
  bool pidfdDisabled = false;       // tests force the fallback watcher
  bool clonePidfdRefused = false;   // the kernel predates CLONE_PIDFD (5.2)
  bool pidfdOpenMissing = false;    // the kernel predates pidfd_open (5.3)
  bool clone3Unusable = false;      // no clone3 (5.3) or no CLONE_INTO_CGROUP (5.7)
  // Fallback for kernels without pidfd: libuv's SIGCHLD watcher, then waitid on each of our
  // own pids with WNOHANG. It reaps exactly our children and installs no handler of its own.
  uv_signal_t *sigchld = nullptr;
  std::list<ChildWatch *> fallbackChildren;
  // Every child still watched, so a closing environment can stop watching them all.
  std::list<ChildWatch *> liveChildren;
  int fallbackRefs = 0;
  uv_timer_t *reapSoon = nullptr;  // one look from the loop right after a fallback spawn
  // Reaped children whose 'exit' is delivered after the I/O callbacks of the same loop turn,
  // as libuv handles SIGCHLD last: output a child wrote before exiting comes first.
  uv_check_t *exitDelivery = nullptr;
  std::list<ChildWatch *> pendingExits;
  // Set where libuv is not real (Bun, Deno): exits come through this thread instead of the loop.
  ExitThread *exitThread = nullptr;
  // Set while the environment is being torn down: closes are counted so that it waits for them.
  TeardownTracker *teardown = nullptr;
};

AddonState *GetState(Napi::Env env);

// libuv handles of the addon: allocated here, freed by CloseHandle once libuv is done with them.
// At teardown the environment waits for those closes (an async cleanup hook), because the
// addon may be unloaded right after it and a close callback must not outlive its code.
template <typename T>
T *NewHandle() {
  return static_cast<T *>(calloc(1, sizeof(T)));
}
void CloseHandle(AddonState *state, uv_handle_t *handle);

#endif
