#!/usr/bin/env node
'use strict';
// npm run bench:cpu — does the agent stay responsive while its children burn CPU?
//
// The agent runs a 10 ms timer that does some real work per tick (a JSON round trip of a message
// and a SHA-256 of a payload) and records how late each tick fires (lag = actual - expected time)
// and how long the tick takes to finish its work (response = lag + work). Meanwhile 4 CPU-burning
// children run for a fixed time, then are killed by pid. For each agent workload, runs in a fresh
// agent process each:
//   1. agent alone (no children): the floor
//   2. children from node:child_process.spawn: same nice as the agent
//   3. children from procguard.spawn with CODER_PROC_PRIO_MGMT=1: nice agent+5, oom_score_adj 998
//   4. the same with CODER_PROC_NICE_SCORE=19: the lowest nice
//   5. the same with CODER_PROC_SCHED_POLICY=batch: SCHED_BATCH at nice 5
//   6. the same with CODER_PROC_SCHED_POLICY=idle: SCHED_IDLE (nice no longer matters)
// Besides the agent's lag and response, each run reports what the children lose: the CPU they got
// while measured (in cores), and how long a short command (/bin/true, spawned the same way) takes
// from spawn to exit while they burn.
// Workloads: "light" (4 kB per tick, ~0.1 ms) and "busy" (1024 kB per tick, a few ms: an agent that
// needs about half a core, more than its fair share against 4 equal-nice burners on 2 cores).
//
//   node scripts/bench-cpu.js [--quick] [--seconds 9] [--children 4] [--rounds 2] [--control-only]
//   --quick                    4 s runs, 1 round, no repeats (about 30 s in all)
//   --work-kb 4,1024           per-tick work sizes, one table section each
//   --attempts N               repeat a run (up to N times in all, default 3, quick 1) when other
//                              processes took over 5% of the CPU meanwhile; the least disturbed counts
//   --control-only             runs 1 and 2 only (until the engine builds)
//   --rows 3,4,5,6             which procguard rows to run (default all)
//   --procguard-path <module>  benchmark another module as "procguard" (plumbing dry run)
//   --json <file>              also write the results as JSON

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { parseArgs } = require('node:util');
const childProcess = require('node:child_process');
const lib = require('./bench-lib');

const TICK_MS = 10;
// Children need a moment to start (node boots in ~40 ms of CPU); lag before that is not under load.
const SETTLE_MS = 500;
// Share of the machine's CPU used by processes other than the run's own that makes a run suspect.
const OTHER_CPU_WARN_SHARE = 0.05;
// Short commands (/bin/true) timed from spawn to exit at the end of each run with children.
const SHORT_COMMANDS = 10;

// ================================================================ worker (one run)

