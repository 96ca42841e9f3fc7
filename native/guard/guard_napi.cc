// The guard's N-API surface: start and stop the one watching thread of the process, register
// and forget children, read its actions. Everything that allocates (opening files, parsing the
// configuration, building JS values) happens here, on a JS thread; the thread itself only reads
// the state this fills in (guard_loop.cc).
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "../linux_compat.h"
#include "../napi_boundary.h"
#include "guard_state.h"

namespace guard {

State &TheState() {
  static State state;
  return state;
}

namespace {

constexpr size_t kStackSize = 256 * 1024;
constexpr int kMaxSubscribers = 16;

pthread_t thread;
void *threadStack = nullptr;

// One thread-safe function per environment that asked for the guard (main thread, workers).
std::mutex subscribersMutex;
napi_threadsafe_function subscribers[kMaxSubscribers] = {};
napi_env subscriberEnvs[kMaxSubscribers] = {};

void CallJs(napi_env env, napi_value callback, void *, void *) {
  if (env == nullptr || callback == nullptr) return;
  napi_value global, result;
  if (napi_get_global(env, &global) != napi_ok) return;
  if (napi_call_function(env, global, callback, 0, nullptr, &result) == napi_pending_exception) {
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
  }
}

void EnvCleanup(void *arg);

// `release`: called from JS (stop(), a new start): the function and the cleanup hook go too.
// Otherwise the environment is being torn down, and Node closes its functions itself.
void Unsubscribe(napi_env env, bool release) {
  std::lock_guard<std::mutex> lock(subscribersMutex);
  for (int i = 0; i < kMaxSubscribers; i++) {
    if (subscriberEnvs[i] != env) continue;
    if (release) napi_remove_env_cleanup_hook(env, EnvCleanup, env);
    if (release && subscribers[i]) napi_release_threadsafe_function(subscribers[i], napi_tsfn_abort);
    subscribers[i] = nullptr;
    subscriberEnvs[i] = nullptr;
  }
}

int SubscriberCount() {
  std::lock_guard<std::mutex> lock(subscribersMutex);
  int n = 0;
  for (auto *tsfn : subscribers) n += tsfn != nullptr;
  return n;
}

std::string StringProp(Napi::Object o, const char *name) {
  Napi::Value v = o.Get(name);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

double NumberProp(Napi::Object o, const char *name, double fallback) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

bool BoolProp(Napi::Object o, const char *name) { return o.Get(name).ToBoolean(); }

int OpenIfNamed(Napi::Object o, const char *name, int flags) {
  std::string path = StringProp(o, name);
  if (path.empty()) return -1;
  return open(path.c_str(), flags | O_CLOEXEC);
}

void CloseFd(int &fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void ApplyConfig(Config &c, Napi::Object o) {
  Thresholds &t = c.t;
  Napi::Object th = o.Get("thresholds").As<Napi::Object>();
  t.headroomTermPercent = NumberProp(th, "headroomTermPercent", t.headroomTermPercent);
  t.headroomTermMinBytes = int64_t(NumberProp(th, "headroomTermMinBytes", double(t.headroomTermMinBytes)));
  t.headroomKillPercent = NumberProp(th, "headroomKillPercent", t.headroomKillPercent);
  t.headroomKillMinBytes = int64_t(NumberProp(th, "headroomKillMinBytes", double(t.headroomKillMinBytes)));
  t.bandFullPercent = NumberProp(th, "bandFullPercent", t.bandFullPercent);
  t.bandSomePercent = NumberProp(th, "bandSomePercent", t.bandSomePercent);
  t.bandWindowMicros = int64_t(NumberProp(th, "bandWindowMs", double(t.bandWindowMicros) / 1000) * 1000);
  t.memTermPercent = NumberProp(th, "memTermPercent", t.memTermPercent);
  t.memKillPercent = NumberProp(th, "memKillPercent", t.memKillPercent);
  t.swapTermPercent = NumberProp(th, "swapTermPercent", t.swapTermPercent);
  t.swapKillPercent = NumberProp(th, "swapKillPercent", t.swapKillPercent);
  t.childReclaimPercent = NumberProp(th, "childReclaimPercent", t.childReclaimPercent);
  t.childReclaimMinBytes = int64_t(NumberProp(th, "childReclaimMinBytes", double(t.childReclaimMinBytes)));
  c.graceMicros = int64_t(NumberProp(o, "graceMs", double(c.graceMicros) / 1000) * 1000);
  c.cooldownMicros = int64_t(NumberProp(o, "cooldownMs", double(c.cooldownMicros) / 1000) * 1000);
  c.reclaimCooldownMicros = int64_t(NumberProp(o, "reclaimCooldownMs", double(c.reclaimCooldownMicros) / 1000) * 1000);
  c.minIntervalMicros = int64_t(NumberProp(o, "minIntervalMs", double(c.minIntervalMicros) / 1000) * 1000);
  c.maxIntervalMicros = int64_t(NumberProp(o, "maxIntervalMs", double(c.maxIntervalMicros) / 1000) * 1000);
  c.fillBytesPerSecond = NumberProp(o, "fillBytesPerSecond", c.fillBytesPerSecond);
  c.dryRun = BoolProp(o, "dryRun");
  c.watchMachine = BoolProp(o, "watchMachine");
}

void Wake(State &s) {
  uint64_t one = 1;
  if (s.wakeFd >= 0) (void)!write(s.wakeFd, &one, sizeof one);
}

// Closes every fd of the state and forgets every child; the thread is not running.
void Reset(State &s) {
  for (Scope &sc : s.scopes) {
    for (int *fd : {&sc.usageFd, &sc.limitFd, &sc.highFd, &sc.eventsFd, &sc.statFd, &sc.reclaimFd, &sc.pressureFd}) CloseFd(*fd);
    sc = Scope();
  }
  for (Child &c : s.children) {
    for (int *fd : {&c.pidfd, &c.usageFd, &c.limitFd, &c.statFd, &c.reclaimFd, &c.procsFd, &c.killFd}) CloseFd(*fd);
    c = Child();
  }
  for (int k = 0; k < s.victim.treeCount; k++) CloseFd(s.victim.treePidfds[k]);
  s.victim.treeCount = 0;
  s.victim.active = false;
  for (int &fd : s.psiFds) CloseFd(fd);
  s.psiTriggerCount = 0;
  CloseFd(s.psiSampleFd);
  CloseFd(s.meminfoFd);
  CloseFd(s.wakeFd);
  s.psiScope = -1;
  s.psiCount = s.psiHead = 0;
  s.psiLastFireMicros = 0;
  s.cooldownUntilMicros = 0;
  for (auto &e : s.episodeStartMicros) e = 0;
  for (auto &r : s.noVictimReported) r = false;
}

void StopThread() {
  State &s = TheState();
  if (!s.running.load()) return;
  s.stopRequested.store(true);
  Wake(s);
  pthread_join(thread, nullptr);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    Reset(s);
  }
  if (threadStack) {
    munlock(threadStack, kStackSize);
    munmap(threadStack, kStackSize);
    threadStack = nullptr;
  }
  munlock(&s, sizeof s);
  s.running.store(false);
}

void EnvCleanup(void *arg) {
  boundary::Contain([&] {
    auto env = static_cast<napi_env>(arg);
    Unsubscribe(env, false);  // the environment is going: its thread-safe function goes with it
    // The guard lives while some environment that asked for it lives.
    if (SubscriberCount() == 0) StopThread();
  });
}

bool Subscribe(Napi::Env env, Napi::Function callback) {
  napi_threadsafe_function tsfn;
  napi_value name = Napi::String::New(env, "procguard:guard");
  if (napi_create_threadsafe_function(env, callback, nullptr, name, 0, 1, nullptr, nullptr, nullptr, CallJs, &tsfn) != napi_ok) return false;
  // Never keeps the process alive.
  napi_unref_threadsafe_function(env, tsfn);
  Unsubscribe(env, true);
  std::lock_guard<std::mutex> lock(subscribersMutex);
  for (int i = 0; i < kMaxSubscribers; i++) {
    if (subscribers[i]) continue;
    subscribers[i] = tsfn;
    subscriberEnvs[i] = env;
    napi_add_env_cleanup_hook(env, EnvCleanup, env);
    return true;
  }
  napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
  return false;
}

// Opens the scopes' files, the PSI triggers, /proc/meminfo; errors become fields of `out`.
void OpenWatches(State &s, Napi::Object config, Napi::Object out) {
  Napi::Array scopes = config.Get("scopes").As<Napi::Array>();
  for (uint32_t i = 0; i < scopes.Length() && i < uint32_t(kMaxScopes); i++) {
    Napi::Object o = scopes.Get(i).As<Napi::Object>();
    Scope &sc = s.scopes[i];
    sc.used = true;
    sc.version = int(NumberProp(o, "version", 2));
    sc.usageFd = OpenIfNamed(o, "usage", O_RDONLY);
    sc.limitFd = OpenIfNamed(o, "limit", O_RDONLY);
    sc.highFd = OpenIfNamed(o, "high", O_RDONLY);
    sc.eventsFd = OpenIfNamed(o, "events", O_RDONLY);
    sc.statFd = OpenIfNamed(o, "stat", O_RDONLY);
    sc.reclaimFd = OpenIfNamed(o, "reclaim", O_WRONLY);
    sc.headroom = BoolProp(o, "headroom");
    sc.band = BoolProp(o, "band");
  }
  s.meminfoFd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
  Napi::Value psi = config.Get("psi");
  if (psi.IsObject()) {
    Napi::Object p = psi.As<Napi::Object>();
    std::string file = StringProp(p, "file");
    s.psiScope = int(NumberProp(p, "scope", -1));
    s.psiSampleFd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    Napi::Array triggers = p.Get("triggers").As<Napi::Array>();
    int err = 0;
    for (uint32_t i = 0; i < triggers.Length() && i < uint32_t(kMaxPsiTriggers); i++) {
      std::string trigger = triggers.Get(i).As<Napi::String>().Utf8Value();
      int fd = open(file.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      // The trigger string includes its NUL, as psi.rst's example writes it.
      if (fd < 0 || write(fd, trigger.c_str(), trigger.size() + 1) < 0) {
        err = errno;
        if (fd >= 0) close(fd);
        continue;
      }
      s.psiFds[s.psiTriggerCount++] = fd;
    }
    out.Set("psiTriggers", s.psiTriggerCount);
    if (err) out.Set("psiErrno", err);
  }
}

Napi::Value Start(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  State &s = TheState();
  Napi::Object out = Napi::Object::New(env);
  if (!Subscribe(env, info[1].As<Napi::Function>())) {
    out.Set("errno", EMFILE);
    return out;
  }
  if (s.running.load()) {
    out.Set("started", false);
    return out;
  }
  Napi::Object config = info[0].As<Napi::Object>();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    Reset(s);
    s.config = Config();
    ApplyConfig(s.config, config);
    s.wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    OpenWatches(s, config, out);
    s.intervalMicros = s.config.minIntervalMicros;
    s.startedMicros = NowMicros();
    s.samples = 0;
  }
  // Everything the thread touches: the state and its own stack, faulted in and locked so that
  // reclaim under pressure never takes them away (best effort: RLIMIT_MEMLOCK may refuse).
  bool locked = mlock(&s, sizeof s) == 0;
  threadStack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (threadStack == MAP_FAILED) {
    threadStack = nullptr;
    out.Set("errno", errno);
    return out;
  }
  locked = mlock(threadStack, kStackSize) == 0 && locked;
  s.locked = locked;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, threadStack, kStackSize);
  // Signals stay with Node's threads: the guard's thread blocks them all.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  s.stopRequested.store(false);
  int err = pthread_create(&thread, &attr, GuardThreadMain, nullptr);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  pthread_attr_destroy(&attr);
  if (err) {
    munmap(threadStack, kStackSize);
    threadStack = nullptr;
    std::lock_guard<std::mutex> lock(s.mutex);
    Reset(s);
    out.Set("errno", err);
    return out;
  }
  s.running.store(true);
  out.Set("started", true);
  out.Set("locked", locked);
  return out;
}

Napi::Value Configure(const Napi::CallbackInfo &info) {
  State &s = TheState();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    ApplyConfig(s.config, info[0].As<Napi::Object>());
  }
  Wake(s);
  return info.Env().Undefined();
}

Napi::Value Stop(const Napi::CallbackInfo &info) {
  StopThread();
  Unsubscribe(info.Env(), true);
  return info.Env().Undefined();
}

int64_t WatchPidImpl(Napi::Object o, pid_t pid) {
  State &s = TheState();
  // Our own unreaped child: its pid cannot have been recycled yet, so this pidfd is its.
  int pidfd = int(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0 && errno == ESRCH) return -ESRCH;
  Child c;
  c.used = true;
  c.pid = pid;
  c.pidfd = pidfd;
  c.weight = NumberProp(o, "weight", 1);
  c.version = int(NumberProp(o, "version", 0));
  c.usageFd = OpenIfNamed(o, "usage", O_RDONLY);
  c.limitFd = OpenIfNamed(o, "limit", O_RDONLY);
  c.statFd = OpenIfNamed(o, "stat", O_RDONLY);
  c.reclaimFd = OpenIfNamed(o, "reclaim", O_WRONLY);
  c.procsFd = OpenIfNamed(o, "procs", O_RDONLY);
  c.killFd = OpenIfNamed(o, "kill", O_WRONLY);
  std::lock_guard<std::mutex> lock(s.mutex);
  for (Child &slot : s.children) {
    if (slot.used) continue;
    c.id = s.nextChildId++;
    slot = c;
    return c.id;
  }
  for (int *fd : {&c.pidfd, &c.usageFd, &c.limitFd, &c.statFd, &c.reclaimFd, &c.procsFd, &c.killFd}) CloseFd(*fd);
  return -ENOSPC;
}

// Registers a child: { pid, weight, version?, usage?, limit?, stat?, reclaim?, procs?, kill? }.
// Returns its id (> 0), or -errno.
Napi::Value WatchChild(const Napi::CallbackInfo &info) {
  Napi::Object o = info[0].As<Napi::Object>();
  return Napi::Number::New(info.Env(), double(WatchPidImpl(o, pid_t(NumberProp(o, "pid", 0)))));
}

Napi::Value ForgetChild(const Napi::CallbackInfo &info) {
  State &s = TheState();
  int64_t id = int64_t(info[0].As<Napi::Number>().DoubleValue());
  std::lock_guard<std::mutex> lock(s.mutex);
  for (Child &c : s.children) {
    if (!c.used || c.id != id) continue;
    for (int *fd : {&c.pidfd, &c.usageFd, &c.limitFd, &c.statFd, &c.reclaimFd, &c.procsFd, &c.killFd}) CloseFd(*fd);
    c = Child();
  }
  return info.Env().Undefined();
}

Napi::Object RecordObject(Napi::Env env, const Record &r) {
  static const char *kinds[] = {"", "pressure", "reclaim", "kill", "no-victim", "relief"};
  static const char *triggers[] = {"", "headroom", "memory.high stall", "MemAvailable", "child cap"};
  Napi::Object o = Napi::Object::New(env);
  o.Set("seq", double(r.seq));
  o.Set("kind", kinds[r.kind]);
  o.Set("trigger", triggers[r.trigger]);
  o.Set("scope", r.scope);
  o.Set("atMicros", double(r.atMicros));
  o.Set("detectedMicros", double(r.detectedMicros));
  o.Set("dryRun", r.dryRun);
  Napi::Array v = Napi::Array::New(env, 8);
  for (uint32_t i = 0; i < 8; i++) v.Set(i, double(r.v[i]));
  o.Set("values", v);
  o.Set("childId", double(r.childId));
  o.Set("pid", r.pid);
  o.Set("signal", r.signal);
  o.Set("level", r.level);
  o.Set("childBytes", double(r.childBytes));
  o.Set("weight", r.weight);
  o.Set("treeSize", r.treeSize);
  o.Set("errno", r.signalErrno);
  o.Set("mreleaseErrno", r.mreleaseErrno);
  o.Set("escalation", r.escalation);
  o.Set("decidedMicros", double(r.decidedMicros));
  o.Set("signaledMicros", double(r.signaledMicros));
  return o;
}

// The records after `afterSeq` still in the ring, oldest first; `lost` counts those overwritten.
Napi::Value Drain(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  State &s = TheState();
  uint64_t after = uint64_t(info[0].As<Napi::Number>().DoubleValue());
  s.notifyPending.store(false);
  Napi::Object out = Napi::Object::New(env);
  Napi::Array list = Napi::Array::New(env);
  std::lock_guard<std::mutex> lock(s.mutex);
  uint64_t first = s.nextSeq > uint64_t(kRecordRing) ? s.nextSeq - kRecordRing : 1;
  uint64_t from = after + 1 > first ? after + 1 : first;
  out.Set("lost", double(from - (after + 1)));
  uint32_t n = 0;
  for (uint64_t seq = from; seq < s.nextSeq; seq++) list.Set(n++, RecordObject(env, s.records[seq % kRecordRing]));
  out.Set("records", list);
  return out;
}

Napi::Value Snapshot(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  State &s = TheState();
  Napi::Object o = Napi::Object::New(env);
  o.Set("running", s.running.load());
  std::lock_guard<std::mutex> lock(s.mutex);
  o.Set("samples", double(s.samples));
  o.Set("intervalMs", double(s.intervalMicros) / 1000);
  o.Set("psiTriggers", s.psiTriggerCount);
  o.Set("locked", s.locked);
  o.Set("startedMicros", double(s.startedMicros));
  o.Set("nowMicros", double(NowMicros()));
  o.Set("fullPermille", double(s.fullPermille));
  o.Set("somePermille", double(s.somePermille));
  o.Set("memAvailable", double(s.memAvailable));
  o.Set("memTotal", double(s.memTotal));
  o.Set("cooldownUntilMicros", double(s.cooldownUntilMicros));
  o.Set("victimPid", s.victim.active ? s.victim.pid : 0);
  Napi::Array scopes = Napi::Array::New(env);
  uint32_t n = 0;
  for (const Scope &sc : s.scopes) {
    if (!sc.used) continue;
    Napi::Object x = Napi::Object::New(env);
    x.Set("usage", double(sc.usage));
    x.Set("limit", double(sc.limit));
    x.Set("high", double(sc.high));
    x.Set("eventsHigh", double(sc.eventsHigh));
    scopes.Set(n++, x);
  }
  o.Set("scopes", scopes);
  Napi::Array children = Napi::Array::New(env);
  n = 0;
  for (const Child &c : s.children) {
    if (!c.used) continue;
    Napi::Object x = Napi::Object::New(env);
    x.Set("id", double(c.id));
    x.Set("pid", c.pid);
    x.Set("weight", c.weight);
    x.Set("bytes", double(c.bytes));
    children.Set(n++, x);
  }
  o.Set("children", children);
  // The thread's own CPU time, for the benchmark: the kernel's per-thread CPU clock of its tid
  // (what pthread_getcpuclockid computes: ~tid << 3 | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED).
  struct timespec ts;
  if (s.running.load() && s.tid.load() > 0 && clock_gettime(clockid_t((~unsigned(s.tid.load()) << 3) | 4 | 2), &ts) == 0) {
    o.Set("cpuMicros", double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3);
    o.Set("tid", int(s.tid.load()));
  }
  return o;
}

}  // namespace

}  // namespace guard

