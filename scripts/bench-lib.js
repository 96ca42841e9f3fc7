'use strict';
// Helpers shared by scripts/bench.js and scripts/bench-cpu.js.
// Plain CommonJS, no dependencies: the benchmarks must run straight from a checkout.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const childProcess = require('node:child_process');

const REPO_ROOT = path.join(__dirname, '..');

// ---------------------------------------------------------------- statistics

/** Value at quantile q (0..1) of an ascending array, linearly interpolated. */
function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Summary of a list of samples (any unit; the unit is kept). */
function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((acc, v) => acc + v, 0);
  return {
    n: sorted.length,
    min: sorted[0] ?? NaN,
    median: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

/** Rounds every number of a summary to `digits` decimals, for JSON and printing. */
function roundSummary(summary, digits = 1) {
  const out = {};
  for (const [key, value] of Object.entries(summary)) {
    out[key] = key === 'n' ? value : round(value, digits);
  }
  return out;
}

function round(value, digits = 1) {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// ---------------------------------------------------------------- sizes

/** '50M', '1G', '512m', '4096' (MiB) -> bytes. Binary units: the agent's RSS is read in kB from /proc. */
function parseSize(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(String(text));
  if (!match) throw new Error(`cannot parse size '${text}' (use e.g. 50M, 1G)`);
  const unit = match[2].toLowerCase() || 'm';
  const mult = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[unit];
  return Math.round(Number(match[1]) * mult);
}

/** bytes -> '50 MB' / '1 GB' / '1.5 GB' (binary units, short labels). */
function formatSize(bytes) {
  if (bytes >= 2 ** 30) return `${round(bytes / 2 ** 30, 2)} GB`;
  if (bytes >= 2 ** 20) return `${round(bytes / 2 ** 20, 0)} MB`;
  return `${round(bytes / 2 ** 10, 0)} kB`;
}

/** Microseconds -> '826 µs' / '1.25 ms' / '34.1 ms' / '127 ms' / '1.2 s' (3 significant digits). */
function formatDuration(micros) {
  if (!Number.isFinite(micros)) return 'n/a';
  const sig3 = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  if (micros < 1000) return `${micros.toFixed(0)} µs`;
  if (micros < 1e6) return `${sig3(micros / 1e3)} ms`;
  return `${sig3(micros / 1e6)} s`;
}

// ---------------------------------------------------------------- memory

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM, ...), or null. */
function readStatusBytes(field, pid = 'self') {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const readVmRssBytes = (pid = 'self') => readStatusBytes('VmRSS', pid);

/**
 * Allocates Buffers until the process's VmRSS reaches `targetBytes`, writing every page so it is
 * resident (Buffer.alloc alone may get untouched zero pages from mmap, which fork() does not copy).
 * Buffers live outside the V8 heap, so no --max-old-space-size is needed and no GC moves them.
 * Chunks of 16 MiB: many mappings, like a real heap, instead of one giant one.
 * Returns the Buffers; keep a reference or they are freed.
 */
function holdResidentMemory(targetBytes, chunkBytes = 16 * 2 ** 20) {
  const held = [];
  let missing = targetBytes - (readVmRssBytes() ?? 0);
  while (missing > 0) {
    const size = Math.min(chunkBytes, Math.max(missing, 4096));
    const buf = Buffer.allocUnsafeSlow(size);
    // A non-zero pattern so every page really gets written (and is not a shared zero page).
    buf.fill(0x5a);
    held.push(buf);
    missing -= size;
    // Re-read now and then: the allocator and the process itself also move VmRSS.
    if (held.length % 16 === 0) missing = targetBytes - (readVmRssBytes() ?? 0);
  }
  return held;
}

// ---------------------------------------------------------------- CPU accounting

// /proc counts CPU time in USER_HZ clock ticks, 100 per second on every Linux we target.
const USER_HZ = 100;

/**
 * utime + stime of a process in seconds, or null when it is gone. With `withReapedChildren`,
 * plus cutime + cstime: the CPU of children it has already waited for.
 */
function readCpuSeconds(pid, withReapedChildren = false) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after comm (which may hold spaces): index 0 is field 3 (state).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const own = f[14 - 3] + f[15 - 3];
    return (withReapedChildren ? own + f[16 - 3] + f[17 - 3] : own) / USER_HZ;
  } catch {
    return null;
  }
}

/** Machine-wide busy and steal CPU seconds since boot, from the 'cpu' line of /proc/stat. */
function readMachineCpu() {
  const [user, nice, system, , , irq, softirq, steal] = fs
    .readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { busy: (user + nice + system + irq + softirq) / USER_HZ, steal: steal / USER_HZ };
}

