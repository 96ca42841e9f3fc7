// Exits seen without libuv, for runtimes whose libuv is not real (Bun's uv_* functions abort;
// Deno has no uv_signal_*): one native thread per environment for all children, not a thread
// per child. It waits on every child's pidfd with epoll (on kernels without pidfds it looks at
// each pid with waitid(WNOWAIT) every 50 ms) and only notices: it tells the JS thread through a
// thread-safe function, and the JS thread reaps, exactly as the uv_poll watcher does on Node.
// Reaping on one thread keeps kill() by pid safe: an unreaped pid cannot have been recycled.
#ifndef PROCGUARD_EXIT_THREAD_H
#define PROCGUARD_EXIT_THREAD_H

#include <napi.h>
#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <pthread.h>
#include <unordered_map>
#include <vector>

class ChildWatch;

class ExitThread {
 public:
  // Makes the epoll set, the thread-safe function and the thread; nullptr (and *error) when one fails.
  static ExitThread *Start(napi_env env, std::string *error);
  // Called on the JS thread. Watch never fails: a pidfd epoll refuses is watched by pid instead.
  uint64_t Watch(ChildWatch *watch, pid_t pid, int pidfd);
  // Before the pidfd is closed: the thread no longer looks at this child.
  void Forget(uint64_t id, int pidfd);
  // The child was noticed but not reaped yet (a spurious wakeup): look again.
  void Rearm(uint64_t id, pid_t pid, int pidfd);
  // Refed children keep the event loop alive, as a uv_poll handle does; none: the thread does not.
  void Ref();
  void Unref();
  // Environment teardown: ends the thread and releases the thread-safe function.
  void Stop();

 private:
  ExitThread() = default;
  void Run();
  void Notify(uint64_t id);
  static void OnNotice(napi_env env, napi_value, void *context, void *data);
  static void Finalize(napi_env env, void *data, void *hint);

  napi_env env_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;
  int epoll_ = -1;
  int wake_ = -1;  // eventfd: a new pid to poll, or stop
  pthread_t thread_{};
  bool started_ = false;
  int refs_ = 0;
  uint64_t nextId_ = 1;  // 0 is the wake eventfd in the epoll set
  std::unordered_map<uint64_t, ChildWatch *> watched_;  // JS thread only
  std::mutex mutex_;  // guards what follows, shared with the thread
  std::vector<std::pair<uint64_t, pid_t>> pollPids_;
  bool stopping_ = false;
};

// False under Bun and Deno (their globals say so): libuv there is partial or stubs that abort.
bool RuntimeHasLibuv(napi_env env);

// `startExitThread()`: exits of children from now on come through the thread; '' or why not.
Napi::Value StartExitThread(const Napi::CallbackInfo &info);

#endif
