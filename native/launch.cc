// Launching a child (see launch.h).
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

#include "launch.h"
#include "linux_compat.h"

#include <sys/vfs.h>

#include <cstring>

#include "child_watch.h"


namespace {

const char *StepName(int step) {
  switch (step) {
    case PG_STEP_SIGNALS: return "sigaction";
    case PG_STEP_SETSID: return "setsid";
    case PG_STEP_CGROUP: return "cgroup";
    case PG_STEP_SETPRIORITY: return "setpriority";
    case PG_STEP_OOM_SCORE_ADJ: return "oom_score_adj";
    case PG_STEP_CHDIR: return "chdir";
    case PG_STEP_STDIO: return "dup2";
    case PG_STEP_SCHED_POLICY: return "sched_setscheduler";
    case PG_STEP_IOPRIO: return "ioprio_set";
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

LaunchRequest::LaunchRequest(Napi::Object req) {
  file = req.Get("file").As<Napi::String>().Utf8Value();
  argvStrings_ = StringArray(req.Get("argv"));
  envStrings_ = StringArray(req.Get("envp"));
  candidateStrings_ = ExecCandidates(file, req.Get("searchPath").As<Napi::String>().Utf8Value());
  Napi::Value cwdValue = req.Get("cwd");
  if (cwdValue.IsString()) cwd_ = cwdValue.As<Napi::String>().Utf8Value();

  argv_ = PointerArray(argvStrings_);
  envp_ = PointerArray(envStrings_);
  candidates_ = PointerArray(candidateStrings_);
  shellArgv_.push_back(const_cast<char *>("/bin/sh"));
  shellArgv_.push_back(nullptr);  // the child puts the candidate here
  for (size_t i = 1; i + 1 < argv_.size(); i++) shellArgv_.push_back(argv_[i]);
  shellArgv_.push_back(nullptr);

  plan.candidates = candidates_.data();
  plan.argv = argv_.data();
  plan.envp = envp_.data();
  plan.shell_argv = shellArgv_.data();
  plan.cwd = cwdValue.IsString() ? cwd_.c_str() : nullptr;
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
  // Both already checked and encoded by the TypeScript side: a policy number, an ioprio value.
  Napi::Value policy = req.Get("schedPolicy"), ioprio = req.Get("ioPriority");
  plan.set_sched_policy = policy.IsNumber();
  plan.sched_policy = plan.set_sched_policy ? policy.As<Napi::Number>().Int32Value() : 0;
  plan.set_ioprio = ioprio.IsNumber();
  plan.ioprio = plan.set_ioprio ? ioprio.As<Napi::Number>().Int32Value() : 0;
  plan.strict = req.Get("strict").ToBoolean();

  Napi::Value cgroupProcsValue = req.Get("cgroupProcs");
  if (cgroupProcsValue.IsArray()) cgroupProcs = StringArray(cgroupProcsValue);

  Napi::Array stdio = req.Get("stdio").As<Napi::Array>();
  for (uint32_t i = 0; i < stdio.Length(); i++) {
    Napi::Object entry = stdio.Get(i).As<Napi::Object>();
    stdioKinds.push_back(entry.Get("kind").As<Napi::String>().Utf8Value());
    Napi::Value fd = entry.Get("fd");
    stdioFds.push_back(fd.IsNumber() ? fd.As<Napi::Number>().Int32Value() : -1);
  }
}

Launched Launch(AddonState *state, LaunchRequest &request) {
  Launched out;
  struct pg_child_plan &plan = request.plan;
  size_t n = request.stdioKinds.size();

  // The child's fd table: our end of each socketpair is returned, the child's end is closed
  // here once the child has its copy.
  std::vector<int> stdioSrc(n, -1);
  out.pipes.assign(n, -1);
  std::vector<int> childEnds, cgroupFds;
  // A failure before the clone: nothing of it stays open but our pipe ends, which the caller
  // owns once every pipe exists (libuv too gives Node the streams of a spawn that failed).
  auto failBeforeClone = [&](int err, const char *step) {
    out.err = err;
    out.failedStep = step;
    CloseAll(cgroupFds);
    CloseAll(childEnds);
    return out;
  };
  for (size_t i = 0; i < n; i++) {
    const std::string &kind = request.stdioKinds[i];
    if (kind == "pipe") {
      int pair[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        int err = errno;
        CloseAll(out.pipes);  // not all made (EMFILE, ENFILE): as libuv, none is given
        out.pipes.assign(n, -1);
        return failBeforeClone(err, "socketpair");
      }
      out.pipes[i] = pair[0];
      childEnds.push_back(pair[1]);
      stdioSrc[i] = pair[1];
    } else if (kind == "fd") {
      stdioSrc[i] = request.stdioFds[i];
    } else if (i <= 2) {
      stdioSrc[i] = OpenDevNull(state);  // 'ignore' on 0-2: a program expects them open
    }
  }
  plan.nstdio = int(n);
  plan.stdio_src = stdioSrc.data();

  // The files the child joins its cgroups by (cgroup.procs, v1's tasks), opened here so that
  // the child only has to write to them.
  for (const std::string &procs : request.cgroupProcs) {
    int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return failBeforeClone(errno, "cgroup");
    cgroupFds.push_back(fd);
  }
  plan.ncgroup_fds = int(cgroupFds.size());
  plan.cgroup_fds = cgroupFds.data();

  // The cgroup v2 one, if any, the kernel can put the child into at clone time
  // (clone3 CLONE_INTO_CGROUP: no migration); the others (v1) the child joins itself.
  int intoCgroup = -1;
  std::vector<int> otherCgroupFds;
#ifdef PG_HAVE_CLONE3
  for (size_t i = 0; i < cgroupFds.size() && !state->clone3Unusable && intoCgroup < 0; i++) {
    struct statfs fs;
    if (fstatfs(cgroupFds[i], &fs) != 0 || fs.f_type != PG_CGROUP2_SUPER_MAGIC) continue;
    std::string dir = request.cgroupProcs[i].substr(0, request.cgroupProcs[i].rfind('/'));
    intoCgroup = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (intoCgroup < 0) continue;
    for (size_t j = 0; j < cgroupFds.size(); j++)
      if (j != i) otherCgroupFds.push_back(cgroupFds[j]);
  }
#endif

  // A child needs its own address space in two cases, and pays fork's page-table copy for it:
  // the agent is not dumpable (the dumpable toggle must not touch the agent's mm), or the
  // credentials change (the kernel resets dumpable on the shared mm when the euid changes).
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  bool credentialsChange = (plan.set_uid && plan.uid != geteuid()) || (plan.set_gid && plan.gid != getegid());
  plan.toggle_dumpable = plan.set_oom_score_adj && dumpable != 1;
  out.ownAddressSpace = credentialsChange || plan.toggle_dumpable;

  int reportPipe[2];
  if (pipe2(reportPipe, O_CLOEXEC) != 0) return failBeforeClone(errno, "pipe");
  plan.report_fd = reportPipe[1];

  // The child's stack. In the CLONE_VFORK case it is a part of this frame that nothing uses
  // while this thread is suspended; with an own address space the child has its own copy.
  alignas(64) char childStack[64 * 1024];

  int flags = SIGCHLD | (out.ownAddressSpace ? 0 : (CLONE_VM | CLONE_VFORK));
  bool wantPidfd = !state->pidfdDisabled && !state->clonePidfdRefused;
  // Without pidfds the exit is seen through SIGCHLD: watch for it before the child exists.
  if (state->pidfdDisabled || (state->clonePidfdRefused && state->pidfdOpenMissing)) EnsureSigchldWatcher(state);
  out.startMicros = MonotonicMicros();

  // Block every signal around clone: a handler of the agent must never run on the child's stack
  // or in the child before it has reset the dispositions.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = -1;
  errno = 0;
#ifdef PG_HAVE_CLONE3
  if (intoCgroup >= 0) {
    struct pg_clone_args args = {};
    args.flags = uint64_t(flags & ~0xff) | (wantPidfd ? CLONE_PIDFD : 0) | PG_CLONE_INTO_CGROUP;
    args.pidfd = uint64_t(uintptr_t(&out.pidfd));
    args.exit_signal = SIGCHLD;
    args.stack = uint64_t(uintptr_t(childStack));
    args.stack_size = sizeof childStack;
    args.cgroup = uint64_t(intoCgroup);
    plan.ncgroup_fds = int(otherCgroupFds.size());
    plan.cgroup_fds = otherCgroupFds.data();
    long r = pg_clone3(&args, sizeof args, pg_child_main, &plan);
    if (r >= 0) {
      pid = pid_t(r);
      out.intoCgroup = true;
    } else {
      // A kernel without clone3 (5.3) or CLONE_INTO_CGROUP (5.7): the child writes cgroup.procs.
      if (r == -ENOSYS || r == -E2BIG) state->clone3Unusable = true;
      plan.ncgroup_fds = int(cgroupFds.size());
      plan.cgroup_fds = cgroupFds.data();
      out.pidfd = -1;
    }
  }
#endif
  if (pid < 0) pid = clone(pg_child_main, childStack + sizeof childStack, flags | (wantPidfd ? CLONE_PIDFD : 0), &plan, &out.pidfd);
  if (pid < 0 && errno == EINVAL && wantPidfd) {
    state->clonePidfdRefused = true;  // before Linux 5.2
    out.pidfd = -1;
    pid = clone(pg_child_main, childStack + sizeof childStack, flags, &plan, nullptr);
  }
  int cloneErrno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);

  close(reportPipe[1]);
  CloseAll(childEnds);
  CloseAll(cgroupFds);
  if (intoCgroup >= 0) close(intoCgroup);
  if (pid < 0) {
    // EAGAIN (a full pids.max, RLIMIT_NPROC), ENOMEM: our pipe ends stay, the child's are closed,
    // so the streams of the failed spawn end at once, as libuv's do.
    close(reportPipe[0]);
    out.err = cloneErrno;
    out.failedStep = "clone";
    return out;
  }

  // Read the child's report until the pipe closes: at exec (close-on-exec) or at its exit.
  int fatalStep = 0;
  for (;;) {
    struct pg_report rec;
    ssize_t r = read(reportPipe[0], &rec, sizeof rec);
    if (r < 0 && errno == EINTR) continue;
    if (r != sizeof rec) break;
    if (rec.fatal) {
      fatalStep = rec.step;
      out.err = rec.err;
    } else {
      out.warnings.push_back({rec.step, rec.err});
    }
  }
  close(reportPipe[0]);

  if (fatalStep != 0) {
    // The child has exited (127) without running the command: reap exactly it, now. Our pipe
    // ends stay: as with libuv, the streams of a failed spawn exist and end.
    siginfo_t si;
    while (waitid(P_PID, pid, &si, WEXITED) != 0 && errno == EINTR) {
    }
    if (out.pidfd >= 0) close(out.pidfd);
    out.pidfd = -1;
    out.failedStep = StepName(fatalStep);
    return out;
  }

  if (out.pidfd < 0 && !state->pidfdDisabled && !state->pidfdOpenMissing) {
    out.pidfd = int(syscall(SYS_pidfd_open, pid, 0));
    if (out.pidfd < 0 && errno == ENOSYS) state->pidfdOpenMissing = true;  // before Linux 5.3
  }
  out.pid = pid;
  return out;
}

Napi::Object DescribeLaunch(Napi::Env env, const Launched &launched) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", launched.pid);
  result.Set("errno", launched.err);
  if (launched.failedStep) result.Set("failedStep", launched.failedStep);
  Napi::Array warnings = Napi::Array::New(env, launched.warnings.size());
  for (size_t i = 0; i < launched.warnings.size(); i++) {
    Napi::Object warning = Napi::Object::New(env);
    warning.Set("step", StepName(launched.warnings[i].step));
    warning.Set("errno", launched.warnings[i].err);
    warnings.Set(uint32_t(i), warning);
  }
  result.Set("warnings", warnings);
  Napi::Array pipes = Napi::Array::New(env, launched.pipes.size());
  for (size_t i = 0; i < launched.pipes.size(); i++) pipes.Set(uint32_t(i), launched.pipes[i]);
  result.Set("pipes", pipes);
  result.Set("ownAddressSpace", launched.ownAddressSpace);
  result.Set("intoCgroup", launched.intoCgroup);
  return result;
}