/**
 * Watches how much CPU the rest of the machine uses during a measurement, so runs disturbed by
 * other jobs on a shared machine can be flagged. `ownCpuSeconds` returns the CPU seconds of
 * everything the benchmark itself runs (agent and children).
 */
function startOtherCpuWatch(ownCpuSeconds) {
  const machineAtStart = readMachineCpu();
  const ownAtStart = ownCpuSeconds();
  const startedAt = performance.now();
  return () => {
    const machine = readMachineCpu();
    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    const otherSeconds = machine.busy - machineAtStart.busy - (ownCpuSeconds() - ownAtStart);
    const capacitySeconds = os.cpus().length * elapsedSeconds;
    return {
      seconds: round(Math.max(0, otherSeconds), 2),
      stealSeconds: round(machine.steal - machineAtStart.steal, 2),
      capacitySeconds: round(capacitySeconds, 2),
      share: round(Math.max(0, otherSeconds) / capacitySeconds, 3),
    };
  };
}

// ---------------------------------------------------------------- processes

const SCHED_POLICY_NAMES = { 0: 'SCHED_OTHER', 3: 'SCHED_BATCH', 5: 'SCHED_IDLE' };

/** nice, oom_score_adj and scheduling policy of a running process (null when it is gone). */
function readProcessPriority(pid) {
  let nice = null;
  let oomScoreAdj = null;
  let schedPolicy = null;
  try {
    // Field 19 of /proc/<pid>/stat is nice, 41 the scheduling policy; comm (field 2) may hold
    // spaces, so split after ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    nice = Number(fields[19 - 3]);
    const policy = Number(fields[41 - 3]);
    schedPolicy = SCHED_POLICY_NAMES[policy] ?? `policy ${policy}`;
  } catch {}
  try {
    oomScoreAdj = Number(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim());
  } catch {}
  return { nice, oomScoreAdj, schedPolicy };
}

/**
 * Loads procguard the way a user does (`require('procguard')`; inside this package Node resolves
 * the name to the package itself through "exports"). `modulePath` overrides it, e.g.
 * 'node:child_process' to dry-run the benchmarks' plumbing before the engine exists.
 */
function loadProcguard(modulePath) {
  const name = modulePath || 'procguard';
  try {
    const mod = require(require.resolve(name, { paths: [REPO_ROOT] }));
    if (typeof mod.spawn !== 'function') throw new Error(`${name} has no spawn()`);
    return { module: mod, name, error: null };
  } catch (err) {
    return { module: null, name, error: String(err.message).split('\n')[0] };
  }
}

/** procguard's version and status() when it exposes one; never throws. */
function describeProcguard(mod) {
  const info = {};
  try {
    info.version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version;
  } catch {}
  try {
    if (mod && typeof mod.status === 'function') info.status = mod.status();
    else if (mod && typeof mod.getStatus === 'function') info.status = mod.getStatus();
  } catch (err) {
    info.statusError = String(err.message);
  }
  return info;
}

const RESULT_MARKER = '@@BENCH_RESULT@@ ';

/** Worker side: hands the result to the orchestrator on one stdout line. */
function emitWorkerResult(result) {
  process.stdout.write(RESULT_MARKER + JSON.stringify(result) + '\n');
}

/**
 * The common start of a benchmark script: as a worker, runs `worker` on its config and emits the
 * result; with --help, prints the usage. True when either happened and the script has no more to do.
 */
async function handledAsWorkerOrHelp(options, worker, scriptFile) {
  if (options.worker) {
    emitWorkerResult(await worker(JSON.parse(options.worker)));
    return true;
  }
  if (options.help) {
    printUsage(scriptFile);
    return true;
  }
  return false;
}

/**
 * Orchestrator side: runs `node [nodeArgs] script --worker <config>` in a fresh process and resolves
 * with the result it emits. Its stderr (progress lines) is passed through. Killed after timeoutMs.
 */
function runWorker({ script, nodeArgs = [], config, env = {}, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const worker = childProcess.spawn(
      process.execPath,
      [...nodeArgs, script, '--worker', JSON.stringify(config)],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
    );
    let stdout = '';
    worker.stdout.setEncoding('utf8');
    worker.stdout.on('data', (chunk) => (stdout += chunk));
    const timer = setTimeout(() => {
      process.stderr.write(`worker ${worker.pid} exceeded ${timeoutMs} ms, killing it\n`);
      worker.kill('SIGKILL');
    }, timeoutMs);
    worker.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    worker.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
      if (!line) {
        reject(new Error(`worker exited (code ${code}, signal ${signal}) without a result`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_MARKER.length)));
    });
  });
}

/**
 * Waits (bounded) until the machine's CPUs are mostly idle, sampling /proc/stat once a second.
 * On a shared machine this keeps other jobs' bursts out of the measurement. Resolves with the
 * busy share of the last second (0..1).
 */
