#!/usr/bin/env node
'use strict';
// npm run bench — spawn cost vs the agent's memory.
//
// Spawn-to-close latency of /bin/true, one spawn at a time, with the agent holding 50 MB, 1 GB
// and 4 GB of resident memory, for procguard.spawn and node:child_process.spawn. Node's spawn
// fork()s, which copies the page tables of all that memory; procguard clone(CLONE_VM|CLONE_VFORK)s
// and should stay flat. A C loop of posix_spawn + waitpid (scripts/posix_spawn_loop.c) is the
// floor. Each size runs in its own fresh worker process so sizes don't contaminate each other.
//
//   node scripts/bench.js [--quick] [--sizes 50M,1G,4G] [--stdio ignore|pipe] [--out file]
//   --attempts N               measure a size again (up to N times in all, default 2, quick 1)
//                              when other processes took over 5% of the CPU meanwhile
//   --procguard-path <module>  benchmark another module as "procguard" (e.g. node:child_process,
//                              to dry-run the plumbing before the engine builds)
//
// Results: a table on stdout, all numbers in bench/results.json.

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const childProcess = require('node:child_process');
const lib = require('./bench-lib');

const TRUE_BIN = '/bin/true';
const DEFAULT_SIZES = '50M,1G,4G';
const C_SOURCE = path.join(__dirname, 'posix_spawn_loop.c');
const C_BINARY = path.join(lib.REPO_ROOT, '.cache', 'posix_spawn_loop');

// Samples per library and size. child_process gets fewer at large sizes because each spawn there
// costs milliseconds; the time budget bounds a size whatever the machine.
const PLAN = {
  full: {
    warmup: 30,
    blockSize: 25, // spawns per block; blocks of the two libraries alternate
    budgetMsPerLibrary: 60_000,
    iterations: (bytes) => ({
      procguard: 500,
      child_process: bytes <= 256 * 2 ** 20 ? 500 : bytes <= 2 * 2 ** 30 ? 300 : 200,
    }),
    spawnSyncIterations: (bytes) => (bytes <= 256 * 2 ** 20 ? 300 : 150),
    cIterations: 500,
  },
  quick: {
    warmup: 10,
    blockSize: 20,
    budgetMsPerLibrary: 8_000,
    iterations: () => ({ procguard: 100, child_process: 60 }),
    spawnSyncIterations: () => 60,
    cIterations: 100,
  },
};

// spawnSync is measured only at these sizes (it is the same fork-vs-clone story, just blocking).
const SPAWN_SYNC_MAX_BYTES = 2 ** 30;

// Share of the machine's CPU used by other processes during a size's measurement that makes it suspect.
const OTHER_CPU_WARN_SHARE = 0.05;

// Targets from the design: what "procguard works" means for spawn cost.
const TARGETS = {
  flatRatio: 1.3, // procguard median at 4 GB <= 1.3x its median at 50 MB
  vsPosixSpawn: 1.5, // procguard median at 50 MB <= 1.5x the C posix_spawn loop
  speedupAt1G: 20, // child_process median / procguard median at 1 GB >= 20
};

// ================================================================ worker (one agent size)

