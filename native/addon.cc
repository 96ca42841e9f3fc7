// Module entry: one AddonState per Node environment (context-aware: workers and several
// environments at once each get their own), and the functions the TypeScript side calls.
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "addon_state.h"
#include "cgroup_files.h"
#include "child_watch.h"
#include "guard/guard.h"
#include "exit_thread.h"
#include "linux_compat.h"
#include "napi_boundary.h"


Napi::Value Spawn(const Napi::CallbackInfo &info);
Napi::Value SpawnSync(const Napi::CallbackInfo &info);

AddonState *GetState(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

static Napi::Value SelfInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  AddonState *state = GetState(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  bool pidfd = false;
  if (!state->pidfdDisabled) {
    int fd = int(syscall(SYS_pidfd_open, getpid(), 0));
    if (fd >= 0) {
      pidfd = true;
      close(fd);
    }
  }
  out.Set("pidfd", pidfd);
  return out;
}

// The agent's own oom_score_adj. A non-dumpable agent cannot open its /proc/self files, so
// dumpable is raised around the write (this is the agent's own address space) and restored.
static Napi::Value SetOwnOomScoreAdj(const Napi::CallbackInfo &info) {
  std::string text = std::to_string(info[0].As<Napi::Number>().Int32Value());
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (dumpable != 1) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  int err = 0;
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
  } else {
    if (write(fd, text.data(), text.size()) < 0) err = errno;
    close(fd);
  }
  if (dumpable != 1) prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
  return Napi::Number::New(info.Env(), err);
}

// One extended attribute of a file: systemd marks the cgroups it delegates with
// trusted.delegate / user.delegate, which node:fs cannot read. The value, null when the file
// has no such attribute, or the errno (a number) when it cannot be read.
static Napi::Value GetXattr(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string file = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  char value[256];
  ssize_t length = getxattr(file.c_str(), name.c_str(), value, sizeof value);
  if (length < 0) return errno == ENODATA ? env.Null() : Napi::Number::New(env, errno);
  return Napi::String::New(env, value, size_t(length));
}

static Napi::Value SetPidfdDisabled(const Napi::CallbackInfo &info) {
  GetState(info.Env())->pidfdDisabled = info[0].ToBoolean();
  return info.Env().Undefined();
}

struct TeardownTracker {
  napi_async_cleanup_hook_handle hook;
  int pendingCloses = 0;
};

static void FinishTeardownIfDone(TeardownTracker *tracker) {
  if (tracker->pendingCloses > 0) return;
  napi_remove_async_cleanup_hook(tracker->hook);
  delete tracker;
}

void CloseHandle(AddonState *state, uv_handle_t *handle) {
  if (!state->teardown) {
    uv_close(handle, [](uv_handle_t *h) { free(h); });
    return;
  }
  TeardownTracker *tracker = state->teardown;
  tracker->pendingCloses++;
  handle->data = tracker;
  uv_close(handle, [](uv_handle_t *h) {
    auto *tracker = static_cast<TeardownTracker *>(h->data);
    free(h);
    tracker->pendingCloses--;
    FinishTeardownIfDone(tracker);
  });
}

// The environment is ending (a worker exits or is terminated): stop watching every child and
// close our handles; the children themselves run on, as Node leaves its own children running.
static void CloseEnvironment(napi_async_cleanup_hook_handle hook, void *arg) {
  auto *state = static_cast<AddonState *>(arg);
  state->teardown = new TeardownTracker{hook};
  TeardownTracker *tracker = state->teardown;
  tracker->pendingCloses++;  // held until everything below has been asked to close
  while (!state->liveChildren.empty()) state->liveChildren.front()->Detach();
  if (state->exitThread) state->exitThread->Stop();
  state->exitThread = nullptr;
  if (state->sigchld) CloseHandle(state, reinterpret_cast<uv_handle_t *>(state->sigchld));
  state->sigchld = nullptr;
  if (state->reapSoon) CloseHandle(state, reinterpret_cast<uv_handle_t *>(state->reapSoon));
  state->reapSoon = nullptr;
  for (ChildWatch *watch : state->pendingExits) watch->ForgetExit();
  state->pendingExits.clear();
  if (state->exitDelivery) CloseHandle(state, reinterpret_cast<uv_handle_t *>(state->exitDelivery));
  state->exitDelivery = nullptr;
  if (state->devNull >= 0) close(state->devNull);
  state->devNull = -1;
  state->teardown = nullptr;  // the tracker now lives on in the handles being closed
  tracker->pendingCloses--;
  FinishTeardownIfDone(tracker);
}

// The same, where the runtime's libuv is not real (Bun, Deno): no handle was ever made, so
// nothing is waited for. A synchronous hook: Deno frees an async cleanup hook's handle itself
// after napi_remove_async_cleanup_hook already did (a double free at every exit).
static void CloseEnvironmentWithoutLoop(void *arg) {
  auto *state = static_cast<AddonState *>(arg);
  boundary::Contain([&] {
    while (!state->liveChildren.empty()) state->liveChildren.front()->Detach();
    if (state->exitThread) state->exitThread->Stop();
    state->exitThread = nullptr;
  });
  if (state->devNull >= 0) close(state->devNull);
  state->devNull = -1;
}

// Every function JS calls enters through boundary::Entry: no C++ exception reaches Node.
static void Export(Napi::Env env, Napi::Object exports, const char *name, napi_callback fn) {
  napi_value function;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &function));
  exports.Set(name, Napi::Value(env, function));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  boundary::Guard(env, [&]() -> napi_value {
    auto *state = new AddonState();
    napi_get_uv_event_loop(env, &state->loop);
    state->childWatchConstructor = Napi::Persistent(ChildWatch::Define(env));
    env.SetInstanceData<AddonState>(state);
    if (RuntimeHasLibuv(env))
      napi_add_async_cleanup_hook(env, CloseEnvironment, state, nullptr);
    else
      napi_add_env_cleanup_hook(env, CloseEnvironmentWithoutLoop, state);

    Export(env, exports, "spawn", boundary::Entry<Spawn>);
    Export(env, exports, "spawnSync", boundary::Entry<SpawnSync>);
    Export(env, exports, "selfInfo", boundary::Entry<SelfInfo>);
    Export(env, exports, "setOwnOomScoreAdj", boundary::Entry<SetOwnOomScoreAdj>);
    Export(env, exports, "getXattr", boundary::Entry<GetXattr>);
    Export(env, exports, "setPidfdDisabled", boundary::Entry<SetPidfdDisabled>);
    Export(env, exports, "startExitThread", boundary::Entry<StartExitThread>);
    RegisterCgroupFiles(env, exports, Export);
    RegisterGuard(env, exports);
    return exports;
  });
  return exports;
}

NODE_API_MODULE(procguard, Init)
