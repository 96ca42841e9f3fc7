// The async spawn: launch the child, then watch it on the event loop until it exits.
#include "child_watch.h"
#include "launch.h"

Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  AddonState *state = GetState(env);
  Napi::Object req = info[0].As<Napi::Object>();
  Napi::Function onExit = req.Get("onExit").As<Napi::Function>();
  LaunchRequest request(req);

  Launched launched = Launch(state, request);
  Napi::Object result = DescribeLaunch(env, launched);
  if (launched.err != 0) return result;

  Napi::Object watchObject = state->childWatchConstructor.New({});
  ChildWatch::Unwrap(watchObject)->Start(state, launched.pid, launched.pidfd, onExit, launched.startMicros);
  result.Set("child", watchObject);
  return result;
}