async function worker(config) {
  const pg = lib.loadProcguard(config.procguardPath);
  const libraries = [];
  if (pg.module) libraries.push({ name: 'procguard', spawn: pg.module.spawn, spawnSync: pg.module.spawnSync });
  libraries.push({ name: 'child_process', spawn: childProcess.spawn, spawnSync: childProcess.spawnSync });

  // What each library's children actually run with (management on should give nice+5 / 998).
  const childPriority = {};
  for (const l of libraries) childPriority[l.name] = await sampleChildPriority(l.spawn);

  const rssBeforeAllocation = lib.readVmRssBytes();
  const held = lib.holdResidentMemory(config.targetBytes);
  const rssAtStart = lib.readVmRssBytes();
  log(`[${lib.formatSize(config.targetBytes)}] agent VmRSS ${lib.formatSize(rssAtStart)}, measuring ${libraries.map((l) => l.name).join(' + ')}`);

  // Other jobs on a shared machine inflate latencies; measure how much CPU they took meanwhile.
  const stopOtherCpuWatch = lib.startOtherCpuWatch(() => lib.readCpuSeconds('self', true));
  const spawnOptions = { stdio: config.stdio };
  for (const l of libraries) {
    for (let i = 0; i < config.warmup; i++) await timeOneSpawn(l.spawn, spawnOptions);
  }

  // Alternate blocks (A B B A A B ...) so drift (CPU frequency, noisy neighbours) hits both alike.
  const runs = libraries.map((l) => ({ library: l, samples: [], spentMs: 0, target: config.iterations[l.name] }));
  const isDone = (r) => r.samples.length >= r.target || r.spentMs >= config.budgetMsPerLibrary;
  let order = runs;
  while (runs.some((r) => !isDone(r))) {
    for (const r of order) {
      if (isDone(r)) continue;
      const count = Math.min(config.blockSize, r.target - r.samples.length);
      const blockStart = performance.now();
      for (let i = 0; i < count; i++) r.samples.push(await timeOneSpawn(r.library.spawn, spawnOptions));
      r.spentMs += performance.now() - blockStart;
    }
    order = [...order].reverse();
  }

  const spawn = {};
  for (const r of runs) spawn[r.library.name] = { us: lib.roundSummary(lib.summarize(r.samples)), samplesUs: r.samples.map((v) => lib.round(v)) };

  // spawnSync blocks the event loop for the whole child, so it is timed with plain hrtime.
  let spawnSync = null;
  const syncCapable = libraries.filter((l) => typeof l.spawnSync === 'function');
  if (config.spawnSyncIterations > 0 && syncCapable.length === libraries.length && pg.module) {
    spawnSync = {};
    for (const l of syncCapable) {
      for (let i = 0; i < config.warmup; i++) timeOneSpawnSync(l.spawnSync, spawnOptions);
    }
    const samples = Object.fromEntries(syncCapable.map((l) => [l.name, []]));
    const started = performance.now();
    for (let round = 0; samples[syncCapable[0].name].length < config.spawnSyncIterations; round++) {
      if (performance.now() - started > 2 * config.budgetMsPerLibrary) break;
      const block = round % 2 ? [...syncCapable].reverse() : syncCapable;
      for (const l of block) {
        for (let i = 0; i < config.blockSize; i++) samples[l.name].push(timeOneSpawnSync(l.spawnSync, spawnOptions));
      }
    }
    for (const l of syncCapable) spawnSync[l.name] = { us: lib.roundSummary(lib.summarize(samples[l.name])) };
  }

  const otherCpu = stopOtherCpuWatch();
  const rssAtEnd = lib.readVmRssBytes();
  if (held.length === 0 && config.targetBytes > rssAtStart) throw new Error('ballast missing');
  return {
    targetBytes: config.targetBytes,
    procguard: { loaded: Boolean(pg.module), module: pg.name, error: pg.error, ...lib.describeProcguard(pg.module) },
    agent: {
      pid: process.pid,
      rssBeforeAllocationBytes: rssBeforeAllocation,
      rssAtStartBytes: rssAtStart,
      rssAtEndBytes: rssAtEnd,
      heldBuffers: held.length,
      env: { CODER_PROC_PRIO_MGMT: process.env.CODER_PROC_PRIO_MGMT ?? null },
    },
    childPriority,
    otherCpu,
    spawn,
    spawnSync,
    spawnSyncSkipped: spawnSync ? null : !pg.module ? 'procguard not loaded' : config.spawnSyncIterations > 0 ? 'procguard has no spawnSync' : 'size not measured for spawnSync',
  };
}

/** Microseconds from spawn() to the child's 'close' (exited and its stdio closed). */
function timeOneSpawn(spawn, options) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(TRUE_BIN, [], options);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const micros = Number(process.hrtime.bigint() - start) / 1e3;
      if (code !== 0) reject(new Error(`${TRUE_BIN} ended with code ${code}, signal ${signal}`));
      else resolve(micros);
    });
  });
}

