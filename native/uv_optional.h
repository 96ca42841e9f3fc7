// The libuv functions the addon calls, referenced weakly. A runtime that loads Node-API addons
// need not export libuv: Deno has uv_poll but no uv_signal_*, Bun exports stubs that abort.
// The addon is linked with `-z now` (every symbol bound at load), so one strong reference to a
// function the runtime lacks would make dlopen() fail with "undefined symbol". Weak, a missing
// one is a null address instead, and the addon calls libuv only where the runtime is Node
// (lib/runtime/ decides; elsewhere exits come through exit_thread.cc). scripts/check-abi.js
// fails on any strong uv_* reference. Included in every translation unit (binding.gyp -include)
// so no file can reference libuv strongly by accident.
#ifndef PROCGUARD_UV_OPTIONAL_H
#define PROCGUARD_UV_OPTIONAL_H

#ifdef __cplusplus
#include <uv.h>

extern "C" {
#define PG_WEAK __attribute__((weak))
PG_WEAK int uv_poll_init(uv_loop_t *, uv_poll_t *, int);
PG_WEAK int uv_poll_start(uv_poll_t *, int, uv_poll_cb);
PG_WEAK int uv_poll_stop(uv_poll_t *);
PG_WEAK int uv_signal_init(uv_loop_t *, uv_signal_t *);
PG_WEAK int uv_signal_start(uv_signal_t *, uv_signal_cb, int);
PG_WEAK int uv_timer_init(uv_loop_t *, uv_timer_t *);
PG_WEAK int uv_timer_start(uv_timer_t *, uv_timer_cb, uint64_t, uint64_t);
PG_WEAK int uv_check_init(uv_loop_t *, uv_check_t *);
PG_WEAK int uv_check_start(uv_check_t *, uv_check_cb);
PG_WEAK int uv_check_stop(uv_check_t *);
PG_WEAK void uv_close(uv_handle_t *, uv_close_cb);
PG_WEAK void uv_ref(uv_handle_t *);
PG_WEAK void uv_unref(uv_handle_t *);
#undef PG_WEAK
}

// Whether this process has the libuv functions the loop-based exit watcher needs (pidfd on a
// uv_poll, else the SIGCHLD fallback); Bun's exist but abort, which only lib/runtime/ knows.
inline bool UvLoopWatcherLinked() {
  return uv_poll_init && uv_poll_start && uv_poll_stop && uv_signal_init && uv_signal_start && uv_timer_init &&
         uv_timer_start && uv_check_init && uv_check_start && uv_check_stop && uv_close && uv_ref && uv_unref;
}
#endif

#endif
