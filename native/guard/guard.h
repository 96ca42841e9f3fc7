// The guard (issue 10): one native thread per process that watches memory headroom, the
// memory.high throttle band and the machine's MemAvailable, and acts on the agent's own
// children while the agent's JavaScript may be stalled. See guard_loop.cc.
#ifndef PROCGUARD_GUARD_H
#define PROCGUARD_GUARD_H

#include <napi.h>

// Adds guardStart, guardConfigure, guardStop, guardWatchChild, guardForgetChild, guardDrain and
// guardSnapshot to the addon's exports.
void RegisterGuard(Napi::Env env, Napi::Object exports);

#endif
