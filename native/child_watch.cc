#include "child_watch.h"

#include "exit_thread.h"
#include "linux_compat.h"
#include "napi_boundary.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


int64_t MonotonicMicros() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// waitid through syscall(): glibc's wrapper has no rusage argument.
int WaitidWithUsage(int idtype, int id, siginfo_t *info, int options, struct rusage *usage) {
  for (;;) {
    long r = syscall(SYS_waitid, idtype, id, info, options, usage);
    if (r == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

static AddonState *state_of(uv_timer_t *timer) { return static_cast<AddonState *>(timer->data); }

static void OnSigchld(AddonState *state, int) {
  // One SIGCHLD may stand for several exits, and other children of the process (Node's own)
  // raise it too: try each of ours, without blocking.
  for (auto it = state->fallbackChildren.begin(); it != state->fallbackChildren.end();) {
    ChildWatch *watch = *it++;  // TryReap may remove it from the list
    watch->TryReap();
  }
}

static void UpdateFallbackRef(AddonState *state) {
  if (!state->sigchld) return;
  if (state->fallbackRefs > 0)
    uv_ref(reinterpret_cast<uv_handle_t *>(state->sigchld));
  else
    uv_unref(reinterpret_cast<uv_handle_t *>(state->sigchld));
}

void EnsureSigchldWatcher(AddonState *state) {
  if (state->sigchld) return;
  state->sigchld = NewHandle<uv_signal_t>();
  uv_signal_init(state->loop, state->sigchld);
  state->sigchld->data = state;
  uv_signal_start(
      state->sigchld, [](uv_signal_t *h, int sig) { boundary::Contain([&] { OnSigchld(static_cast<AddonState *>(h->data), sig); }); },
      SIGCHLD);
  UpdateFallbackRef(state);
}

// Raw N-API, checked at each step: in a worker being terminated no JS may run, every call that
// could run some fails, and node-addon-api's wrappers would abort the process building the error.
static bool SetNumber(napi_env env, napi_value target, const char *name, double value) {
  napi_value number;
  return napi_create_double(env, value, &number) == napi_ok && napi_set_named_property(env, target, name, number) == napi_ok;
}

bool DescribeExit(napi_env env, napi_value target, const siginfo_t &info, const struct rusage &usage, int64_t wallMicros) {
  bool signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
  napi_value ru;
  return SetNumber(env, target, "exitCode", signaled ? -1 : info.si_status) &&
         SetNumber(env, target, "signal", signaled ? info.si_status : 0) && napi_create_object(env, &ru) == napi_ok &&
         SetNumber(env, ru, "userCpuMicros", double(usage.ru_utime.tv_sec) * 1e6 + double(usage.ru_utime.tv_usec)) &&
         SetNumber(env, ru, "systemCpuMicros", double(usage.ru_stime.tv_sec) * 1e6 + double(usage.ru_stime.tv_usec)) &&
         SetNumber(env, ru, "maxRssBytes", double(usage.ru_maxrss) * 1024) &&  // the kernel counts in KiB
         SetNumber(env, ru, "minorPageFaults", double(usage.ru_minflt)) &&
         SetNumber(env, ru, "majorPageFaults", double(usage.ru_majflt)) &&
         SetNumber(env, ru, "voluntaryContextSwitches", double(usage.ru_nvcsw)) &&
         SetNumber(env, ru, "involuntaryContextSwitches", double(usage.ru_nivcsw)) &&
         napi_set_named_property(env, target, "rusage", ru) == napi_ok &&
         SetNumber(env, target, "wallMicros", double(wallMicros));
}

Napi::Function ChildWatch::Define(Napi::Env env) {
  return DefineClass(env, "ChildWatch",
                     {InstanceMethod("kill", &ChildWatch::Kill), InstanceMethod("ref", &ChildWatch::Ref),
                      InstanceMethod("unref", &ChildWatch::Unref)});
}

ChildWatch::ChildWatch(const Napi::CallbackInfo &info) : Napi::ObjectWrap<ChildWatch>(info) {}

ChildWatch::~ChildWatch() {
  StopWatching();
  delete asyncContext_;
}

void ChildWatch::Start(AddonState *state, pid_t pid, int pidfd, Napi::Function onExit, int64_t startMicros) {
  state_ = state;
  pid_ = pid;
  pidfd_ = pidfd;
  startMicros_ = startMicros;
  // The child exists: nothing below may stop it from being watched. In an environment that can
  // no longer run JS these may fail; there will be no exit to deliver there anyway.
  boundary::Contain([&] {
    onExit_ = Napi::Persistent(onExit);
    asyncContext_ = new Napi::AsyncContext(Env(), "PROCGUARD_CHILD");
    // Alive while the child is: the exit callback must run even if JS drops the object.
    Napi::ObjectWrap<ChildWatch>::Ref();
    keptAlive_ = true;
  });
  state_->liveChildren.push_back(this);

  if (state_->exitThread) {
    exitThreadId_ = state_->exitThread->Watch(this, pid_, pidfd_);
    state_->exitThread->Ref();
    return;
  }
  if (pidfd_ >= 0) {
    poll_ = NewHandle<uv_poll_t>();
    uv_poll_init(state_->loop, poll_, pidfd_);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, OnPidfdReadable);
    return;
  }
  EnsureSigchldWatcher(state_);
  state_->fallbackChildren.push_back(this);
  inFallbackList_ = true;
  state_->fallbackRefs++;
  UpdateFallbackRef(state_);
  // The child may have exited before the watcher was there to see its SIGCHLD: look once more
  // from the loop (never from here: 'exit' must not be emitted inside spawn()).
  if (!state_->reapSoon) {
    state_->reapSoon = NewHandle<uv_timer_t>();
    uv_timer_init(state_->loop, state_->reapSoon);
    state_->reapSoon->data = state_;
  }
  uv_timer_start(state_->reapSoon, [](uv_timer_t *t) { boundary::Contain([&] { OnSigchld(state_of(t), SIGCHLD); }); }, 0, 0);
}

void ChildWatch::OnPidfdReadable(uv_poll_t *handle, int, int) {
  auto *self = static_cast<ChildWatch *>(handle->data);
  siginfo_t info{};
  struct rusage usage{};
  // A pidfd is readable once its process has exited; WNOHANG guards against a spurious wakeup.
  int r = WaitidWithUsage(PG_P_PIDFD, self->pidfd_, &info, WEXITED | WNOHANG, &usage);
  if (r == -EINVAL) r = WaitidWithUsage(P_PID, self->pid_, &info, WEXITED | WNOHANG, &usage);  // before 5.4
  if (r == 0 && info.si_pid != 0) boundary::Contain([&] { self->Exited(info, usage); });
}

bool ChildWatch::TryReap() {
  if (reaped_) return true;
  siginfo_t info{};
  struct rusage usage{};
  int r = WaitidWithUsage(P_PID, pid_, &info, WEXITED | WNOHANG, &usage);
  if (r != 0 || info.si_pid == 0) return false;
  Exited(info, usage);
  return true;
}

void ChildWatch::ExitNoticed() {
  if (!TryReap()) state_->exitThread->Rearm(exitThreadId_, pid_, pidfd_);
}

void ChildWatch::StopWatching() {
  if (state_ && !reapedOrDetached_) {
    reapedOrDetached_ = true;
    state_->liveChildren.remove(this);
  }
  if (exitThreadId_) {
    state_->exitThread->Forget(exitThreadId_, pidfd_);
    if (refed_) state_->exitThread->Unref();
    exitThreadId_ = 0;
  }
  if (poll_) {
    uv_poll_stop(poll_);
    CloseHandle(state_, reinterpret_cast<uv_handle_t *>(poll_));
    poll_ = nullptr;
  }
  if (pidfd_ >= 0) {
    close(pidfd_);
    pidfd_ = -1;
  }
  if (inFallbackList_) {
    state_->fallbackChildren.remove(this);
    inFallbackList_ = false;
    if (refed_) state_->fallbackRefs--;
    UpdateFallbackRef(state_);
  }
}

void ChildWatch::Detach() {
  StopWatching();
  onExit_.Reset();
}

void ChildWatch::Exited(const siginfo_t &info, const struct rusage &usage) {
  reaped_ = true;
  wallMicros_ = MonotonicMicros() - startMicros_;
  exitInfo_ = info;
  exitUsage_ = usage;
  bool byThread = exitThreadId_ != 0;
  StopWatching();
  // Without libuv there is no loop turn to wait for: the runtime's streams order their own I/O.
  if (byThread) {
    Deliver();
    return;
  }
  // Not now: the same turn of the loop may still hold the child's last output.
  state_->pendingExits.push_back(this);
  if (!state_->exitDelivery) {
    state_->exitDelivery = NewHandle<uv_check_t>();
    uv_check_init(state_->loop, state_->exitDelivery);
    state_->exitDelivery->data = state_;
  }
  uv_check_start(state_->exitDelivery, DeliverPendingExits);
}

void ChildWatch::DeliverPendingExits(uv_check_t *check) {
  auto *state = static_cast<AddonState *>(check->data);
  uv_check_stop(check);
  std::list<ChildWatch *> pending;
  pending.swap(state->pendingExits);
  for (ChildWatch *watch : pending) boundary::Contain([&] { watch->Deliver(); });
}

void ChildWatch::ForgetExit() {
  onExit_.Reset();
  Release();
}

// Lets JS collect the object once it lets go of it: a reaped child needs no keeping alive.
void ChildWatch::Release() {
  if (!keptAlive_) return;
  keptAlive_ = false;
  boundary::Contain([&] { Napi::ObjectWrap<ChildWatch>::Unref(); });
}

void ChildWatch::Deliver() {
  napi_env env = Env();
  Napi::FunctionReference onExit = std::move(onExit_);
  napi_handle_scope scope;
  if (onExit.IsEmpty() || !asyncContext_ || napi_open_handle_scope(env, &scope) != napi_ok) {
    Release();
    return;
  }
  napi_value exit, result;
  // Without JS (a worker being terminated) there is no one to tell: nothing is called.
  if (napi_create_object(env, &exit) == napi_ok && DescribeExit(env, exit, exitInfo_, exitUsage_, wallMicros_)) {
    // MakeCallback, so process.nextTick and promise jobs queued by 'exit' listeners run.
    if (napi_make_callback(env, asyncContext_->operator napi_async_context(), Value(), onExit.Value(), 1, &exit, &result) ==
        napi_pending_exception) {
      // A listener's exception is the process's uncaught exception, as in Node.
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
  Release();
}

Napi::Value ChildWatch::Kill(const Napi::CallbackInfo &info) {
  return Napi::Value(info.Env(), boundary::Guard(info.Env(), [&]() -> napi_value {
    int sig = info[0].As<Napi::Number>().Int32Value();
    return Napi::Number::New(Env(), reaped_ ? -ESRCH : SignalChild(pidfd_, pid_, sig));
  }));
}

int SignalChild(int pidfd, pid_t pid, int sig) {
  // By pid only without a pidfd, and safe: we are this child's only reaper and have not reaped
  // it, so its pid cannot have been recycled.
  long r = pidfd >= 0 ? syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) : kill(pid, sig);
  return r == 0 ? 0 : -errno;
}

Napi::Value ChildWatch::Ref(const Napi::CallbackInfo &info) {
  if (!refed_ && !reaped_) {
    refed_ = true;
    if (poll_) uv_ref(reinterpret_cast<uv_handle_t *>(poll_));
    if (exitThreadId_) state_->exitThread->Ref();
    if (inFallbackList_) {
      state_->fallbackRefs++;
      UpdateFallbackRef(state_);
    }
  }
  return Napi::Value(info.Env(), nullptr);  // undefined, and nothing that could throw
}

Napi::Value ChildWatch::Unref(const Napi::CallbackInfo &info) {
  if (refed_ && !reaped_) {
    refed_ = false;
    if (poll_) uv_unref(reinterpret_cast<uv_handle_t *>(poll_));
    if (exitThreadId_) state_->exitThread->Unref();
    if (inFallbackList_) {
      state_->fallbackRefs--;
      UpdateFallbackRef(state_);
    }
  }
  return Napi::Value(info.Env(), nullptr);  // undefined, and nothing that could throw
}
