#include "exit_thread.h"
#include "napi_boundary.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "addon_state.h"
#include "child_watch.h"
#include "napi_boundary.h"

static constexpr int kPidPollMillis = 50;  // kernels before 5.3 only: no pidfd to wait on

ExitThread *ExitThread::Start(napi_env env, std::string *error) {
  auto *self = new ExitThread();
  self->env_ = env;
  self->epoll_ = epoll_create1(EPOLL_CLOEXEC);
  self->wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  napi_value name;
  if (self->epoll_ < 0 || self->wake_ < 0 || epoll_ctl(self->epoll_, EPOLL_CTL_ADD, self->wake_, &ev) != 0) {
    *error = std::string("epoll: ") + strerror(errno);
  } else if (napi_create_string_utf8(env, "procguard exit thread", NAPI_AUTO_LENGTH, &name) != napi_ok ||
             napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, self, Finalize, self, OnNotice,
                                             &self->tsfn_) != napi_ok) {
    *error = "napi_create_threadsafe_function failed";
  } else {
    // No child yet: nothing to keep the loop alive for.
    napi_unref_threadsafe_function(env, self->tsfn_);
    // pthread rather than std::thread: no exception to catch, and no libstdc++ thread code.
    int err = pthread_create(&self->thread_, nullptr, [](void *arg) -> void * {
      static_cast<ExitThread *>(arg)->Run();
      return nullptr;
    }, self);
    if (err == 0) {
      self->started_ = true;
      return self;
    }
    *error = std::string("pthread_create: ") + strerror(err);
  }
  if (self->tsfn_) {
    napi_release_threadsafe_function(self->tsfn_, napi_tsfn_abort);  // Finalize deletes it
  } else {
    Finalize(env, self, nullptr);
  }
  return nullptr;
}

void ExitThread::Run() {
  // Every signal stays with the runtime's own threads, as if this thread did not exist.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  struct epoll_event events[64];
  for (;;) {
    int timeout;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      timeout = pollPids_.empty() ? -1 : kPidPollMillis;
    }
    int n = epoll_wait(epoll_, events, 64, timeout);
    if (n < 0 && errno != EINTR) return;
    for (int i = 0; i < n; i++) {
      if (events[i].data.u64 == 0) {
        uint64_t count;
        while (read(wake_, &count, sizeof count) > 0) {
        }
      } else {
        Notify(events[i].data.u64);  // EPOLLONESHOT: disarmed until Rearm
      }
    }
    std::vector<uint64_t> exited;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      for (auto it = pollPids_.begin(); it != pollPids_.end();) {
        siginfo_t info{};
        // WNOWAIT: only look; the JS thread reaps.
        int r = waitid(P_PID, it->second, &info, WEXITED | WNOHANG | WNOWAIT);
        if ((r == 0 && info.si_pid != 0) || (r < 0 && errno == ECHILD)) {
          exited.push_back(it->first);
          it = pollPids_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (uint64_t id : exited) Notify(id);
  }
}

void ExitThread::Notify(uint64_t id) {
  // Unbounded queue: never blocks. napi_closing means the environment is going: nobody to tell.
  napi_call_threadsafe_function(tsfn_, reinterpret_cast<void *>(uintptr_t(id)), napi_tsfn_nonblocking);
}

// On the JS thread. A watch forgotten since (teardown, or already reaped) is simply not found.
void ExitThread::OnNotice(napi_env env, napi_value, void *context, void *data) {
  if (env == nullptr) return;  // the thread-safe function is being finalized
  auto *self = static_cast<ExitThread *>(context);
  auto it = self->watched_.find(uint64_t(uintptr_t(data)));
  if (it == self->watched_.end()) return;
  ChildWatch *watch = it->second;
  boundary::Contain([&] { watch->ExitNoticed(); });  // an N-API entry point: nothing thrown crosses it
}

uint64_t ExitThread::Watch(ChildWatch *watch, pid_t pid, int pidfd) {
  uint64_t id = nextId_++;
  watched_[id] = watch;
  Rearm(id, pid, pidfd);
  return id;
}

void ExitThread::Rearm(uint64_t id, pid_t pid, int pidfd) {
  if (pidfd >= 0) {
    struct epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_, EPOLL_CTL_MOD, pidfd, &ev) == 0 || epoll_ctl(epoll_, EPOLL_CTL_ADD, pidfd, &ev) == 0) return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pollPids_.emplace_back(id, pid);
  }
  uint64_t one = 1;
  if (write(wake_, &one, sizeof one) < 0) {
    // The counter is saturated: the thread is awake already.
  }
}

void ExitThread::Forget(uint64_t id, int pidfd) {
  watched_.erase(id);
  if (pidfd >= 0) epoll_ctl(epoll_, EPOLL_CTL_DEL, pidfd, nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = pollPids_.begin(); it != pollPids_.end(); ++it) {
    if (it->first == id) {
      pollPids_.erase(it);
      break;
    }
  }
}

void ExitThread::Ref() {
  if (refs_++ == 0) napi_ref_threadsafe_function(env_, tsfn_);
}

void ExitThread::Unref() {
  if (--refs_ == 0) napi_unref_threadsafe_function(env_, tsfn_);
}

void ExitThread::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  uint64_t one = 1;
  if (write(wake_, &one, sizeof one) < 0) {
    // Saturated: the thread wakes anyway.
  }
  if (started_) pthread_join(thread_, nullptr);
  watched_.clear();
  napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);  // Finalize deletes this
}

void ExitThread::Finalize(napi_env, void *data, void *) {
  auto *self = static_cast<ExitThread *>(data);
  if (self->epoll_ >= 0) close(self->epoll_);
  if (self->wake_ >= 0) close(self->wake_);
  delete self;
}

Napi::Value StartExitThread(const Napi::CallbackInfo &info) {
  AddonState *state = GetState(info.Env());
  std::string error;
  if (!state->exitThread) state->exitThread = ExitThread::Start(info.Env(), &error);
  return Napi::String::New(info.Env(), error);
}

bool RuntimeHasLibuv(napi_env env) {
  napi_value global;
  if (napi_get_global(env, &global) != napi_ok) return true;
  for (const char *name : {"Bun", "Deno"}) {
    bool has = false;
    if (napi_has_named_property(env, global, name, &has) == napi_ok && has) return false;
  }
  return true;
}
