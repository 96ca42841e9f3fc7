// The guard (issue 10): one native thread per process that watches memory headroom, the
// memory.high throttle band and the machine's MemAvailable, and acts on the agent's own
// children while the agent's JavaScript may be stalled. See guard_loop.cc.
#ifndef PROCGUARD_GUARD_H
#define PROCGUARD_GUARD_H

#include <napi.h>
#include <sys/types.h>
#include <cstdint>

// Adds guardStart, guardConfigure, guardStop, guardWatchChild, guardForgetChild, guardDrain and
// guardSnapshot to the addon's exports.
void RegisterGuard(Napi::Env env, Napi::Object exports);

namespace guard {
// Registers the running, unreaped child `pid` with the guard's thread, as guardWatchChild does
// from JS: `spec` is { weight, version?, usage?, ... }. Returns its id (> 0), or -errno.
// For spawnSync, whose child runs while the agent's JS is blocked in the call.
int64_t WatchPid(Napi::Object spec, pid_t pid);
}  // namespace guard

#endif
