// Launching a child: the parent side shared by the async and the sync spawn. Everything the
// child needs is allocated and laid out here, the child is cloned, and its report is read.
// See child.c for the child side.
#ifndef PROCGUARD_LAUNCH_H
#define PROCGUARD_LAUNCH_H

#include <napi.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "addon_state.h"
#include "child.h"

// A request from JS, owning every string the plan points into.
class LaunchRequest {
 public:
  explicit LaunchRequest(Napi::Object request);
  LaunchRequest(const LaunchRequest &) = delete;

  std::string file;
  struct pg_child_plan plan = {};
  // Per stdio index: 'pipe', 'fd' (with stdioFd) or 'ignore'.
  std::vector<std::string> stdioKinds;
  std::vector<int> stdioFds;
  // cgroup.procs files the child joins before exec.
  std::vector<std::string> cgroupProcs;

 private:
  std::vector<std::string> argvStrings_, envStrings_, candidateStrings_;
  std::vector<char *> argv_, envp_, candidates_, shellArgv_;
  std::string cwd_;
};

struct LaunchWarning {
  int step;
  int err;
};

struct Launched {
  pid_t pid = 0;
  int pidfd = -1;            // -1: the kernel gave none
  int err = 0;               // 0, or the errno that made the spawn fail (no child is left)
  const char *failedStep = nullptr;
  std::vector<LaunchWarning> warnings;
  // Our end per stdio index ('pipe' entries), -1 elsewhere; the caller's to open or close, also
  // after a failure (all -1 when they could not all be made).
  std::vector<int> pipes;
  bool ownAddressSpace = false;
  bool intoCgroup = false;   // placed in its cgroup v2 by clone3(CLONE_INTO_CGROUP)
  int64_t startMicros = 0;   // CLOCK_MONOTONIC at clone
};

// Clones the child and runs it up to exec (or its failure). On failure after the clone, the
// child is already reaped; on any failure `pipes` still holds our ends, as libuv does.
Launched Launch(AddonState *state, LaunchRequest &request);

// The part of the JS result both spawns share: pid, errno, failedStep, warnings, pipes,
// ownAddressSpace.
Napi::Object DescribeLaunch(Napi::Env env, const Launched &launched);

#endif
