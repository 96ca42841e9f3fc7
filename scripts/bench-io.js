#!/usr/bin/env node
'use strict';
// npm run bench:io — does the agent's own disk IO stay fast while its children stream writes?
//
// The agent writes 4 kB to a small file and fsyncs it every 50 ms (a session log, a state file)
// and records how long each write+fsync takes. Meanwhile N children each stream large writes with
// dd, over and over into one file of their own, for a fixed time, then are killed by pid. Two
// kinds of child writes, one table section each:
//   direct     dd oflag=direct: every write goes to the disk from the child itself
//   fdatasync  dd conv=fdatasync: buffered writes, flushed by the child at the end of each pass
// Both are submitted by the child, so they carry its IO priority. Writeback the kernel's flusher
// threads do on their own (buffered writes nobody syncs) carries the flusher's, never the child's.
// Runs, each in a fresh agent process:
//   1. agent alone (no children): the floor
//   2. children from node:child_process.spawn: the agent's IO priority
//   3. children from procguard.spawn with CODER_PROC_PRIO_MGMT=1: IO priority left alone (the
//      kernel derives a best-effort level from the nice value, 5 -> level 5)
//   4. the same with CODER_PROC_IO_PRIORITY=best-effort:7
//   5. the same with CODER_PROC_IO_PRIORITY=idle
// The report names the disk's IO scheduler (/sys/block/<disk>/queue/scheduler), since only some
// schedulers look at IO priorities at all, and says plainly where they have no effect.
//
//   node scripts/bench-io.js [--quick] [--seconds 8] [--children 2] [--pass-mb 64] [--dir DIR]
//   --quick                 4 s runs, one mode (direct)
//   --modes direct,fdatasync
//   --dir DIR               where the files go (default: the OS temp dir); must be on the disk to test
//   --json <file>           also write the results as JSON

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const childProcess = require('node:child_process');
const lib = require('./bench-lib');

const { log } = lib;
const PERIOD_MS = 50;
const AGENT_WRITE_BYTES = 4096;
// dd needs a moment to start streaming; fsyncs before that are not under load.
const SETTLE_MS = 700;

// ================================================================ the disk

/** The block device holding `dir` and its IO scheduler, from /sys. */
function diskOf(dir) {
  const dev = fs.statSync(dir).dev;
  // The kernel's new_decode_dev().
  const major = (dev & 0xfff00) >> 8;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  let sysDir;
  try {
    sysDir = fs.realpathSync(`/sys/dev/block/${major}:${minor}`);
  } catch {
    return { device: `${major}:${minor}`, name: null, scheduler: null, schedulers: [], rotational: null };
  }
  // A partition's queue is its disk's.
  if (fs.existsSync(path.join(sysDir, 'partition'))) sysDir = path.dirname(sysDir);
  const read = (file) => {
    try {
      return fs.readFileSync(path.join(sysDir, file), 'utf8').trim();
    } catch {
      return null;
    }
  };
  const line = read('queue/scheduler') ?? '';
  const active = /\[([^\]]+)\]/.exec(line);
  return {
    device: `${major}:${minor}`,
    name: path.basename(sysDir),
    scheduler: active ? active[1] : line || null,
    schedulers: line.replace(/[[\]]/g, '').split(/\s+/).filter(Boolean),
    rotational: read('queue/rotational'),
    sysDir,
  };
}

/** Sectors (512 bytes) written to a disk since boot, from /proc/diskstats. */
function diskSectorsWritten(name) {
  for (const line of fs.readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[2] === name) return Number(f[9]);
  }
  return null;
}

