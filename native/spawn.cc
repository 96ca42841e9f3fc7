// The async spawn: launch the child, then watch it on the event loop until it exits.
#include <unistd.h>

#include "child_watch.h"
#include "launch.h"

Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  AddonState *state = GetState(env);
  Napi::Object req = info[0].As<Napi::Object>();
  Napi::Function onExit = req.Get("onExit").As<Napi::Function>();
  LaunchRequest request(req);
  // Made before the child exists: what can fail in JS (a terminating worker) fails with no child.
  Napi::Object watchObject = state->childWatchConstructor.New({});
  ChildWatch *watch = ChildWatch::Unwrap(watchObject);

  Launched launched = Launch(state, request);
  // From here on a child may exist: it is watched (and so reaped, or detached when the
  // environment closes) whatever happens to the result.
  if (launched.err == 0) watch->Start(state, launched.pid, launched.pidfd, onExit, launched.startMicros);
  try {
    Napi::Object result = DescribeLaunch(env, launched);
    if (launched.err == 0) result.Set("child", watchObject);
    return result;
  } catch (...) {
    // No one will open our pipe ends: close them, the child sees EOF.
    for (int fd : launched.pipes)
      if (fd >= 0) close(fd);
    throw;
  }
}
