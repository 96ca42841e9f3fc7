// The edge between the addon's C++ and Node: no C++ exception ever crosses it.
//
// node-addon-api reports a failed N-API call by throwing a Napi::Error, and turns it into a JS
// exception when the call returns to JS. In an environment that can no longer run JS (a worker
// being terminated) that conversion itself fails, and a C++ exception escaping into V8 is
// std::terminate: the whole agent aborts. So every way into the addon (functions JS calls, the
// module's init, libuv callbacks) runs its body through one of the two guards below, which catch
// everything; a caught exception becomes a pending JS exception when the environment can still
// take one, and is dropped when it cannot (nobody is left to see it).
#ifndef PROCGUARD_NAPI_BOUNDARY_H
#define PROCGUARD_NAPI_BOUNDARY_H

#include <napi.h>

#include <exception>

namespace boundary {

// Throws `error` into JS unless an exception is already pending or JS cannot run any more.
inline void ThrowIfPossible(napi_env env, napi_value error) {
  bool pending = false;
  if (error == nullptr || napi_is_exception_pending(env, &pending) != napi_ok || pending) return;
  napi_throw(env, error);  // fails (and is ignored) in a terminating environment
}

inline void ThrowMessageIfPossible(napi_env env, const char *message) {
  napi_value text, error;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text) != napi_ok) return;
  if (napi_create_error(env, nullptr, text, &error) != napi_ok) return;
  ThrowIfPossible(env, error);
}

// Runs `body` (returning a napi_value, or nullptr); whatever it throws stays on this side.
template <typename Body>
napi_value Guard(napi_env env, Body &&body) noexcept {
  try {
    return body();
  } catch (const Napi::Error &err) {
    napi_value value = nullptr;
    try {
      value = err.Value();
    } catch (...) {
    }
    if (value != nullptr)
      ThrowIfPossible(env, value);
    else
      ThrowMessageIfPossible(env, "procguard: a native call failed");
  } catch (const std::exception &err) {
    ThrowMessageIfPossible(env, err.what());
  } catch (...) {
    ThrowMessageIfPossible(env, "procguard: unexpected native exception");
  }
  return nullptr;
}

// A node-addon-api style function as a raw napi_callback, behind the guard.
template <Napi::Value (*Fn)(const Napi::CallbackInfo &)>
napi_value Entry(napi_env env, napi_callback_info cbinfo) noexcept {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    return Fn(info);
  });
}

// Runs `body` and drops whatever it throws: for callbacks from libuv (no caller to tell) and for
// steps after a child exists that must not stop the rest (its watch must start regardless).
template <typename Body>
void Contain(Body &&body) noexcept {
  try {
    body();
  } catch (...) {
  }
}

}  // namespace boundary

#endif