async function waitForQuietMachine({ maxWaitMs = 60_000, busyShare = 0.1 } = {}) {
  const cores = os.cpus().length;
  const deadline = Date.now() + maxWaitMs;
  let share = 1;
  let announced = false;
  for (;;) {
    const before = readMachineCpu().busy;
    await sleep(1000);
    share = (readMachineCpu().busy - before) / cores;
    if (share <= busyShare || Date.now() >= deadline) return share;
    if (!announced) {
      process.stderr.write(`  waiting for a quiet machine (CPU ${(100 * share).toFixed(0)}% busy, up to ${Math.round(maxWaitMs / 1000)} s)\n`);
      announced = true;
    }
  }
}

/**
 * runWorker, repeated (up to `attempts` times) while other processes disturb the measurement
 * (the worker's result reports `otherCpu.share`); returns the least disturbed result.
 * `deadline` (a Date.now() value) bounds the whole benchmark: past it, no more waiting for a quiet
 * machine and no repeats; before it, the wait is cut to the time left.
 */
async function runWorkerUndisturbed(workerOptions, { attempts = 1, maxOtherShare = 0.05, maxWaitMs = 60_000, deadline = Infinity } = {}) {
  let best = null;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const waitMs = Math.min(maxWaitMs, deadline - Date.now());
    if (waitMs > 0) await waitForQuietMachine({ maxWaitMs: waitMs });
    const result = await runWorker(workerOptions);
    result.attempt = attempt;
    if (!best || result.otherCpu.share < best.otherCpu.share) best = result;
    if (result.otherCpu.share <= maxOtherShare) break;
    if (attempt < attempts && Date.now() >= deadline) {
      process.stderr.write(`  other processes used ${(100 * result.otherCpu.share).toFixed(0)}% of the CPU meanwhile; out of time, keeping it\n`);
      break;
    }
    if (attempt < attempts) {
      process.stderr.write(`  other processes used ${(100 * result.otherCpu.share).toFixed(0)}% of the CPU meanwhile; measuring again\n`);
    }
  }
  return best;
}

// ---------------------------------------------------------------- machine

function readFirstLine(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0].trim();
  } catch {
    return null;
  }
}

/** What the numbers depend on: CPU, kernel, Node/libuv/glibc, memory, THP, cgroup limits. */
function machineInfo() {
  const cpus = os.cpus();
  let glibc = null;
  try {
    glibc = process.report.getReport().header.glibcVersionRuntime ?? null;
  } catch {}
  return {
    cpuModel: cpus[0]?.model ?? null,
    cpuMHz: cpus[0]?.speed ?? null,
    cores: cpus.length,
    kernel: `${os.type()} ${os.release()}`,
    arch: process.arch,
    node: process.version,
    libuv: process.versions.uv,
    glibc,
    totalMemoryBytes: os.totalmem(),
    transparentHugepages: readFirstLine('/sys/kernel/mm/transparent_hugepage/enabled'),
    cgroupCpuMax: readFirstLine('/sys/fs/cgroup/cpu.max'),
    cgroupMemoryMax: readFirstLine('/sys/fs/cgroup/memory.max'),
    agentNice: os.getPriority(),
    loadAverage: os.loadavg().map((v) => round(v, 2)),
  };
}

// ---------------------------------------------------------------- output

/** A markdown table whose columns are padded so it also reads well in a terminal. */
function markdownTable(headers, rows, align = []) {
  const cells = [headers, ...rows].map((row) => row.map((c) => String(c ?? '')));
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((row) => row[i].length)));
  const pad = (text, i) => (align[i] === 'right' ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const line = (row) => `| ${row.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'right' ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

/** Prints a script's header comment (its usage) without the comment markers. */
function printUsage(scriptFile) {
  const lines = fs.readFileSync(scriptFile, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('//'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('//'));
  console.log(lines.slice(start, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Progress goes to stderr, so stdout holds only the tables. */
function log(line) {
  process.stderr.write(line + '\n');
}

module.exports = {
  handledAsWorkerOrHelp,
  log,
  REPO_ROOT,
  quantile,
  summarize,
  roundSummary,
  round,
  parseSize,
  formatSize,
  formatDuration,
  readStatusBytes,
  readVmRssBytes,
  holdResidentMemory,
  readCpuSeconds,
  readMachineCpu,
  startOtherCpuWatch,
  readProcessPriority,
  loadProcguard,
  describeProcguard,
  emitWorkerResult,
  runWorker,
  waitForQuietMachine,
  runWorkerUndisturbed,
  machineInfo,
  markdownTable,
  printUsage,
  sleep,
};