namespace guard {
int64_t WatchPid(Napi::Object spec, pid_t pid) { return WatchPidImpl(spec, pid); }

// Wakes each environment's JS once; a wake-up already queued is not repeated (the JS side
// drains everything new when it runs). The call itself happens after the action is done.
void NotifyEnvironments() {
  State &s = TheState();
  if (s.notifyPending.exchange(true)) return;
  std::lock_guard<std::mutex> lock(subscribersMutex);
  for (auto *tsfn : subscribers)
    if (tsfn) napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking);
}
}  // namespace guard

// Every function enters through boundary::Entry: no C++ exception reaches Node.
void RegisterGuard(Napi::Env env, Napi::Object exports) {
  const std::pair<const char *, napi_callback> functions[] = {
      {"guardStart", boundary::Entry<guard::Start>},
      {"guardConfigure", boundary::Entry<guard::Configure>},
      {"guardStop", boundary::Entry<guard::Stop>},
      {"guardWatchChild", boundary::Entry<guard::WatchChild>},
      {"guardForgetChild", boundary::Entry<guard::ForgetChild>},
      {"guardDrain", boundary::Entry<guard::Drain>},
      {"guardSnapshot", boundary::Entry<guard::Snapshot>},
  };
  for (const auto &[name, fn] : functions) {
    napi_value function;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &function));
    exports.Set(name, Napi::Value(env, function));
  }
}
