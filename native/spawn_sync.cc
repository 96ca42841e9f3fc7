// The sync spawn: launch the child on the same clone engine, then, on this thread, feed its
// input, collect its output, enforce timeout and maxBuffer, and reap it, with poll() over
// non-blocking pipes and the pidfd, so a full pipe never blocks us. Node's SyncProcessRunner
// semantics: the error is the first of timeout (ETIMEDOUT), maxBuffer (ENOBUFS) or a pipe's
// error (EPIPE); output is kept up to the kill; the call returns once the child is reaped
// and every pipe is closed.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmath>
#include <string>
#include <vector>

#include "child_watch.h"
#include "guard/guard.h"
#include "launch.h"
#include "linux_compat.h"


namespace {

struct SyncPipe {
  int fd = -1;
  bool childReads = false;   // we write `input`, then close
  bool childWrites = false;  // we collect what it writes
  std::string input;
  size_t written = 0;
  std::string output;
};

class SyncRun {
 public:
  SyncRun(Launched &launched, std::vector<SyncPipe> &pipes, int64_t timeoutMs, double maxBuffer, int killSignal)
      : launched_(launched), pipes_(pipes), maxBuffer_(maxBuffer), killSignal_(killSignal) {
    deadline_ = timeoutMs > 0 ? launched.startMicros + timeoutMs * 1000 : 0;
  }

  void Run() {
    for (SyncPipe &pipe : pipes_) {
      if (pipe.fd < 0) continue;
      fcntl(pipe.fd, F_SETFL, fcntl(pipe.fd, F_GETFL) | O_NONBLOCK);
      // A child that reads from a pipe we have nothing to write to sees EOF at once.
      if (pipe.childReads && pipe.input.empty()) FinishInput(pipe);
    }
    while (!reaped_ || OpenPipes() > 0) {
      std::vector<struct pollfd> fds;
      std::vector<SyncPipe *> owners;
      for (SyncPipe &pipe : pipes_) {
        if (pipe.fd < 0) continue;
        short events = 0;
        if (pipe.childWrites) events |= POLLIN;
        if (pipe.childReads && pipe.written < pipe.input.size()) events |= POLLOUT;
        fds.push_back({pipe.fd, events, 0});
        owners.push_back(&pipe);
      }
      if (!reaped_ && launched_.pidfd >= 0) {
        fds.push_back({launched_.pidfd, POLLIN, 0});
        owners.push_back(nullptr);
      }
      int r = poll(fds.data(), fds.size(), PollTimeout());
      if (r < 0 && errno != EINTR) break;
      for (size_t i = 0; r > 0 && i < fds.size(); i++) {
        if (!fds[i].revents) continue;
        if (owners[i] == nullptr)
          TryReap();
        else
          Service(*owners[i], fds[i].revents);
      }
      if (launched_.pidfd < 0 && !reaped_) TryReap();  // no pidfd: look at each turn
      if (deadline_ && !reaped_ && MonotonicMicros() >= deadline_) Kill(ETIMEDOUT);
    }
  }

  int Error() const { return error_ ? error_ : pipeError_; }
  bool reaped() const { return reaped_; }
  const siginfo_t &info() const { return info_; }
  const struct rusage &usage() const { return usage_; }
  int64_t wallMicros() const { return wallMicros_; }

 private:
  int OpenPipes() const {
    int n = 0;
    for (const SyncPipe &pipe : pipes_) n += pipe.fd >= 0;
    return n;
  }

  int PollTimeout() const {
    int timeout = -1;
    if (deadline_ && !reaped_) {
      int64_t left = deadline_ - MonotonicMicros();
      timeout = left <= 0 ? 0 : int((left + 999) / 1000);
    }
    // Without a pidfd the exit does not wake poll(): look again every few milliseconds.
    if (launched_.pidfd < 0 && !reaped_ && (timeout < 0 || timeout > 5)) timeout = 5;
    return timeout;
  }

  void Service(SyncPipe &pipe, short revents) {
    if (pipe.childWrites && (revents & (POLLIN | POLLHUP | POLLERR))) Drain(pipe);
    if (pipe.fd >= 0 && pipe.childReads && (revents & (POLLOUT | POLLERR | POLLHUP))) Feed(pipe);
  }