async function worker(config) {
  let spawn = null;
  let procguard = null;
  if (config.library === 'child_process') spawn = childProcess.spawn;
  if (config.library === 'procguard') {
    const pg = lib.loadProcguard(config.procguardPath);
    if (!pg.module) throw new Error(`procguard not loadable: ${pg.error}`);
    spawn = pg.module.spawn;
    procguard = { module: pg.name, ...lib.describeProcguard(pg.module) };
  }

  const work = makeTickWork(config.workKb);
  const lagMs = [];
  const workMs = [];
  const responseMs = [];
  let measuring = false;
  let stopped = false;
  let expectedAt = 0;

  // A chain of 10 ms timeouts: each tick records how late it fired, does its work, re-arms.
  function tick() {
    const firedAt = performance.now();
    work();
    if (measuring) {
      const doneAt = performance.now();
      lagMs.push(firedAt - expectedAt);
      workMs.push(doneAt - firedAt);
      responseMs.push(doneAt - expectedAt);
    }
    if (stopped) return;
    expectedAt = performance.now() + TICK_MS;
    setTimeout(tick, TICK_MS);
  }
  expectedAt = performance.now() + TICK_MS;
  setTimeout(tick, TICK_MS);
  await lib.sleep(300); // JIT the tick before measuring

  // Children burn CPU; each also stops by itself a little after we mean to kill it, so a crashed
  // benchmark cannot leave busy loops behind.
  const selfStopMs = config.seconds * 1000 + 5000;
  const burner = `const end = Date.now() + ${selfStopMs}; while (Date.now() < end) {}`;
  const children = [];
  for (let i = 0; i < config.children; i++) {
    const child = spawn(process.execPath, ['-e', burner], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.once('error', (err) => log(`child error: ${err.message}`));
    children.push({ child, exited });
  }

  await lib.sleep(SETTLE_MS);
  const childPriority = children.map(({ child }) => lib.readProcessPriority(child.pid));
  const childrenCpu = () => children.reduce((sum, { child }) => sum + (lib.readCpuSeconds(child.pid) ?? 0), 0);
  const childCpuAtStart = childrenCpu();
  // CPU used by anything else on the machine (other jobs, hypervisor steal) makes a run suspect.
  const stopOtherCpuWatch = lib.startOtherCpuWatch(() => lib.readCpuSeconds('self') + childrenCpu());
  measuring = true;
  const measuredFrom = performance.now();
  await lib.sleep(config.seconds * 1000 - SETTLE_MS);
  measuring = false;
  const measuredMs = performance.now() - measuredFrom;
  const otherCpu = stopOtherCpuWatch();
  // Cores' worth of CPU the children got while measured: their throughput.
  const childCores = (childrenCpu() - childCpuAtStart) / (measuredMs / 1000);
  // A short command started the same way while they still burn: what a tool call waits.
  const shortCommandMs = [];
  for (let i = 0; spawn && i < SHORT_COMMANDS; i++) {
    const started = performance.now();
    await new Promise((resolve) => {
      const probe = spawn('/bin/true', [], { stdio: 'ignore' });
      probe.once('exit', resolve);
      probe.once('error', resolve);
    });
    shortCommandMs.push(performance.now() - started);
  }

  // The children's CPU time tells whether they really burned.
  const childCpuSeconds = children.map(({ child }) => lib.round(lib.readCpuSeconds(child.pid), 2));
  for (const { child } of children) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
  }
  let killDeadline;
  const exits = await Promise.race([
    Promise.all(children.map((c) => c.exited)),
    new Promise((resolve) => (killDeadline = setTimeout(resolve, 5000, null))),
  ]);
  clearTimeout(killDeadline); // or it would hold the worker open for 5 s
  stopped = true;
  if (config.children > 0 && !exits) throw new Error('children did not exit within 5 s of SIGKILL');

  return {
    library: config.library,
    procguard,
    agentEnv: { CODER_PROC_PRIO_MGMT: process.env.CODER_PROC_PRIO_MGMT ?? null },
    agentPriority: lib.readProcessPriority(process.pid),
    children: config.children,
    childPriority,
    childCpuSeconds,
    childCores: lib.round(childCores, 3),
    shortCommandMs: lib.roundSummary(lib.summarize(shortCommandMs), 2),
    otherCpu,
    measuredMs: lib.round(measuredMs, 0),
    ticks: lagMs.length,
    lagMs: lib.roundSummary(lib.summarize(lagMs), 2),
    workMs: lib.roundSummary(lib.summarize(workMs), 3),
    responseMs: lib.roundSummary(lib.summarize(responseMs), 2),
  };
}

/** What the agent does per tick: serialize and parse a message of `kb` kB, hash `kb` kB. */
function makeTickWork(kb) {
  const message = {
    id: 'msg-0001',
    role: 'tool',
    items: Array.from({ length: Math.max(1, Math.round((kb * 1024) / 80)) }, (_, i) => ({ i, path: `src/file-${i}.ts`, ok: i % 3 === 0 })),
  };
  const payload = crypto.randomBytes(kb * 1024);
  let sink = 0;
  return () => {
    const copy = JSON.parse(JSON.stringify(message));
    const digest = crypto.createHash('sha256').update(payload).digest();
    sink = (sink + copy.items.length + digest[0]) | 0; // keep the work observable
    return sink;
  };
}

const { log } = lib;

// ================================================================ orchestrator

function parseCommandLine() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      children: { type: 'string', default: '4' },
      rounds: { type: 'string' },
      'work-kb': { type: 'string', default: '4,1024' },
      attempts: { type: 'string' },
      'control-only': { type: 'boolean', default: false },
      rows: { type: 'string', default: '3,4,5,6' },
      'procguard-path': { type: 'string' },
      json: { type: 'string' },
      worker: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const seconds = Number(values.seconds ?? (values.quick ? 4 : 9));
  const children = Number(values.children);
  const rounds = Number(values.rounds ?? (values.quick ? 1 : 2));
  const workKbs = values['work-kb'].split(',').map(Number);
  const attempts = Number(values.attempts ?? (values.quick ? 1 : 3));
  // Bounded on purpose: this burns every core of the machine while it runs.
  if (!(seconds >= 2 && seconds <= 60)) throw new Error('--seconds must be 2..60');
  if (!(children >= 1 && children <= 32)) throw new Error('--children must be 1..32');
  if (!(rounds >= 1 && rounds <= 5)) throw new Error('--rounds must be 1..5');
  if (!workKbs.length || workKbs.length > 4 || !workKbs.every((kb) => kb >= 1 && kb <= 4096)) {
    throw new Error('--work-kb must be 1 to 4 sizes of 1..4096');
  }
  if (!(attempts >= 1 && attempts <= 5)) throw new Error('--attempts must be 1..5');
  const rows = values.rows.split(',').map(Number);
  if (!rows.every((row) => row >= 3 && row <= 6)) throw new Error('--rows takes procguard rows 3..6');
  return { ...values, seconds, children, rounds, workKbs, attempts, rows };
}

