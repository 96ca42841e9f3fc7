// Watching one child until it exits: a pidfd on the libuv loop, reaped with waitid so the
// child's rusage comes with it. No thread per child, no SIGCHLD handler, never waitpid(-1).
#ifndef PROCGUARD_CHILD_WATCH_H
#define PROCGUARD_CHILD_WATCH_H

#include <napi.h>
#include <uv.h>

#include <signal.h>
#include <sys/resource.h>

#include <cstdint>

#include "addon_state.h"

class ChildWatch : public Napi::ObjectWrap<ChildWatch> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ChildWatch(const Napi::CallbackInfo &info);
  ~ChildWatch() override;

  // Takes ownership of pidfd (-1 when the kernel gives none) and starts watching.
  void Start(AddonState *state, pid_t pid, int pidfd, Napi::Function onExit, int64_t startMicros);
  // Fallback watcher: tries to reap without blocking; true when the child was reaped.
  bool TryReap();
  // The exit thread saw this child exit (exit_thread.h): reap it, on the JS thread.
  void ExitNoticed();
  // The environment is going away: stop watching without calling back.
  void Detach();
  // Drops an exit not yet delivered (environment teardown).
  void ForgetExit();

 private:
  Napi::Value Kill(const Napi::CallbackInfo &info);
  Napi::Value Ref(const Napi::CallbackInfo &info);
  Napi::Value Unref(const Napi::CallbackInfo &info);

  static void OnPidfdReadable(uv_poll_t *handle, int status, int events);
  void Exited(const siginfo_t &info, const struct rusage &usage);
  static void DeliverPendingExits(uv_check_t *check);
  void Deliver();
  void StopWatching();
  void Release();

  AddonState *state_ = nullptr;
  pid_t pid_ = 0;
  int pidfd_ = -1;
  uv_poll_t *poll_ = nullptr;
  uint64_t exitThreadId_ = 0;  // watched by the exit thread instead of the loop
  bool reaped_ = false;
  bool refed_ = true;
  bool inFallbackList_ = false;
  bool reapedOrDetached_ = false;
  bool keptAlive_ = false;  // holds a reference to its JS object until the exit is delivered
  siginfo_t exitInfo_{};
  struct rusage exitUsage_{};
  int64_t wallMicros_ = 0;
  int64_t startMicros_ = 0;
  Napi::FunctionReference onExit_;
  Napi::AsyncContext *asyncContext_ = nullptr;
};

int64_t MonotonicMicros();
// Signals an unreaped child of ours, through its pidfd when it has one; 0 or -errno.
int SignalChild(int pidfd, pid_t pid, int sig);
// waitid with the child's rusage (glibc's wrapper has no rusage argument); 0 or -errno.
int WaitidWithUsage(int idtype, int id, siginfo_t *info, int options, struct rusage *usage);
// Sets exitCode, signal, rusage and wallMicros of a reaped child on `target`.
bool DescribeExit(napi_env env, napi_value target, const siginfo_t &info, const struct rusage &usage, int64_t wallMicros);
// Starts the SIGCHLD-based fallback watcher; called before clone when no pidfd will come.
void EnsureSigchldWatcher(AddonState *state);

#endif