/** What the scheduler does with IO priorities, for the report. */
function schedulerVerdict(scheduler) {
  switch (scheduler) {
    case 'none':
    case 'noop':
      return 'ioprio has NO effect here: the "none" scheduler dispatches in arrival order and ignores IO priorities.';
    case 'kyber':
      return 'ioprio has NO effect here: kyber schedules by latency targets per operation type and ignores IO priorities.';
    case 'mq-deadline':
      return 'mq-deadline serves the classes in order (real-time, then best-effort, then idle, the idle class waiting up to ' +
        'prio_aging_expire) but ignores the levels within best-effort: best-effort:7 is the same as best-effort:0 here, only "idle" can help.';
    case 'bfq':
      return 'BFQ honours classes and best-effort levels (and cgroup io weights).';
    default:
      return `unknown scheduler ${JSON.stringify(scheduler)}: whether ioprio matters is not known.`;
  }
}

// ================================================================ worker (one run)

function readWriteBytes(pid) {
  try {
    const match = /^write_bytes:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** The child processes of `pid` (its shell's dd), from /proc/<pid>/task/<tid>/children; [] once it is gone. */
function childPidsOf(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** Bytes a child shell and its dd have written: a reaped dd's count is added to the shell's. */
function writtenBy(pid) {
  return childPidsOf(pid).reduce((total, child) => total + readWriteBytes(child), readWriteBytes(pid));
}

/** `ionice -p` of a process: 'none: prio 5', 'best-effort: prio 7', 'idle'. */
function ioPriorityOf(pid) {
  try {
    return childProcess.execFileSync('ionice', ['-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch (err) {
    return `unknown (${String(err.message).split('\n')[0]})`;
  }
}

async function worker(config) {
  let spawn = null;
  if (config.library === 'child_process') spawn = childProcess.spawn;
  if (config.library === 'procguard') {
    const pg = lib.loadProcguard(config.procguardPath);
    if (!pg.module) throw new Error(`procguard not loadable: ${pg.error}`);
    spawn = pg.module.spawn;
  }

  const scratch = fs.mkdtempSync(path.join(config.dir, 'procguard-bench-io-'));
  const agentFile = path.join(scratch, 'agent.log');
  const fd = fs.openSync(agentFile, 'w');
  const payload = Buffer.alloc(AGENT_WRITE_BYTES, 'a');
  const fsyncMs = [];
  let measuring = false;
  let stopped = false;

  // Each tick writes and fsyncs synchronously: the time measured is the disk's, not the threadpool's.
  function tick() {
    if (stopped) return;
    const started = performance.now();
    fs.writeSync(fd, payload, 0, payload.length, 0);
    fs.fsyncSync(fd);
    if (measuring) fsyncMs.push(performance.now() - started);
    setTimeout(tick, PERIOD_MS);
  }
  tick();

  // Each child also stops by itself a little after we mean to kill it.
  const selfStopSeconds = config.seconds + 5;
  const flag = config.mode === 'direct' ? 'oflag=direct' : 'conv=fdatasync,notrunc';
  const children = [];
  for (let i = 0; i < config.children; i++) {
    const file = path.join(scratch, `child-${i}`);
    const script = `end=$(( $(date +%s) + ${selfStopSeconds} )); while [ "$(date +%s)" -lt "$end" ]; do ` +
      `dd if=/dev/zero of=${file} bs=1M count=${config.passMb} ${flag} ${config.mode === 'direct' ? 'conv=notrunc ' : ''}status=none || exit 1; done`;
    const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.once('error', (err) => log(`child error: ${err.message}`));
    children.push({ child, exited });
  }

  await lib.sleep(SETTLE_MS);
  const childIoPriority = [...new Set(children.map(({ child }) => ioPriorityOf(child.pid)))];
  const written = () => children.reduce((sum, { child }) => sum + writtenBy(child.pid), 0);
  const writtenAtStart = written();
  const sectorsAtStart = config.disk ? diskSectorsWritten(config.disk) : null;
  measuring = true;
  const measuredFrom = performance.now();
  await lib.sleep(config.seconds * 1000 - SETTLE_MS);
  measuring = false;
  const measuredSeconds = (performance.now() - measuredFrom) / 1000;
  const childBytes = written() - writtenAtStart;
  const sectorsAtEnd = config.disk ? diskSectorsWritten(config.disk) : null;

  for (const { child } of children) {
    // dd is the shell's child: end it too, or it writes on until its pass is done.
    const dds = childPidsOf(child.pid);
    for (const pid of [child.pid, ...dds]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  await Promise.race([Promise.all(children.map((c) => c.exited)), lib.sleep(5000)]);
  stopped = true;
  fs.closeSync(fd);
  fs.rmSync(scratch, { recursive: true, force: true });

  const deviceBytes = sectorsAtStart !== null && sectorsAtEnd !== null ? (sectorsAtEnd - sectorsAtStart) * 512 : null;
  return {
    library: config.library,
    mode: config.mode,
    agentEnv: { CODER_PROC_PRIO_MGMT: process.env.CODER_PROC_PRIO_MGMT ?? null, CODER_PROC_IO_PRIORITY: process.env.CODER_PROC_IO_PRIORITY ?? null },
    agentIoPriority: ioPriorityOf(process.pid),
    children: config.children,
    childIoPriority,
    measuredSeconds: lib.round(measuredSeconds, 2),
    fsyncs: fsyncMs.length,
    fsyncMs: lib.roundSummary(lib.summarize(fsyncMs), 2),
    childMBps: lib.round(childBytes / 2 ** 20 / measuredSeconds, 1),
    // Whatever else reached the disk meanwhile (other processes, the journal, writeback).
    deviceMBps: deviceBytes === null ? null : lib.round(deviceBytes / 2 ** 20 / measuredSeconds, 1),
  };
}

// ================================================================ orchestrator

function parseCommandLine() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      children: { type: 'string', default: '2' },
      'pass-mb': { type: 'string', default: '64' },
      modes: { type: 'string' },
      dir: { type: 'string', default: os.tmpdir() },
      'procguard-path': { type: 'string' },
      json: { type: 'string' },
      worker: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const seconds = Number(values.seconds ?? (values.quick ? 4 : 8));
  const children = Number(values.children);
  const passMb = Number(values['pass-mb']);
  const modes = (values.modes ?? (values.quick ? 'direct' : 'direct,fdatasync')).split(',');
  // Bounded on purpose: this saturates a disk other people may be using.
  if (!(seconds >= 2 && seconds <= 60)) throw new Error('--seconds must be 2..60');
  if (!(children >= 1 && children <= 8)) throw new Error('--children must be 1..8');
  if (!(passMb >= 1 && passMb <= 1024)) throw new Error('--pass-mb must be 1..1024');
  if (!modes.every((m) => m === 'direct' || m === 'fdatasync')) throw new Error('--modes takes direct and/or fdatasync');
  return { ...values, seconds, children, passMb, modes };
}

const fmtMs = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');

const ROWS = [
  { kind: 'alone', label: 'agent alone (no children)', library: 'none', env: {} },
  { kind: 'child_process', label: 'node:child_process.spawn', library: 'child_process', env: {} },
  { kind: 'procguard', label: 'procguard, CODER_PROC_PRIO_MGMT=1', library: 'procguard', env: { CODER_PROC_PRIO_MGMT: '1' } },
  { kind: 'best-effort:7', label: 'procguard, + CODER_PROC_IO_PRIORITY=best-effort:7', library: 'procguard', env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_IO_PRIORITY: 'best-effort:7' } },
  { kind: 'idle', label: 'procguard, + CODER_PROC_IO_PRIORITY=idle', library: 'procguard', env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_IO_PRIORITY: 'idle' } },
];

async function main() {
  const options = parseCommandLine();
  if (await lib.handledAsWorkerOrHelp(options, worker, __filename)) return;
  const machine = lib.machineInfo();
  const disk = diskOf(options.dir);
  const pg = lib.loadProcguard(options['procguard-path']);
  const rows = ROWS.filter((r) => r.library !== 'procguard' || pg.module);

  log(`agent fsync benchmark: ${options.children} children streaming writes for ${options.seconds} s per run into ${options.dir} ` +
    `(${disk.name ?? disk.device}, scheduler ${disk.scheduler ?? 'unknown'})`);
  const results = [];
  for (const mode of options.modes) {
    for (const row of rows) {
      log(`  ${mode}: ${row.label}`);
      const result = await lib.runWorker({
        script: __filename,
        config: {
          library: row.library,
          mode,
          children: row.library === 'none' ? 0 : options.children,
          seconds: options.seconds,
          passMb: options.passMb,
          dir: options.dir,
          disk: disk.name,
          procguardPath: options['procguard-path'] ?? null,
        },
        env: { CODER_PROC_PRIO_MGMT: undefined, CODER_PROC_IO_PRIORITY: undefined, CODER_PROC_SCHED_POLICY: undefined, ...row.env },
        timeoutMs: options.seconds * 1000 + 30_000,
      });
      results.push({ ...row, mode, result });
    }
  }

  const lines = [];
  lines.push(`### Agent write+fsync latency (4 kB every ${PERIOD_MS} ms) with ${options.children} children streaming writes (ms)`);
  lines.push('');
  lines.push(`${machine.cpuModel}, ${machine.cores} cores, ${machine.kernel}, Node ${machine.node}; ` +
    `${options.dir} on ${disk.name ?? disk.device} (rotational ${disk.rotational ?? '?'}), IO scheduler **${disk.scheduler ?? 'unknown'}** ` +
    `(available: ${disk.schedulers.join(', ') || 'unknown'}); ${options.seconds} s per run, load average ${machine.loadAverage.join(' ')}`);
  lines.push('');
  lines.push(lib.markdownTable(
    ['children write', 'children spawned by', 'children IO priority', 'fsync p50', 'fsync p99', 'fsync max', 'fsyncs', 'children MB/s', 'disk MB/s (all)'],
    results.map(({ mode, label, kind, result: r }) => [
      mode === 'direct' ? 'O_DIRECT' : 'buffered + fdatasync', label, kind === 'alone' ? '-' : r.childIoPriority.join(', '),
      fmtMs(r.fsyncMs.median), fmtMs(r.fsyncMs.p99), fmtMs(r.fsyncMs.max), r.fsyncs,
      kind === 'alone' ? '-' : r.childMBps, r.deviceMBps ?? 'n/a',
    ]),
    ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
  ));
  lines.push('');
  for (const mode of options.modes) {
    const control = results.find((r) => r.mode === mode && r.kind === 'child_process')?.result;
    for (const kind of ['best-effort:7', 'idle']) {
      const guarded = results.find((r) => r.mode === mode && r.kind === kind)?.result;
      if (!control || !guarded) continue;
      const ratio = guarded.fsyncMs.p99 > 0 ? control.fsyncMs.p99 / guarded.fsyncMs.p99 : NaN;
      lines.push(`- ${mode}, ${kind} children: agent fsync p99 ${fmtMs(control.fsyncMs.p99)} -> ${fmtMs(guarded.fsyncMs.p99)} ms ` +
        `(${Number.isFinite(ratio) ? `${ratio.toFixed(1)}x` : 'n/a'}), children ${control.childMBps} -> ${guarded.childMBps} MB/s`);
    }
  }
  lines.push('');
  lines.push(`Disk scheduler: ${schedulerVerdict(disk.scheduler)}`);
  lines.push('Everywhere: writeback the kernel\'s flusher threads do on their own (buffered writes nobody syncs) carries the flusher\'s ' +
    'IO priority, not the child\'s, so ioprio cannot slow it; on a virtual disk the host schedules the IO again, below anything the guest decides.');
  lines.push('fsync: one 4 kB pwrite plus fsync, synchronously. disk MB/s: everything written to the disk meanwhile, other processes included.');
  console.log(lines.join('\n'));

  if (options.json) {
    fs.mkdirSync(path.dirname(path.resolve(options.json)), { recursive: true });
    fs.writeFileSync(options.json, JSON.stringify({ benchmark: 'agent-fsync', date: new Date().toISOString(), options, machine, disk, results }, null, 2) + '\n');
    log(`wrote ${options.json}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