const fmtMs = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
const fmtRatio = (num, den) => (num > 0 && den > 0 ? `${(num / den).toFixed(1)}x` : 'n/a');

function priorityLabel(run) {
  if (run.children === 0) return '-';
  return [...new Set(run.childPriority.map((p) => `${p.nice} / ${p.oomScoreAdj} / ${p.schedPolicy}`))].join(', ');
}

/** The procguard rows: the environment an operator would set for each. */
const PROCGUARD_ROWS = {
  3: { kind: 'procguard', label: 'CODER_PROC_PRIO_MGMT=1 (nice 5)', env: { CODER_PROC_PRIO_MGMT: '1' } },
  4: { kind: 'nice19', label: '+ CODER_PROC_NICE_SCORE=19', env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_NICE_SCORE: '19' } },
  5: { kind: 'batch', label: '+ CODER_PROC_SCHED_POLICY=batch', env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_SCHED_POLICY: 'batch' } },
  6: { kind: 'idle', label: '+ CODER_PROC_SCHED_POLICY=idle', env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_SCHED_POLICY: 'idle' } },
};

async function main() {
  const options = parseCommandLine();
  if (await lib.handledAsWorkerOrHelp(options, worker, __filename)) return;

  const machine = lib.machineInfo();
  let runProcguard = !options['control-only'];
  let procguardNote = options['control-only'] ? 'skipped (--control-only)' : null;
  if (runProcguard) {
    const pg = lib.loadProcguard(options['procguard-path']);
    if (!pg.module) {
      runProcguard = false;
      procguardNote = `skipped, procguard not loadable: ${pg.error}`;
    }
  }
  const procguardLabel = options['procguard-path'] ? `"procguard" = ${options['procguard-path']}` : 'procguard.spawn';

  // One entry per (workload, run kind); rounds alternate their order so drift favours no one.
  const plan = [];
  for (const workKb of options.workKbs) {
    plan.push({ workKb, kind: 'alone', label: 'agent alone (no children)', library: 'none', children: 0, env: {} });
    plan.push({ workKb, kind: 'child_process', label: 'node:child_process.spawn', library: 'child_process', children: options.children, env: {} });
    if (runProcguard) {
      for (const row of options.rows) {
        const { kind, label, env } = PROCGUARD_ROWS[row];
        plan.push({ workKb, kind, label: `${procguardLabel}, ${label}`, library: 'procguard', children: options.children, env });
      }
    }
  }
  for (const p of plan) p.runs = [];

  log(`agent responsiveness benchmark: ${options.children} CPU-burning children for ${options.seconds} s per run, work ${options.workKbs.join(', ')} kB per tick, ${options.rounds} round(s), ${machine.cores} cores`);
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 ? [...plan].reverse() : plan;
    for (const p of order) {
      log(`  round ${round + 1}: ${p.workKb} kB/tick, ${p.label}`);
      const result = await lib.runWorkerUndisturbed(
        {
          script: __filename,
          config: { library: p.library, children: p.children, seconds: options.seconds, workKb: p.workKb, procguardPath: options['procguard-path'] ?? null },
          // Without this the agent would inherit CODER_PROC_PRIO_MGMT from whoever runs the benchmark.
          env: { CODER_PROC_PRIO_MGMT: undefined, CODER_PROC_NICE_SCORE: undefined, CODER_PROC_SCHED_POLICY: undefined, ...p.env },
          timeoutMs: options.seconds * 1000 + 30_000,
        },
        { attempts: options.attempts, maxOtherShare: OTHER_CPU_WARN_SHARE, maxWaitMs: options.quick ? 10_000 : 60_000 },
      );
      p.runs.push(result);
    }
  }

  // With several rounds, each cell is the median of that statistic over the rounds.
  const combine = (runs, pick) => lib.summarize(runs.map(pick)).median;
  const rows = plan.map((p) => ({
    workKb: p.workKb,
    kind: p.kind,
    library: p.library,
    label: p.label,
    priority: priorityLabel(p.runs[0]),
    lagP50: combine(p.runs, (r) => r.lagMs.median),
    lagP99: combine(p.runs, (r) => r.lagMs.p99),
    lagMax: combine(p.runs, (r) => r.lagMs.max),
    workP50: combine(p.runs, (r) => r.workMs.median),
    responseP99: combine(p.runs, (r) => r.responseMs.p99),
    ticks: combine(p.runs, (r) => r.ticks),
    childCores: combine(p.runs, (r) => r.childCores),
    shortP50: combine(p.runs, (r) => r.shortCommandMs.median),
    shortMax: combine(p.runs, (r) => r.shortCommandMs.max),
  }));

  const lines = [];
  lines.push(`### Agent event-loop lag with ${options.children} CPU-burning children (${TICK_MS} ms timer; ms)`);
  lines.push('');
  lines.push(`${machine.cpuModel}, ${machine.cores} cores, ${machine.kernel}, Node ${machine.node}; agent nice ${machine.agentNice}; ` +
    `${options.seconds} s per run (${options.seconds - SETTLE_MS / 1000} s measured)${options.rounds > 1 ? `, median of ${options.rounds} rounds` : ''}`);
  lines.push('');
  lines.push(lib.markdownTable(
    ['agent work per tick', 'children spawned by', 'children nice / oom_score_adj / policy', 'lag p50', 'lag p99', 'lag max', 'work p50', 'response p99', 'ticks',
      'children CPU (cores)', '/bin/true p50', '/bin/true max'],
    rows.map((r) => [
      `${r.workKb} kB`, r.label, r.priority,
      fmtMs(r.lagP50), fmtMs(r.lagP99), fmtMs(r.lagMax), fmtMs(r.workP50), fmtMs(r.responseP99), Math.round(r.ticks),
      r.kind === 'alone' ? '-' : r.childCores.toFixed(2), r.kind === 'alone' ? '-' : fmtMs(r.shortP50), r.kind === 'alone' ? '-' : fmtMs(r.shortMax),
    ]),
    ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  ));
  lines.push('');
  for (const workKb of options.workKbs) {
    const control = rows.find((r) => r.workKb === workKb && r.kind === 'child_process');
    for (const guarded of rows.filter((r) => r.workKb === workKb && r.library !== 'none' && r.kind !== 'child_process')) {
      lines.push(`- ${workKb} kB/tick, child_process / ${guarded.label.replace(/^.*?, /, '')}: lag p50 ${fmtRatio(control.lagP50, guarded.lagP50)}, ` +
        `lag p99 ${fmtRatio(control.lagP99, guarded.lagP99)}, lag max ${fmtRatio(control.lagMax, guarded.lagMax)}, ` +
        `response p99 ${fmtRatio(control.responseP99, guarded.responseP99)} (lag p99 ${guarded.lagP99 < control.lagP99 ? 'lower' : 'NOT lower'}); ` +
        `children keep ${control.childCores > 0 ? Math.round((100 * guarded.childCores) / control.childCores) : 'n/a'}% of their CPU`);
    }
  }
  if (!runProcguard) lines.push(`procguard run ${procguardNote}.`);
  lines.push('');
  lines.push('lag: how late the timer fired. work: wall time of the tick\'s work (stretches when the agent is preempted). ' +
    'response: from when the tick was due to when its work was done. ticks: ticks completed while measured. ' +
    'children CPU: cores\' worth of CPU the children got while measured (their throughput). ' +
    `/bin/true: spawn to exit of ${SHORT_COMMANDS} short commands started the same way while the children burn (what a tool call waits).`);
  // Other sessions on a shared machine distort the numbers; say so instead of hiding it.
  for (const p of plan) {
    p.runs.forEach((r, i) => {
      if (r.otherCpu.share > OTHER_CPU_WARN_SHARE || r.otherCpu.stealSeconds > OTHER_CPU_WARN_SHARE * r.otherCpu.capacitySeconds) {
        lines.push(`WARNING: ${p.workKb} kB/tick, ${p.label}, round ${i + 1}: other processes used ${(100 * r.otherCpu.share).toFixed(0)}% of the CPU (steal ${r.otherCpu.stealSeconds} s) while measuring; rerun on a quiet machine.`);
      }
    });
  }
  console.log(lines.join('\n'));

  if (options.json) {
    const results = {
      benchmark: 'agent-responsiveness',
      date: new Date().toISOString(),
      options: { seconds: options.seconds, children: options.children, rounds: options.rounds, attempts: options.attempts, workKb: options.workKbs, controlOnly: options['control-only'], procguardPath: options['procguard-path'] ?? null },
      machine,
      procguardNote,
      runs: plan.map((p) => ({ workKb: p.workKb, kind: p.kind, label: p.label, env: p.env, runs: p.runs })),
      table: rows,
    };
    fs.mkdirSync(path.dirname(path.resolve(options.json)), { recursive: true });
    fs.writeFileSync(options.json, JSON.stringify(results, null, 2) + '\n');
    log(`wrote ${options.json}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
