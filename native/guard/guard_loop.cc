// The guard's thread: wake (a PSI trigger, a victim's exit, or the adaptive timeout), sample the
// few files that say how close the agent is to trouble, and act on the agent's own children:
// reclaim page cache first, then SIGTERM the heaviest eligible child's whole tree, SIGKILL after
// the grace period (at once above the hard threshold), process_mrelease so the memory returns
// now. It runs while the agent's JavaScript is stalled, so it never allocates: every buffer is
// in the static State (locked in memory at start), every fd was opened before.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../linux_compat.h"
#include "guard_state.h"
#include "kernel_files.h"

#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448 /* Linux 5.15, the same number on x86_64 and aarch64 */
#endif

namespace guard {

int64_t NowMicros() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

namespace {

// The kernel writes "max" for no limit; v1 writes a huge page-rounded number.
bool Unlimited(int64_t limit) { return limit < 0 || limit >= (int64_t(1) << 60); }

// In the throttle band: a watched memory.high is set and usage is above it.
bool AboveHigh(const Scope &sc) { return sc.band && !Unlimited(sc.high) && sc.usage > sc.high; }

int64_t Threshold(int64_t limit, double percent, int64_t minBytes) {
  int64_t byPercent = int64_t(double(limit) * percent / 100.0);
  return byPercent > minBytes ? byPercent : minBytes;
}

Record &Append(State &s, RecordKind kind, Trigger trigger, int64_t now) {
  Record &r = s.records[s.nextSeq % kRecordRing];
  r = Record();
  r.seq = s.nextSeq++;
  r.kind = kind;
  r.trigger = trigger;
  r.atMicros = now;
  r.dryRun = s.config.dryRun;
  return r;
}

// File cache against anon in a memory.stat: true when most of the charge could be reclaimed.
bool MostlyFileCache(State &s, int statFd, int version, int64_t *file, int64_t *anon) {
  if (statFd < 0 || pg_read_fd(statFd, s.buf, kBufSize) <= 0) return false;
  if (version == 2) {
    *file = pg_keyed_value(s.buf, "inactive_file") + pg_keyed_value(s.buf, "active_file");
    *anon = pg_keyed_value(s.buf, "anon");
  } else {
    *file = pg_keyed_value(s.buf, "total_inactive_file") + pg_keyed_value(s.buf, "total_active_file");
    *anon = pg_keyed_value(s.buf, "total_rss");
  }
  return *file > 0 && *anon >= 0 && *file > *anon;
}

// memory.reclaim (v2: asks for `bytes`) or memory.force_empty (v1: as much as it can); 0 or errno.
int Reclaim(int reclaimFd, int version, int64_t bytes) {
  char text[32];
  int len = version == 2 ? snprintf(text, sizeof text, "%lld", (long long)bytes) : snprintf(text, sizeof text, "0");
  ssize_t n = pwrite(reclaimFd, text, size_t(len), 0);
  // EAGAIN from memory.reclaim: less than asked could be reclaimed, which is still progress.
  return n >= 0 || errno == EAGAIN ? 0 : errno;
}

// Each wake reads what is needed: usage always; the limits once a second; memory.events only
// above memory.high, where the band is decided.
void SampleScopes(State &s, int64_t now) {
  for (Scope &sc : s.scopes) {
    if (!sc.used) continue;
    sc.usage = pg_read_number(sc.usageFd, s.buf, kBufSize);
    if (now >= sc.nextLimitMicros) {
      sc.limit = pg_read_number(sc.limitFd, s.buf, kBufSize);
      if (sc.band) sc.high = pg_read_number(sc.highFd, s.buf, kBufSize);
      sc.nextLimitMicros = now + 1000000;
    }
    if (AboveHigh(sc)) {
      if (sc.eventsFd >= 0 && pg_read_fd(sc.eventsFd, s.buf, kBufSize) > 0) {
        sc.eventsHigh = pg_keyed_value(s.buf, "high");
        if (sc.lastEventsHigh >= 0 && sc.eventsHigh > sc.lastEventsHigh) sc.highRiseAtMicros = now;
        sc.lastEventsHigh = sc.eventsHigh;
      }
    }
  }
}

// The share of the last window the cgroup stalled on memory, per mille, from the total= counters.
void SamplePsi(State &s, int64_t now) {
  bool inBand = false;
  for (const Scope &sc : s.scopes) inBand = inBand || (sc.used && AboveHigh(sc));
  if (!inBand) {
    s.psiCount = 0;  // a fresh window when the band is entered again
    s.fullPermille = s.somePermille = 0;
    return;
  }
  if (s.psiSampleFd < 0 || pg_read_fd(s.psiSampleFd, s.buf, kBufSize) <= 0) return;
  int i = s.psiHead;
  s.psiAt[i] = now;
  s.psiSome[i] = pg_psi_total(s.buf, "some");
  s.psiFull[i] = pg_psi_total(s.buf, "full");
  s.psiHead = (i + 1) % State::kWindow;
  if (s.psiCount < State::kWindow) s.psiCount++;
  // The oldest sample still inside the window (at least half a window back, else no verdict).
  int best = -1;
  for (int k = 1; k < s.psiCount; k++) {
    int j = (i - k + State::kWindow) % State::kWindow;
    if (now - s.psiAt[j] > s.config.t.bandWindowMicros) break;
    best = j;
  }
  if (best < 0 || now - s.psiAt[best] < s.config.t.bandWindowMicros / 2) {
    s.fullPermille = s.somePermille = 0;
    return;
  }
  int64_t span = now - s.psiAt[best];
  s.fullPermille = (s.psiFull[i] - s.psiFull[best]) * 1000 / span;
  s.somePermille = (s.psiSome[i] - s.psiSome[best]) * 1000 / span;
}

// Microseconds a runaway filling memory at fillBytesPerSecond needs to eat half of `bytesLeft`
// (earlyoom's idea: look again before it can have crossed), within [minInterval, maxInterval].
int64_t IntervalFor(const Config &cfg, double bytesLeft) {
  int64_t interval = int64_t(bytesLeft < 0 ? 0 : bytesLeft / cfg.fillBytesPerSecond / 2 * 1e6);
  if (interval < cfg.minIntervalMicros) interval = cfg.minIntervalMicros;
  if (interval > cfg.maxIntervalMicros) interval = cfg.maxIntervalMicros;
  return interval;
}

double MachineBytesLeft(const State &s) {
  return double(s.memAvailable) - double(s.memTotal) * s.config.t.memTermPercent / 100.0;
}

void SampleMachine(State &s, int64_t now) {
  if (now < s.nextMachineMicros) return;
  if (s.meminfoFd < 0 || pg_read_fd(s.meminfoFd, s.buf, kBufSize) <= 0) return;
  s.memAvailable = pg_keyed_value(s.buf, "MemAvailable") * 1024;
  s.memTotal = pg_keyed_value(s.buf, "MemTotal") * 1024;
  s.swapFree = pg_keyed_value(s.buf, "SwapFree") * 1024;
  s.swapTotal = pg_keyed_value(s.buf, "SwapTotal") * 1024;
  s.nextMachineMicros = now + IntervalFor(s.config, MachineBytesLeft(s));
}

Level HeadroomLevel(State &s, const Scope &sc) {
  if (!sc.headroom || Unlimited(sc.limit) || sc.usage < 0) return kCalm;
  int64_t headroom = sc.limit - sc.usage;
  const Thresholds &t = s.config.t;
  if (headroom < Threshold(sc.limit, t.headroomKillPercent, t.headroomKillMinBytes)) return kHard;
  if (headroom < Threshold(sc.limit, t.headroomTermPercent, t.headroomTermMinBytes)) return kSoft;
  return kCalm;
}

// Above memory.high, the `high` counter rising, and the cgroup stalled: the livelock of
// ../shared/reference/003, which the kernel never ends by itself.
Level BandLevel(State &s, const Scope &sc, int64_t now, int index) {
  if (!AboveHigh(sc)) return kCalm;
  if (!Unlimited(sc.limit) && sc.high >= sc.limit) return kCalm;
  const Thresholds &t = s.config.t;
  if (sc.highRiseAtMicros == 0 || now - sc.highRiseAtMicros > t.bandWindowMicros) return kCalm;
  bool triggered = s.psiScope == index && s.psiTriggerCount > 0 && s.psiLastFireMicros != 0 &&
                   now - s.psiLastFireMicros <= t.bandWindowMicros;
  bool sampled = s.fullPermille >= int64_t(t.bandFullPercent * 10) || s.somePermille >= int64_t(t.bandSomePercent * 10);
  return triggered || sampled ? kSoft : kCalm;
}

Level MachineLevel(State &s) {
  if (!s.config.watchMachine || s.memTotal <= 0 || s.memAvailable < 0) return kCalm;
  const Thresholds &t = s.config.t;
  double mem = 100.0 * double(s.memAvailable) / double(s.memTotal);
  // With swap, earlyoom's rule: act only when swap is short as well.
  double swap = s.swapTotal > 0 ? 100.0 * double(s.swapFree) / double(s.swapTotal) : 0;
  bool noSwap = s.swapTotal <= 0;
  if (mem <= t.memKillPercent && (noSwap || swap <= t.swapKillPercent)) return kHard;
  if (mem <= t.memTermPercent && (noSwap || swap <= t.swapTermPercent)) return kSoft;
  return kCalm;
}

void FillCondition(State &s, Record &r, Trigger trigger, int scope) {
  if (trigger == kMachine) {
    r.v[0] = s.memAvailable;
    r.v[1] = s.memTotal;
    r.v[2] = s.swapFree;
    r.v[3] = s.swapTotal;
    r.v[4] = int64_t(double(s.memTotal) * s.config.t.memTermPercent / 100.0);
    r.v[5] = int64_t(double(s.memTotal) * s.config.t.memKillPercent / 100.0);
    return;
  }
  const Scope &sc = s.scopes[scope];
  r.scope = scope;
  r.v[0] = sc.usage;
  r.v[1] = sc.limit;
  if (trigger == kHeadroom) {
    r.v[2] = Threshold(sc.limit, s.config.t.headroomTermPercent, s.config.t.headroomTermMinBytes);
    r.v[3] = Threshold(sc.limit, s.config.t.headroomKillPercent, s.config.t.headroomKillMinBytes);
  } else {
    r.v[2] = sc.high;
    r.v[3] = sc.eventsHigh;
    r.v[4] = s.fullPermille;
    r.v[5] = s.somePermille;
  }
}

// The heaviest eligible child by memory charged (its own cgroup's usage, else its tree's
// RSS + swap), times its weight. Children found gone are forgotten here.
int ChooseVictim(State &s) {
  int best = -1;
  double bestScore = 0;
  for (int i = 0; i < kMaxChildren; i++) {
    Child &c = s.children[i];
    if (!c.used || c.weight <= 0) continue;
    if (c.pidfd >= 0) {
      struct pollfd p = {c.pidfd, POLLIN, 0};
      if (poll(&p, 1, 0) > 0) continue;  // exited, not yet forgotten by JS
    }
    int64_t bytes = c.usageFd >= 0 ? pg_read_number(c.usageFd, s.buf, kBufSize) : -1;
    if (bytes < 0) {
      bytes = 0;
      int n = pg_process_tree(c.pid, s.scratchPids, kMaxTree, s.buf, kBufSize);
      for (int k = 0; k < n; k++) {
        int64_t m = pg_process_memory(s.scratchPids[k], s.buf, kBufSize);
        if (m > 0) bytes += m;
      }
    }
    c.bytes = bytes;
    double score = double(bytes) * c.weight;
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

int SendSignal(int pidfd, pid_t pid, int sig) {
  long r = pidfd >= 0 ? syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) : kill(pid, sig);
  return r == 0 ? 0 : errno;
}

// The victim's tree: its own cgroup's members, else the /proc walk, each pinned by a pidfd.
void PinTree(State &s, Victim &v, const Child &c) {
  int n = 0;
  if (c.procsFd >= 0 && pg_read_fd(c.procsFd, s.buf, kBufSize) > 0) n = pg_parse_pids(s.buf, s.scratchPids, 0, kMaxTree);
  if (n == 0) n = pg_process_tree(c.pid, s.scratchPids, kMaxTree, s.buf, kBufSize);
  v.treeCount = 0;
  v.tree[v.treeCount] = c.pid;
  v.treePidfds[v.treeCount++] = c.pidfd >= 0 ? dup(c.pidfd) : -1;
  for (int k = 0; k < n && v.treeCount < kMaxTree; k++) {
    pid_t p = s.scratchPids[k];
    if (p == c.pid) continue;
    int fd = int(syscall(SYS_pidfd_open, p, 0));
    if (fd < 0 && errno == ESRCH) continue;
    v.tree[v.treeCount] = p;
    v.treePidfds[v.treeCount++] = fd;
  }
}

// Pins processes of the tree that appeared since (forked during the grace period) and signals them.
int SignalNewcomers(State &s, Victim &v, const Child *c, int sig) {
  if (!c) return 0;
  int n = 0;
  if (c->procsFd >= 0 && pg_read_fd(c->procsFd, s.buf, kBufSize) > 0) n = pg_parse_pids(s.buf, s.scratchPids, 0, kMaxTree);
  if (n == 0) n = pg_process_tree(v.pid, s.scratchPids, kMaxTree, s.buf, kBufSize);
  int added = 0;
  for (int k = 0; k < n && v.treeCount < kMaxTree; k++) {
    pid_t p = s.scratchPids[k];
    bool known = false;
    for (int j = 0; j < v.treeCount && !known; j++) known = v.tree[j] == p;
    if (known) continue;
    int fd = int(syscall(SYS_pidfd_open, p, 0));
    if (fd < 0 && errno == ESRCH) continue;
    v.tree[v.treeCount] = p;
    v.treePidfds[v.treeCount++] = fd;
    SendSignal(fd, p, sig);
    added++;
  }
  return added;
}

void ReleaseTree(Victim &v) {
  for (int k = 0; k < v.treeCount; k++) {
    if (v.treePidfds[k] >= 0) close(v.treePidfds[k]);
    v.treePidfds[k] = -1;
  }
  v.treeCount = 0;
  v.active = false;
}

bool TreeGone(Victim &v) {
  for (int k = 0; k < v.treeCount; k++) {
    if (v.treePidfds[k] < 0) continue;
    struct pollfd p = {v.treePidfds[k], POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return false;
  }
  return true;
}

Child *ChildById(State &s, int64_t id) {
  for (Child &c : s.children)
    if (c.used && c.id == id) return &c;
  return nullptr;
}

// SIGKILL to the whole tree: the held pidfds first (the decision is not delayed by any /proc
// read), then cgroup.kill and the processes that appeared meanwhile, then process_mrelease.
void KillTree(State &s, Victim &v, Record &r, int64_t decided) {
  r.decidedMicros = decided;
  r.signal = SIGKILL;
  int err = 0;
  for (int k = 0; k < v.treeCount; k++) {
    int e = SendSignal(v.treePidfds[k], v.tree[k], SIGKILL);
    if (k == 0) err = e;
  }
  r.signaledMicros = NowMicros();
  Child *c = ChildById(s, v.childId);
  if (c && c->killFd >= 0) (void)!pwrite(c->killFd, "1", 1, 0);
  SignalNewcomers(s, v, c, SIGKILL);
  r.signalErrno = err;
  r.treeSize = v.treeCount;
  // Give the memory back now rather than when each exit finishes unmapping (5.15+).
  int mrelease = -1;
  for (int k = 0; k < v.treeCount; k++) {
    if (v.treePidfds[k] < 0) continue;
    long m = syscall(SYS_process_mrelease, v.treePidfds[k], 0);
    if (k == 0) mrelease = m == 0 ? 0 : errno;
  }
  r.mreleaseErrno = mrelease;
  r.atMicros = NowMicros();
}

void StartKill(State &s, Trigger trigger, Level level, int scope, int64_t now) {
  int slot = ChooseVictim(s);
  if (slot < 0) {
    if (!s.noVictimReported[trigger]) {
      s.noVictimReported[trigger] = true;
      Record &r = Append(s, kNoVictim, trigger, now);
      r.detectedMicros = s.episodeStartMicros[trigger];
      FillCondition(s, r, trigger, scope);
      r.level = level;
    }
    return;
  }
  Child &c = s.children[slot];
  Victim &v = s.victim;
  Record &r = Append(s, kKill, trigger, now);
  r.detectedMicros = s.episodeStartMicros[trigger];
  FillCondition(s, r, trigger, scope);
  r.level = level;
  r.childId = c.id;
  r.pid = c.pid;
  r.childBytes = c.bytes;
  r.weight = c.weight;
  if (s.config.dryRun) {
    r.signal = level == kHard ? SIGKILL : SIGTERM;
    s.cooldownUntilMicros = now + s.config.cooldownMicros;
    return;
  }
  v.active = true;
  v.slot = slot;
  v.childId = c.id;
  v.pid = c.pid;
  v.trigger = trigger;
  v.scope = scope;
  PinTree(s, v, c);
  if (level == kHard) {
    KillTree(s, v, r, now);
    v.base = r;
    s.cooldownUntilMicros = NowMicros() + s.config.cooldownMicros;
    ReleaseTree(v);
    return;
  }
  r.signal = SIGTERM;
  int err = 0;
  for (int k = 0; k < v.treeCount; k++) {
    int e = SendSignal(v.treePidfds[k], v.tree[k], SIGTERM);
    if (k == 0) err = e;
  }
  r.signalErrno = err;
  r.treeSize = v.treeCount;
  r.signaledMicros = NowMicros();
  v.termMicros = r.signaledMicros;  // the grace period starts when the SIGTERM went out
  v.base = r;
}

// Between SIGTERM and exit: done when the tree is gone; SIGKILL when the grace period is over
// or the hard threshold is crossed.
void FollowVictim(State &s, int64_t now, Level hardest) {
  Victim &v = s.victim;
  if (!v.active) return;
  if (TreeGone(v)) {
    ReleaseTree(v);
    s.cooldownUntilMicros = now + s.config.cooldownMicros;
    return;
  }
  if (hardest < kHard && now - v.termMicros < s.config.graceMicros) return;
  Record &r = Append(s, kKill, v.trigger, now);
  int64_t seq = int64_t(r.seq);
  r = v.base;
  r.seq = uint64_t(seq);
  r.escalation = true;
  r.level = hardest;
  KillTree(s, v, r, now);
  ReleaseTree(v);
  s.cooldownUntilMicros = NowMicros() + s.config.cooldownMicros;
}

// Reclaim before kill: the scope itself when it is mostly page cache, else the children's own
// cgroups that are. True when something was reclaimed (the caller samples again).
bool ReclaimFirst(State &s, Trigger trigger, int scope, int64_t now) {
  bool any = false;
  const int64_t cooldown = s.config.reclaimCooldownMicros;
  int64_t file = 0, anon = 0;
  if (scope >= 0) {
    Scope &sc = s.scopes[scope];
    if (sc.reclaimFd >= 0 && now - sc.lastReclaimMicros >= cooldown && MostlyFileCache(s, sc.statFd, sc.version, &file, &anon)) {
      sc.lastReclaimMicros = now;
      Record &r = Append(s, kReclaim, trigger, now);
      FillCondition(s, r, trigger, scope);
      r.v[6] = sc.usage;
      if (!s.config.dryRun) r.signalErrno = Reclaim(sc.reclaimFd, sc.version, file);
      r.v[7] = pg_read_number(sc.usageFd, s.buf, kBufSize);
      r.childBytes = file;
      r.atMicros = NowMicros();
      any = true;
    }
  }
  for (Child &c : s.children) {
    if (!c.used || c.reclaimFd < 0 || now - c.lastReclaimMicros < cooldown) continue;
    if (!MostlyFileCache(s, c.statFd, c.version, &file, &anon) || file < (16 << 20)) continue;
    c.lastReclaimMicros = now;
    Record &r = Append(s, kReclaim, trigger, now);
    if (scope >= 0) FillCondition(s, r, trigger, scope);
    r.childId = c.id;
    r.pid = c.pid;
    r.v[6] = pg_read_number(c.usageFd, s.buf, kBufSize);
    if (!s.config.dryRun) r.signalErrno = Reclaim(c.reclaimFd, c.version, file);
    r.v[7] = pg_read_number(c.usageFd, s.buf, kBufSize);
    r.childBytes = file;
    r.atMicros = NowMicros();
    any = true;
  }
  return any;
}

// A child's own cgroup near its own cap with mostly page cache: reclaim it (its cap is its own
// business otherwise: the kernel OOM-kills inside it, which never hurts the agent).
void WatchChildCaps(State &s, int64_t now) {
  for (Child &c : s.children) {
    if (!c.used || c.reclaimFd < 0 || c.limitFd < 0) continue;
    int64_t limit = pg_read_number(c.limitFd, s.buf, kBufSize);
    if (Unlimited(limit)) continue;
    int64_t usage = pg_read_number(c.usageFd, s.buf, kBufSize);
    if (usage < 0 || limit - usage >= Threshold(limit, s.config.t.childReclaimPercent, s.config.t.childReclaimMinBytes)) continue;
    if (now - c.lastReclaimMicros < s.config.reclaimCooldownMicros) continue;
    int64_t file = 0, anon = 0;
    if (!MostlyFileCache(s, c.statFd, c.version, &file, &anon)) continue;
    c.lastReclaimMicros = now;
    Record &r = Append(s, kReclaim, kChildCap, now);
    r.childId = c.id;
    r.pid = c.pid;
    r.v[0] = usage;
    r.v[1] = limit;
    r.v[2] = Threshold(limit, s.config.t.childReclaimPercent, s.config.t.childReclaimMinBytes);
    r.v[6] = usage;
    if (!s.config.dryRun) r.signalErrno = Reclaim(c.reclaimFd, c.version, file);
    r.v[7] = pg_read_number(c.usageFd, s.buf, kBufSize);
    r.childBytes = file;
    r.atMicros = NowMicros();
  }
}

// How long to sleep: until the nearest threshold could be crossed (IntervalFor), or the
// machine's next look is due, or the grace period ends.
int64_t NextInterval(State &s, int64_t now) {
  const Config &cfg = s.config;
  double closest = 1e18;
  auto consider = [&](double bytesLeft) {
    if (bytesLeft < closest) closest = bytesLeft;
  };
  for (const Scope &sc : s.scopes) {
    if (!sc.used || sc.usage < 0) continue;
    if (sc.headroom && !Unlimited(sc.limit)) {
      consider(double(sc.limit - sc.usage - Threshold(sc.limit, cfg.t.headroomTermPercent, cfg.t.headroomTermMinBytes)));
    }
    // Inside the band: every 100 ms, to see memory.events high rise and (without a trigger) to
    // measure the stall over the window.
    if (sc.band && !Unlimited(sc.high)) consider(AboveHigh(sc) ? cfg.fillBytesPerSecond * 0.2 : double(sc.high - sc.usage));
  }
  for (const Child &c : s.children) {
    if (!c.used || c.reclaimFd < 0 || c.limitFd < 0) continue;
    // Children's caps are rechecked at most every 100 ms: reclaim is not a race with the kernel.
    consider(cfg.fillBytesPerSecond * 0.1 * 2);
  }
  int64_t interval = IntervalFor(cfg, closest);
  if (cfg.watchMachine && s.nextMachineMicros - now < interval) interval = s.nextMachineMicros - now;
  if (s.victim.active) {
    int64_t left = s.victim.termMicros + cfg.graceMicros - NowMicros();
    if (left < interval) interval = left;
    if (interval > 20000) interval = 20000;  // watch the hard threshold during the grace period
  }
  if (interval < cfg.minIntervalMicros) interval = cfg.minIntervalMicros;
  if (interval > cfg.maxIntervalMicros) interval = cfg.maxIntervalMicros;
  return interval;
}

void Evaluate(State &s, int64_t now) {
  SampleScopes(s, now);
  SamplePsi(s, now);
  if (s.config.watchMachine) SampleMachine(s, now);
  s.samples++;

  // The worst condition now: its trigger, level and scope.
  Trigger worst = kHeadroom;
  Level level = kCalm;
  int worstScope = -1;
  Level seen[5] = {kCalm, kCalm, kCalm, kCalm, kCalm};
  int scopeOf[5] = {-1, -1, -1, -1, -1};
  for (int i = 0; i < kMaxScopes; i++) {
    Scope &sc = s.scopes[i];
    if (!sc.used) continue;
    Level h = HeadroomLevel(s, sc);
    if (h > seen[kHeadroom]) seen[kHeadroom] = h, scopeOf[kHeadroom] = i;
    Level b = BandLevel(s, sc, now, i);
    if (b > seen[kBand]) seen[kBand] = b, scopeOf[kBand] = i;
  }
  seen[kMachine] = MachineLevel(s);
  for (Trigger t : {kHeadroom, kBand, kMachine}) {
    if (seen[t] == kCalm && s.episodeStartMicros[t] != 0) {
      Record &r = Append(s, kRelief, t, now);
      r.detectedMicros = s.episodeStartMicros[t];
      if (t == kMachine || s.episodeScope[t] >= 0) FillCondition(s, r, t, t == kMachine ? -1 : s.episodeScope[t]);
      s.episodeStartMicros[t] = 0;
      s.noVictimReported[t] = false;
    }
    if (seen[t] != kCalm && s.episodeStartMicros[t] == 0) {
      s.episodeStartMicros[t] = now;
      s.episodeScope[t] = scopeOf[t];
      Record &r = Append(s, kPressure, t, now);
      r.detectedMicros = now;
      r.level = seen[t];
      FillCondition(s, r, t, t == kMachine ? -1 : scopeOf[t]);
    }
    if (seen[t] > level) level = seen[t], worst = t, worstScope = scopeOf[t];
  }

  FollowVictim(s, now, level);
  if (level == kCalm) {
    WatchChildCaps(s, now);
    return;
  }
  if (s.victim.active || now < s.cooldownUntilMicros) return;
  // Reclaim before kill, then look again: no kill when the headroom came back.
  if (worst != kMachine && ReclaimFirst(s, worst, worstScope, now)) {
    SampleScopes(s, NowMicros());
    Level again = worst == kHeadroom ? HeadroomLevel(s, s.scopes[worstScope]) : BandLevel(s, s.scopes[worstScope], now, worstScope);
    if (again == kCalm) return;
    level = again;
  }
  StartKill(s, worst, level, worstScope, now);
}

}  // namespace

void *GuardThreadMain(void *) {
  State &s = TheState();
  s.tid.store(pid_t(syscall(SYS_gettid)));
  prctl(PR_SET_NAME, "procguard-guard", 0, 0, 0);
  // Pre-fault this thread's stack (locked by the starter) down to what the loop uses.
  volatile char touch[32768];
  for (size_t i = 0; i < sizeof touch; i += 4096) touch[i] = 0;

  struct pollfd fds[2 + kMaxPsiTriggers + 1];
  while (!s.stopRequested.load()) {
    int n = 0;
    fds[n++] = {s.wakeFd, POLLIN, 0};
    int firstPsi = n;
    int psiCount = 0;
    int victimFd = -1;
    int64_t interval;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      for (int i = 0; i < s.psiTriggerCount; i++) fds[n++] = {s.psiFds[i], POLLPRI, 0}, psiCount++;
      if (s.victim.active && s.victim.treeCount > 0 && s.victim.treePidfds[0] >= 0) victimFd = s.victim.treePidfds[0];
      interval = s.intervalMicros;
    }
    int victimIndex = -1;
    if (victimFd >= 0) victimIndex = n, fds[n++] = {victimFd, POLLIN, 0};
    int timeoutMs = int((interval + 999) / 1000);
    int ready = poll(fds, nfds_t(n), timeoutMs);
    if (s.stopRequested.load()) break;
    int64_t now = NowMicros();
    bool notify = false;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      if (ready > 0 && (fds[0].revents & POLLIN)) {
        uint64_t value;
        (void)!read(s.wakeFd, &value, sizeof value);
      }
      for (int i = 0; i < psiCount; i++) {
        short re = fds[firstPsi + i].revents;
        if (re & POLLPRI) s.psiLastFireMicros = now;
        if (re & (POLLERR | POLLNVAL)) s.psiTriggerCount = 0;  // the cgroup is gone: sample instead
      }
      (void)victimIndex;
      uint64_t before = s.nextSeq;
      Evaluate(s, now);
      s.intervalMicros = NextInterval(s, now);
      notify = s.nextSeq != before;
    }
    if (notify) NotifyEnvironments();
  }
  return nullptr;
}

}  // namespace guard
