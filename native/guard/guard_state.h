// The guard's whole state: one static instance per process (shared by every Node environment,
// main thread and workers), laid out in fixed arrays so that the watching thread, once
// started, never allocates. Everything is filled in by the JS thread under `mutex` before or
// while the thread runs; the thread reads it under the same mutex.
#ifndef PROCGUARD_GUARD_STATE_H
#define PROCGUARD_GUARD_STATE_H

#include <stdint.h>
#include <sys/types.h>

#include <atomic>
#include <mutex>

namespace guard {

constexpr int kMaxChildren = 512;     // children watched at once
constexpr int kMaxTree = 1024;        // processes of one victim's tree killed at once
constexpr int kMaxScopes = 4;         // the agent's cgroups watched for headroom or the throttle band
constexpr int kRecordRing = 256;      // actions kept for JS to read
constexpr int kMaxPsiTriggers = 2;    // one fd per trigger (the kernel allows one per open file)
constexpr int kBufSize = 16384;       // one file read at a time (memory.stat is ~1.5 KiB)

enum Trigger : int32_t { kHeadroom = 1, kBand = 2, kMachine = 3, kChildCap = 4 };
enum RecordKind : int32_t { kPressure = 1, kReclaim = 2, kKill = 3, kNoVictim = 4, kRelief = 5 };
enum Level : int32_t { kCalm = 0, kSoft = 1, kHard = 2 };

// A cgroup of the agent (itself or the nearest ancestor with a limit, or with memory.high).
struct Scope {
  bool used = false;
  int version = 0;            // 1 or 2
  int usageFd = -1;           // memory.current / memory.usage_in_bytes
  int limitFd = -1;           // memory.max / memory.limit_in_bytes
  int highFd = -1;            // memory.high (v2), for the throttle band
  int eventsFd = -1;          // memory.events (v2): the `high` counter
  int statFd = -1;            // memory.stat: file cache against anon
  int reclaimFd = -1;         // memory.reclaim (v2) / memory.force_empty (v1), when writable
  int pressureFd = -1;        // memory.pressure, read for its total= counters
  bool headroom = false;      // watched for headroom (it has a limit)
  bool band = false;          // watched for the throttle band (memory.high below memory.max)
  // Sampled values.
  int64_t usage = -1, limit = -1, high = -1, eventsHigh = -1;
  int64_t lastEventsHigh = -1;
  int64_t highRiseAtMicros = 0;  // when the `high` counter last rose
  int64_t lastReclaimMicros = 0;
  int64_t nextLimitMicros = 0;   // limits and memory.high change rarely: re-read once a second
  Level level = kCalm;
};

struct Thresholds {
  // Headroom (bytes) below which the guard acts: max(percent of the limit, minBytes).
  double headroomTermPercent = 5, headroomKillPercent = 2.5;
  int64_t headroomTermMinBytes = 64 << 20, headroomKillMinBytes = 32 << 20;
  // The throttle band: stall share of the window (percent) for `full` and `some`.
  double bandFullPercent = 20, bandSomePercent = 40;
  int64_t bandWindowMicros = 2000000;
  // The machine: MemAvailable (and SwapFree, when there is swap) as percent of the total.
  double memTermPercent = 5, memKillPercent = 3, swapTermPercent = 10, swapKillPercent = 5;
  // A child's own cgroup: reclaim its page cache below this headroom.
  double childReclaimPercent = 5;
  int64_t childReclaimMinBytes = 64 << 20;
};

struct Config {
  Thresholds t;
  int64_t graceMicros = 2000000;
  int64_t cooldownMicros = 2000000;
  int64_t reclaimCooldownMicros = 10000000;
  int64_t minIntervalMicros = 5000, maxIntervalMicros = 1000000;
  double fillBytesPerSecond = 2.0 * (1 << 30);  // how fast a runaway can fill memory (for the adaptive interval)
  bool dryRun = false;
  bool watchMachine = true;
};

struct Child {
  bool used = false;
  int64_t id = 0;              // registration id, never reused: records name children by it
  pid_t pid = 0;
  int pidfd = -1;              // opened at registration: signals reach this process, never a recycled pid
  double weight = 1;           // 0: never a victim ('never')
  int version = 0;             // its own cgroup's memory hierarchy, 0 without one
  int usageFd = -1, limitFd = -1, statFd = -1, reclaimFd = -1;
  int procsFd = -1;            // cgroup.procs of its own cgroup: the whole tree
  int killFd = -1;             // cgroup.kill (v2, 5.14+)
  int64_t lastReclaimMicros = 0;
  int64_t bytes = -1;          // at the last victim choice
};

// One action, as JS reads it (guardDrain). Numbers only: JS words the evidence.
struct Record {
  uint64_t seq = 0;
  RecordKind kind = kPressure;
  Trigger trigger = kHeadroom;
  int32_t scope = -1;          // index of the scope, -1 for the machine
  int64_t atMicros = 0;        // CLOCK_MONOTONIC
  int64_t detectedMicros = 0;  // when the condition was first seen
  bool dryRun = false;
  // The condition: headroom (usage, limit, threshold) / band (usage, high, max, eventsHigh,
  // full and some stall per mille over the window) / machine (available, total, swapFree, swapTotal).
  int64_t v[8] = {0};
  // The victim (kill) or the reclaimed cgroup (reclaim: before, after bytes in v[6], v[7]).
  int64_t childId = 0;
  pid_t pid = 0;
  int32_t signal = 0;
  int32_t level = 0;
  int64_t childBytes = 0;
  double weight = 0;
  int32_t treeSize = 0;
  int32_t signalErrno = 0;
  int32_t mreleaseErrno = -1;  // -1: not tried
  bool escalation = false;     // SIGKILL after the grace period
  int64_t decidedMicros = 0;   // the escalation decision, before any signal
  int64_t signaledMicros = 0;  // the held pidfds signalled
};

// The victim between SIGTERM and its exit (or SIGKILL).
struct Victim {
  bool active = false;
  int slot = -1;
  int64_t childId = 0;
  pid_t pid = 0;
  int64_t termMicros = 0;
  Trigger trigger = kHeadroom;
  int32_t scope = -1;
  Record base;                 // the kill record, reused for the escalation
  int treeCount = 0;
  pid_t tree[kMaxTree];
  int treePidfds[kMaxTree];
};

struct State {
  std::mutex mutex;
  std::atomic<bool> running{false};
  std::atomic<bool> stopRequested{false};
  Config config;
  Scope scopes[kMaxScopes];
  int meminfoFd = -1;
  int psiFds[kMaxPsiTriggers] = {-1, -1};
  int psiScope = -1;           // the scope the triggers are on (-1: the machine's /proc/pressure/memory)
  int psiTriggerCount = 0;
  int psiSampleFd = -1;        // the PSI file read for totals when there is no trigger
  int64_t psiLastFireMicros = 0;
  int wakeFd = -1;             // eventfd: stop and reconfigure
  // The sliding window of PSI totals for sampling (one sample per wake, oldest overwritten).
  static constexpr int kWindow = 64;
  int64_t psiAt[kWindow] = {0}, psiSome[kWindow] = {0}, psiFull[kWindow] = {0};
  int psiHead = 0, psiCount = 0;
  int64_t fullPermille = 0, somePermille = 0;
  Child children[kMaxChildren];
  int64_t nextChildId = 1;
  Victim victim;
  int64_t cooldownUntilMicros = 0;
  Level machineLevel = kCalm;
  int64_t memAvailable = -1, memTotal = -1, swapFree = -1, swapTotal = -1;
  int64_t nextMachineMicros = 0;  // /proc/meminfo is read when due (its own adaptive interval)
  int64_t episodeStartMicros[5] = {0};  // per Trigger: when the current pressure began (0: calm)
  int episodeScope[5] = {-1, -1, -1, -1, -1};  // per Trigger: the scope it began in
  bool noVictimReported[5] = {false};
  Record records[kRecordRing];
  uint64_t nextSeq = 1;
  int64_t intervalMicros = 0;
  uint64_t samples = 0;
  int64_t startedMicros = 0;
  bool locked = false;         // mlock succeeded
  std::atomic<pid_t> tid{0};   // the thread's id, for its CPU clock and `top -H`
  char buf[kBufSize];
  pid_t scratchPids[kMaxTree];
  // Telling JS: set by the thread, cleared by JS when it drains (one wake-up queued at a time).
  std::atomic<bool> notifyPending{false};
};

State &TheState();
int64_t NowMicros();
// The thread's body (guard_loop.cc).
void *GuardThreadMain(void *);
// Called by the thread after appending records (guard_napi.cc): wakes every subscribed environment.
void NotifyEnvironments();

}  // namespace guard

#endif