function timeOneSpawnSync(spawnSync, options) {
  const start = process.hrtime.bigint();
  const result = spawnSync(TRUE_BIN, [], options);
  const micros = Number(process.hrtime.bigint() - start) / 1e3;
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${TRUE_BIN} spawnSync status ${result.status}, signal ${result.signal}`);
  return micros;
}

/** Spawns a short sleep and reads its nice/oom_score_adj from /proc while it runs. */
async function sampleChildPriority(spawn) {
  const child = spawn('/bin/sleep', ['5'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await lib.sleep(50); // past exec: the values are set in the child before exec
  const priority = lib.readProcessPriority(child.pid);
  process.kill(child.pid, 'SIGKILL');
  await exited;
  return priority;
}

function log(line) {
  process.stderr.write(line + '\n');
}

// ================================================================ orchestrator

function parseCommandLine() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string', default: DEFAULT_SIZES },
      stdio: { type: 'string', default: 'ignore' },
      out: { type: 'string', default: path.join(lib.REPO_ROOT, 'bench', 'results.json') },
      attempts: { type: 'string' },
      'procguard-path': { type: 'string' },
      worker: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (!['ignore', 'pipe'].includes(values.stdio)) throw new Error('--stdio must be ignore or pipe');
  values.attempts = Number(values.attempts ?? (values.quick ? 1 : 2));
  if (!(values.attempts >= 1 && values.attempts <= 5)) throw new Error('--attempts must be 1..5');
  return values;
}

/** Compiles posix_spawn_loop.c (once per source change) and runs it at the given size. */
function runPosixSpawnLoop(bytes, iterations, stdio) {
  fs.mkdirSync(path.dirname(C_BINARY), { recursive: true });
  const stale = !fs.existsSync(C_BINARY) || fs.statSync(C_BINARY).mtimeMs < fs.statSync(C_SOURCE).mtimeMs;
  if (stale) childProcess.execFileSync('cc', ['-O2', '-o', C_BINARY, C_SOURCE], { stdio: 'inherit' });
  const args = [String(iterations), String(Math.round(bytes / 2 ** 20))];
  if (stdio === 'ignore') args.push('--devnull'); // Node's 'ignore' opens /dev/null in the child too
  const out = childProcess.execFileSync(C_BINARY, args, { encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out);
}

const fmtUs = (s) => (s ? `${lib.round(s.median, 0)} (${lib.round(s.p90, 0)})` : 'n/a');
const fmtRatio = (num, den) => (num && den ? `${(num.median / den.median).toFixed(1)}x` : 'n/a');

function evaluateTargets(bySize, cBySize) {
  const pgAt = (bytes) => bySize.get(bytes)?.spawn.procguard?.us;
  const cpAt = (bytes) => bySize.get(bytes)?.spawn.child_process?.us;
  const MB50 = lib.parseSize('50M');
  const GB1 = lib.parseSize('1G');
  const GB4 = lib.parseSize('4G');
  const targets = [];
  const add = (name, limit, value, pass, detail) => targets.push({ name, limit, value: value == null ? null : lib.round(value, 2), result: value == null ? 'SKIP' : pass ? 'PASS' : 'FAIL', detail });

  const flat = pgAt(MB50) && pgAt(GB4) ? pgAt(GB4).median / pgAt(MB50).median : null;
  add('procguard flat: median 4 GB / median 50 MB', `<= ${TARGETS.flatRatio}`, flat, flat <= TARGETS.flatRatio,
    flat == null ? 'needs procguard at 50M and 4G' : `${lib.round(pgAt(GB4).median, 0)} / ${lib.round(pgAt(MB50).median, 0)} µs`);

  const c50 = cBySize.get(MB50)?.us;
  const vsC = pgAt(MB50) && c50 ? pgAt(MB50).median / c50.median : null;
  add('procguard 50 MB median / C posix_spawn 50 MB median', `<= ${TARGETS.vsPosixSpawn}`, vsC, vsC <= TARGETS.vsPosixSpawn,
    vsC == null ? 'needs procguard and the C loop at 50M' : `${lib.round(pgAt(MB50).median, 0)} / ${lib.round(c50.median, 0)} µs`);

  const speedup = pgAt(GB1) && cpAt(GB1) ? cpAt(GB1).median / pgAt(GB1).median : null;
  add('child_process / procguard median at 1 GB', `>= ${TARGETS.speedupAt1G}`, speedup, speedup >= TARGETS.speedupAt1G,
    speedup == null ? 'needs both libraries at 1G' : `${lib.round(cpAt(GB1).median, 0)} / ${lib.round(pgAt(GB1).median, 0)} µs`);
  return targets;
}

async function main() {
  const options = parseCommandLine();
  if (options.worker) {
    lib.emitWorkerResult(await worker(JSON.parse(options.worker)));
    return;
  }
  if (options.help) {
    lib.printUsage(__filename);
    return;
  }

  const plan = options.quick ? PLAN.quick : PLAN.full;
  const sizes = [...new Set(options.sizes.split(',').map(lib.parseSize))].sort((a, b) => a - b);
  const machine = lib.machineInfo();
  const startedAt = new Date();
  log(`procguard spawn benchmark (${options.quick ? 'quick' : 'full'}): sizes ${sizes.map(lib.formatSize).join(', ')}, stdio '${options.stdio}', ${machine.cpuModel} x${machine.cores}, ${machine.kernel}, node ${machine.node}`);

  const bySize = new Map();
  const cBySize = new Map();
  for (const bytes of sizes) {
    const config = {
      targetBytes: bytes,
      stdio: options.stdio,
      warmup: plan.warmup,
      blockSize: plan.blockSize,
      budgetMsPerLibrary: plan.budgetMsPerLibrary,
      iterations: plan.iterations(bytes),
      spawnSyncIterations: bytes <= SPAWN_SYNC_MAX_BYTES ? plan.spawnSyncIterations(bytes) : 0,
      procguardPath: options['procguard-path'] ?? null,
    };
    const result = await lib.runWorkerUndisturbed(
      {
        script: __filename,
        config,
        // Priority management on, so procguard takes its real path (nice + oom_score_adj in the child).
        env: { CODER_PROC_PRIO_MGMT: '1' },
        // Two libraries, spawn and spawnSync, each bounded by the budget, plus allocation time.
        timeoutMs: 6 * plan.budgetMsPerLibrary + 120_000,
      },
      { attempts: options.attempts, maxOtherShare: OTHER_CPU_WARN_SHARE, maxWaitMs: options.quick ? 10_000 : 60_000 },
    );
    bySize.set(bytes, result);

    log(`[${lib.formatSize(bytes)}] C posix_spawn loop`);
    try {
      cBySize.set(bytes, runPosixSpawnLoop(bytes, plan.cIterations, options.stdio));
    } catch (err) {
      // No C compiler, say: the Node numbers still stand on their own.
      log(`C posix_spawn loop failed: ${String(err.message).split('\n')[0]}`);
      cBySize.set(bytes, { error: String(err.message).split('\n')[0] });
    }
  }

  // ------------------------------------------------------------ report
  const first = bySize.get(sizes[0]);
  const pgLabel = first.procguard.module === 'procguard' ? 'procguard' : `"procguard" = ${first.procguard.module}`;
  const lines = [];
  lines.push(`### Spawn-to-close latency of ${TRUE_BIN}, sequential, stdio '${options.stdio}' (µs: median (p90))`);
  lines.push('');
  lines.push(`${machine.cpuModel}, ${machine.cores} cores, ${machine.kernel}, Node ${machine.node} (libuv ${machine.libuv}), glibc ${machine.glibc}, THP ${machine.transparentHugepages}`);
  if (!first.procguard.loaded) lines.push(`procguard not measured: ${first.procguard.error}`);
  const prio = first.childPriority;
  lines.push(`children's nice / oom_score_adj (agent has CODER_PROC_PRIO_MGMT=1): ${Object.entries(prio).map(([k, v]) => `${k} ${v.nice} / ${v.oomScoreAdj}`).join(', ')}`);
  lines.push('');
  lines.push(lib.markdownTable(
    ['agent size', 'agent VmRSS', `${pgLabel} µs`, 'child_process µs', 'ratio cp/pg', 'C posix_spawn µs', 'n (pg / cp)'],
    sizes.map((bytes) => {
      const r = bySize.get(bytes);
      return [
        lib.formatSize(bytes),
        lib.formatSize(r.agent.rssAtStartBytes),
        fmtUs(r.spawn.procguard?.us),
        fmtUs(r.spawn.child_process?.us),
        fmtRatio(r.spawn.child_process?.us, r.spawn.procguard?.us),
        fmtUs(cBySize.get(bytes)?.us),
        `${r.spawn.procguard?.us.n ?? 0} / ${r.spawn.child_process?.us.n ?? 0}`,
      ];
    }),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
  ));
  lines.push('');
  lines.push('agent VmRSS: read from /proc/self/status in the agent after allocating, before spawning.');
  lines.push(`C posix_spawn: scripts/posix_spawn_loop.c (cc -O2), posix_spawn + waitpid holding the same VmRSS, child fds 0-2 ${options.stdio === 'ignore' ? 'on /dev/null' : 'inherited (no pipes)'}.`);
  for (const bytes of sizes) {
    const other = bySize.get(bytes).otherCpu;
    if (other.share > OTHER_CPU_WARN_SHARE) {
      lines.push(`WARNING: at ${lib.formatSize(bytes)} other processes used ${(100 * other.share).toFixed(0)}% of the CPU (steal ${other.stealSeconds} s) while measuring; rerun on a quiet machine.`);
    }
  }

  lines.push('');
  const syncSizes = sizes.filter((b) => bySize.get(b).spawnSync);
  if (syncSizes.length) {
    lines.push(`### spawnSync of ${TRUE_BIN} (µs: median (p90))`);
    lines.push('');
    lines.push(lib.markdownTable(
      ['agent size', `${pgLabel}.spawnSync µs`, 'child_process.spawnSync µs', 'ratio cp/pg'],
      syncSizes.map((bytes) => {
        const s = bySize.get(bytes).spawnSync;
        return [lib.formatSize(bytes), fmtUs(s.procguard?.us), fmtUs(s.child_process?.us), fmtRatio(s.child_process?.us, s.procguard?.us)];
      }),
      ['left', 'right', 'right', 'right'],
    ));
  } else {
    lines.push(`spawnSync table skipped: ${first.spawnSyncSkipped}.`);
  }

  const targets = evaluateTargets(bySize, cBySize);
  lines.push('');
  lines.push('### Targets');
  lines.push('');
  for (const t of targets) lines.push(`- ${t.result} ${t.name} ${t.limit}: ${t.value ?? '-'} (${t.detail})`);
  console.log(lines.join('\n'));

  const results = {
    benchmark: 'spawn-latency',
    startedAt: startedAt.toISOString(),
    durationSeconds: lib.round((Date.now() - startedAt.getTime()) / 1000, 1),
    options: { quick: options.quick, sizes: options.sizes, stdio: options.stdio, attempts: options.attempts, procguardPath: options['procguard-path'] ?? null, plan: options.quick ? 'quick' : 'full' },
    machine,
    method: {
      command: TRUE_BIN,
      measured: "spawn() to the child's 'close' event, one child at a time, after warm-up; libraries alternate in blocks",
      agentMemory: 'Buffers of 16 MiB filled with 0x5a until /proc/self/status VmRSS reaches the size; one fresh worker process per size',
      agentEnv: { CODER_PROC_PRIO_MGMT: '1' },
      posixSpawnLoop: 'scripts/posix_spawn_loop.c, cc -O2, posix_spawn + waitpid after touching the same VmRSS',
    },
    sizes: sizes.map((bytes) => ({ ...bySize.get(bytes), posixSpawnC: cBySize.get(bytes) })),
    targets,
  };
  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, JSON.stringify(results, null, 2) + '\n');
  log(`\nwrote ${path.relative(process.cwd(), options.out)} (${results.durationSeconds} s)`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
