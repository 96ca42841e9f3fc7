// The parent side of a spawn: everything the child needs is allocated and laid out here, the
// child is cloned, and its report is read back. See child.c for the child side.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "addon_state.h"
#include "child.h"
#include "child_watch.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace {

const char *StepName(int step) {
  switch (step) {
    case PG_STEP_SIGNALS: return "sigaction";
    case PG_STEP_SETSID: return "setsid";
    case PG_STEP_SETPRIORITY: return "setpriority";
    case PG_STEP_OOM_SCORE_ADJ: return "oom_score_adj";
    case PG_STEP_CHDIR: return "chdir";
    case PG_STEP_STDIO: return "dup2";
    case PG_STEP_SETGROUPS: return "setgroups";
    case PG_STEP_SETGID: return "setgid";
    case PG_STEP_SETUID: return "setuid";
    case PG_STEP_EXECVE: return "execve";
    default: return "unknown";
  }
}

std::vector<std::string> StringArray(Napi::Value value) {
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) out.push_back(array.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

std::vector<char *> PointerArray(std::vector<std::string> &strings) {
  std::vector<char *> out;
  out.reserve(strings.size() + 1);
  for (auto &s : strings) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

// execvp's search, done here so the child never allocates: every place the file may be.
std::vector<std::string> ExecCandidates(const std::string &file, const std::string &searchPath) {
  if (file.find('/') != std::string::npos) return {file};
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = searchPath.find(':', start);
    std::string dir = searchPath.substr(start, end == std::string::npos ? std::string::npos : end - start);
    // An empty entry means the working directory, as in execvp.
    out.push_back(dir.empty() ? file : dir + "/" + file);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

int OpenDevNull(AddonState *state) {
  if (state->devNull < 0) state->devNull = open("/dev/null", O_RDWR | O_CLOEXEC);
  return state->devNull;
}

void CloseAll(std::vector<int> &fds) {
  for (int fd : fds)
    if (fd >= 0) close(fd);
  fds.clear();
}

}  // namespace

Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  AddonState *state = GetState(env);
  Napi::Object req = info[0].As<Napi::Object>();

  std::string file = req.Get("file").As<Napi::String>().Utf8Value();
  std::vector<std::string> argvStrings = StringArray(req.Get("argv"));
  std::vector<std::string> envStrings = StringArray(req.Get("envp"));
  std::vector<std::string> candidateStrings =
      ExecCandidates(file, req.Get("searchPath").As<Napi::String>().Utf8Value());
  Napi::Value cwdValue = req.Get("cwd");
  std::string cwd = cwdValue.IsString() ? cwdValue.As<Napi::String>().Utf8Value() : "";
  Napi::Function onExit = req.Get("onExit").As<Napi::Function>();

  std::vector<char *> argv = PointerArray(argvStrings);
  std::vector<char *> envp = PointerArray(envStrings);
  std::vector<char *> candidates = PointerArray(candidateStrings);
  std::vector<char *> shellArgv;
  shellArgv.push_back(const_cast<char *>("/bin/sh"));
  shellArgv.push_back(nullptr);  // the child puts the candidate here
  for (size_t i = 1; i + 1 < argv.size(); i++) shellArgv.push_back(argv[i]);
  shellArgv.push_back(nullptr);

  struct pg_child_plan plan = {};
  plan.candidates = candidates.data();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.shell_argv = shellArgv.data();
  plan.cwd = cwdValue.IsString() ? cwd.c_str() : nullptr;
  plan.detached = req.Get("detached").ToBoolean();
  Napi::Value uid = req.Get("uid"), gid = req.Get("gid");
  plan.set_uid = uid.IsNumber();
  plan.uid = plan.set_uid ? uid.As<Napi::Number>().Uint32Value() : 0;
  plan.set_gid = gid.IsNumber();
  plan.gid = plan.set_gid ? gid.As<Napi::Number>().Uint32Value() : 0;
  Napi::Value nice = req.Get("nice"), oom = req.Get("oomScoreAdj");
  plan.set_nice = nice.IsNumber();
  plan.nice = plan.set_nice ? nice.As<Napi::Number>().Int32Value() : 0;
  plan.set_oom_score_adj = oom.IsNumber();
  if (plan.set_oom_score_adj) {
    std::string text = std::to_string(oom.As<Napi::Number>().Int32Value());
    plan.oom_score_adj_len = int(text.size());
    memcpy(plan.oom_score_adj_text, text.data(), text.size());
  }
  plan.strict = req.Get("strict").ToBoolean();

  Napi::Object result = Napi::Object::New(env);
  Napi::Array warnings = Napi::Array::New(env);
  result.Set("warnings", warnings);
  result.Set("pipes", Napi::Array::New(env));
  result.Set("pid", 0);
  result.Set("ownAddressSpace", false);

  // The child's fd table: our end of each socketpair goes back to JS, the child's end is closed
  // here once the child has its copy.
  Napi::Array stdio = req.Get("stdio").As<Napi::Array>();
  std::vector<int> stdioSrc(stdio.Length(), -1);
  std::vector<int> parentEnds(stdio.Length(), -1);
  std::vector<int> childEnds;
  for (uint32_t i = 0; i < stdio.Length(); i++) {
    Napi::Object entry = stdio.Get(i).As<Napi::Object>();
    std::string kind = entry.Get("kind").As<Napi::String>().Utf8Value();
    if (kind == "pipe") {
      int pair[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        int err = errno;
        CloseAll(parentEnds);
        CloseAll(childEnds);
        result.Set("errno", err);
        result.Set("failedStep", "socketpair");
        return result;
      }
      parentEnds[i] = pair[0];
      childEnds.push_back(pair[1]);
      stdioSrc[i] = pair[1];
    } else if (kind == "fd") {
      stdioSrc[i] = entry.Get("fd").As<Napi::Number>().Int32Value();
    } else if (i <= 2) {
      stdioSrc[i] = OpenDevNull(state);  // 'ignore' on 0-2: a program expects them open
    }
  }
  plan.nstdio = int(stdioSrc.size());
  plan.stdio_src = stdioSrc.data();

  // A child needs its own address space in two cases, and pays fork's page-table copy for it:
  // the agent is not dumpable (the dumpable toggle must not touch the agent's mm), or the
  // credentials change (the kernel resets dumpable on the shared mm when the euid changes).
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  bool credentialsChange = (plan.set_uid && plan.uid != geteuid()) || (plan.set_gid && plan.gid != getegid());
  plan.toggle_dumpable = plan.set_oom_score_adj && dumpable != 1;
  bool ownAddressSpace = credentialsChange || plan.toggle_dumpable;
  result.Set("ownAddressSpace", ownAddressSpace);

  int reportPipe[2];
  if (pipe2(reportPipe, O_CLOEXEC) != 0) {
    int err = errno;
    CloseAll(parentEnds);
    CloseAll(childEnds);
    result.Set("errno", err);
    result.Set("failedStep", "pipe");
    return result;
  }
  plan.report_fd = reportPipe[1];

  // The child's stack. In the CLONE_VFORK case it is a part of this frame that nothing uses
  // while this thread is suspended; with an own address space the child has its own copy.
  alignas(64) char childStack[64 * 1024];

  int flags = SIGCHLD | (ownAddressSpace ? 0 : (CLONE_VM | CLONE_VFORK));
  bool wantPidfd = !state->pidfdDisabled && !state->clonePidfdRefused;
  // Without pidfds the exit is seen through SIGCHLD: watch for it before the child exists.
  if (state->pidfdDisabled || (state->clonePidfdRefused && state->pidfdOpenMissing)) EnsureSigchldWatcher(state);
  int pidfd = -1;
  int64_t start = MonotonicMicros();

  // Block every signal around clone: a handler of the agent must never run on the child's stack
  // or in the child before it has reset the dispositions.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = clone(pg_child_main, childStack + sizeof childStack, flags | (wantPidfd ? CLONE_PIDFD : 0), &plan,
                    &pidfd);
  if (pid < 0 && errno == EINVAL && wantPidfd) {
    state->clonePidfdRefused = true;  // before Linux 5.2
    pidfd = -1;
    pid = clone(pg_child_main, childStack + sizeof childStack, flags, &plan, nullptr);
  }
  int cloneErrno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);

  close(reportPipe[1]);
  CloseAll(childEnds);
  if (pid < 0) {
    close(reportPipe[0]);
    CloseAll(parentEnds);
    result.Set("errno", cloneErrno);
    result.Set("failedStep", "clone");
    return result;
  }

  // Read the child's report until the pipe closes: at exec (close-on-exec) or at its exit.
  int fatalStep = 0, fatalErrno = 0;
  for (;;) {
    struct pg_report rec;
    ssize_t n = read(reportPipe[0], &rec, sizeof rec);
    if (n < 0 && errno == EINTR) continue;
    if (n != sizeof rec) break;
    if (rec.fatal) {
      fatalStep = rec.step;
      fatalErrno = rec.err;
    } else {
      Napi::Object warning = Napi::Object::New(env);
      warning.Set("step", StepName(rec.step));
      warning.Set("errno", rec.err);
      warnings.Set(warnings.Length(), warning);
    }
  }
  close(reportPipe[0]);

  Napi::Array pipes = Napi::Array::New(env, parentEnds.size());
  for (uint32_t i = 0; i < parentEnds.size(); i++) pipes.Set(i, parentEnds[i]);
  result.Set("pipes", pipes);

  if (fatalStep != 0) {
    // The child has exited (127) without running the command: reap exactly it, now. Our pipe
    // ends go back all the same: as with libuv, the streams of a failed spawn exist and end.
    siginfo_t si;
    while (waitid(P_PID, pid, &si, WEXITED) != 0 && errno == EINTR) {
    }
    if (pidfd >= 0) close(pidfd);
    result.Set("errno", fatalErrno);
    result.Set("failedStep", StepName(fatalStep));
    return result;
  }

  if (pidfd < 0 && !state->pidfdDisabled && !state->pidfdOpenMissing) {
    pidfd = int(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0 && errno == ENOSYS) state->pidfdOpenMissing = true;  // before Linux 5.3
  }

  Napi::Object watchObject = state->childWatchConstructor.New({});
  ChildWatch::Unwrap(watchObject)->Start(state, pid, pidfd, onExit, start);

  result.Set("pid", pid);
  result.Set("errno", 0);
  result.Set("child", watchObject);
  return result;
}