  void Drain(SyncPipe &pipe) {
    char buf[65536];
    for (;;) {
      ssize_t n = read(pipe.fd, buf, sizeof buf);
      if (n > 0) {
        pipe.output.append(buf, size_t(n));
        total_ += double(n);
        // As in Node, the limit is on everything buffered, and what was read is kept.
        if (std::isfinite(maxBuffer_) && total_ > maxBuffer_) {
          Kill(ENOBUFS);
          return;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && !pipeError_) pipeError_ = errno;
      ClosePipe(pipe);  // EOF or error
      return;
    }
  }

  void Feed(SyncPipe &pipe) {
    while (pipe.written < pipe.input.size()) {
      ssize_t n = send(pipe.fd, pipe.input.data() + pipe.written, pipe.input.size() - pipe.written, MSG_NOSIGNAL);
      if (n > 0) {
        pipe.written += size_t(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (!pipeError_) pipeError_ = errno;  // EPIPE: the child stopped reading
      FinishInput(pipe);
      return;
    }
    FinishInput(pipe);
  }

  void FinishInput(SyncPipe &pipe) {
    if (pipe.childWrites) {
      shutdown(pipe.fd, SHUT_WR);  // EOF for the child; its output still comes back here
      pipe.childReads = false;
    } else {
      ClosePipe(pipe);
    }
  }

  static void ClosePipe(SyncPipe &pipe) {
    if (pipe.fd >= 0) close(pipe.fd);
    pipe.fd = -1;
  }

  void TryReap() {
    siginfo_t info{};
    struct rusage usage{};
    int r = launched_.pidfd >= 0 ? WaitidWithUsage(PG_P_PIDFD, launched_.pidfd, &info, WEXITED | WNOHANG, &usage) : -EINVAL;
    if (r == -EINVAL) r = WaitidWithUsage(P_PID, launched_.pid, &info, WEXITED | WNOHANG, &usage);  // no pidfd, or before 5.4
    if (r != 0 || info.si_pid == 0) return;
    reaped_ = true;
    info_ = info;
    usage_ = usage;
    wallMicros_ = MonotonicMicros() - launched_.startMicros;
  }

  // Timeout or maxBuffer: signal the child, stop reading and writing, and wait for its exit.
  void Kill(int why) {
    if (killed_) return;
    killed_ = true;
    if (!error_) error_ = why;
    if (!reaped_) {
      int r = SignalChild(launched_.pidfd, launched_.pid, killSignal_);
      if (r < 0 && r != -ESRCH) SignalChild(launched_.pidfd, launched_.pid, SIGKILL);
    }
    for (SyncPipe &pipe : pipes_) ClosePipe(pipe);
  }

  Launched &launched_;
  std::vector<SyncPipe> &pipes_;
  double maxBuffer_;
  int killSignal_;
  int64_t deadline_ = 0;
  double total_ = 0;
  bool killed_ = false;
  bool reaped_ = false;
  int error_ = 0;
  int pipeError_ = 0;
  siginfo_t info_{};
  struct rusage usage_{};
  int64_t wallMicros_ = 0;
};

}  // namespace

Napi::Value SpawnSync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  AddonState *state = GetState(env);
  Napi::Object req = info[0].As<Napi::Object>();
  LaunchRequest request(req);
  int64_t timeoutMs = req.Get("timeout").IsNumber() ? req.Get("timeout").As<Napi::Number>().Int64Value() : 0;
  double maxBuffer = req.Get("maxBuffer").IsNumber() ? req.Get("maxBuffer").As<Napi::Number>().DoubleValue() : INFINITY;
  int killSignal = req.Get("killSignal").IsNumber() ? req.Get("killSignal").As<Napi::Number>().Int32Value() : SIGTERM;

  Napi::Array stdio = req.Get("stdio").As<Napi::Array>();
  std::vector<SyncPipe> pipes(stdio.Length());
  for (uint32_t i = 0; i < stdio.Length(); i++) {
    Napi::Object entry = stdio.Get(i).As<Napi::Object>();
    pipes[i].childReads = entry.Get("childReads").ToBoolean();
    pipes[i].childWrites = entry.Get("childWrites").ToBoolean();
    Napi::Value input = entry.Get("input");
    if (input.IsBuffer()) {
      Napi::Buffer<char> buffer = input.As<Napi::Buffer<char>>();
      pipes[i].input.assign(buffer.Data(), buffer.Length());
    }
  }

  Napi::Value guardWatch = req.Get("guardWatch");

  Launched launched = Launch(state, request);
  if (launched.err != 0) {
    for (int fd : launched.pipes)
      if (fd >= 0) close(fd);
    return DescribeLaunch(env, launched);
  }
  for (size_t i = 0; i < pipes.size(); i++) pipes[i].fd = launched.pipes[i];
  // The guard's thread watches this child too: the agent's JS is blocked in this call, the
  // guard is not. Registered before the pump, so the child is never unwatched while it runs.
  int64_t guardId = guardWatch.IsObject() ? guard::WatchPid(guardWatch.As<Napi::Object>(), launched.pid) : 0;

  SyncRun run(launched, pipes, timeoutMs, maxBuffer, killSignal);
  run.Run();
  if (launched.pidfd >= 0) close(launched.pidfd);

  // The child is reaped and every fd closed: from here on only JS values are made.
  Napi::Object result = DescribeLaunch(env, launched);
  Napi::Array output = Napi::Array::New(env, pipes.size());
  for (uint32_t i = 0; i < pipes.size(); i++) {
    if (pipes[i].childWrites)
      output.Set(i, Napi::Buffer<char>::Copy(env, pipes[i].output.data(), pipes[i].output.size()));
    else
      output.Set(i, env.Null());
  }
  result.Set("output", output);
  result.Set("error", run.Error());
  if (guardId > 0) result.Set("guardId", double(guardId));
  DescribeExit(env, result, run.info(), run.usage(), run.wallMicros());
  return result;
}
