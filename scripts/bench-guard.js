#!/usr/bin/env node
'use strict';
// `node scripts/bench-guard.js [--quiet-seconds 60] [--runs 10] [--json]` (root: it makes memory cgroups)
//
// The guard's two costs, as a table:
//   - CPU of its native thread over a quiet minute: an agent in a 400 MiB memory cgroup with the
//     guard on and one idle child, nothing happening (target: under 0.1% of one core). Read from
//     the thread's own CPU clock (guardSnapshot().cpuMicros), so the agent's other threads do not count.
//   - Reaction time: a child balloons in that cgroup; the time from the moment its usage crossed
//     the threshold (the balloon reads memory.usage_in_bytes / memory.current after every 8 MiB
//     and notes the first crossing on CLOCK_MONOTONIC) to the guard's SIGKILL (the kill event's
//     signaledAtMs, the same clock). Target: under 100 ms when sampling, under 20 ms with a PSI
//     trigger. The PSI trigger watches the memory.high band, which needs the cgroup v2 memory
//     controller: on a host without it (cgroup v1 memory) that row says so; the VM's livelock
//     test reports the trigger's reaction (test/pressure/vm-guard.test.ts, PROCGUARD_VM_VERBOSE=1).
//
// Never runs a balloon outside a memory cgroup: the balloon checks its confinement first.
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { REPO_ROOT, log, markdownTable, machineInfo, summarize, roundSummary, sleep } = require('./bench-lib');

const MiB = 2 ** 20;
const LIMIT = 400 * MiB;
const THRESHOLD = 64 * MiB;

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

// ---------------------------------------------------------------- workers (run inside the cgroup)

/**
 * A balloon: 8 MiB per step. After each step it reads its cgroup's usage and prints `BELOW <ms>`
 * while it is under limit - threshold, then `CROSSED <ms>` once. The crossing came after the last
 * BELOW (the guard may kill it before it reads again): that time is the start of the reaction,
 * which so counts up to one step too much, never too little.
 */
function balloonWorker(usageFile, crossAt) {
  const { checkMemoryConfinement } = require(path.join(REPO_ROOT, 'dist/cjs/pressure/confinement.js'));
  const confinement = checkMemoryConfinement();
  if (!confinement.confined) {
    fs.writeSync(1, `REFUSED ${confinement.reason}\n`);
    process.exit(3);
  }
  const held = [];
  let crossed = false;
  for (let mb = 0; mb < 2048; mb += 8) {
    held.push(Buffer.allocUnsafeSlow(8 * MiB).fill(0xa5));
    if (crossed) continue;
    const now = Number(process.hrtime.bigint()) / 1e6;
    crossed = Number(fs.readFileSync(usageFile, 'utf8')) > crossAt;
    fs.writeSync(1, `${crossed ? 'CROSSED' : 'BELOW'} ${now}\n`);
  }
}

function procguard() {
  return require(REPO_ROOT);
}

async function quietWorker(seconds) {
  const pg = procguard();
  const g = pg.guard();
  const idle = pg.spawn('sleep', [String(seconds + 30)], { stdio: 'ignore' });
  await sleep(1000); // past the start
  const before = g.snapshot();
  await sleep(seconds * 1000);
  const after = g.snapshot();
  idle.kill('SIGKILL');
  g.stop();
  return {
    seconds: (after.nowMicros - before.nowMicros) / 1e6,
    cpuMicros: after.cpuMicros - before.cpuMicros,
    samples: after.samples - before.samples,
    intervalMs: after.intervalMs,
    locked: after.locked,
    watches: pg.status().guard.watches.map((w) => w.what),
  };
}

async function reactionWorker(runs, usageFile, limit) {
  const pg = procguard();
  // One threshold for SIGTERM and SIGKILL: the first action is the SIGKILL being timed.
  const g = pg.guard({ headroom: THRESHOLD, headroomKill: THRESHOLD, cooldownMs: 0 });
  const results = [];
  for (let i = 0; i < runs; i++) {
    const kill = new Promise((resolve) => g.once('kill', resolve));
    const child = pg.spawn(process.execPath, [__filename, '--worker', 'balloon', usageFile, String(limit - THRESHOLD)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const closed = new Promise((resolve) => child.on('close', resolve));
    const event = await kill;
    await closed;
    const below = [...out.matchAll(/BELOW ([\d.]+)/g)].pop();
    // The last time it was still below: the crossing came after it (within one 8 MiB step).
    const crossed = Number(below?.[1]);
    results.push({ crossedAtMs: crossed, detectedAtMs: event.detectedAtMs, signaledAtMs: event.signaledAtMs, signal: event.signal, pid: event.pid, child: child.pid });
    await sleep(300);
  }
  g.stop();
  return results;
}

// ---------------------------------------------------------------- the harness

function createCgroup() {
  const { createMemoryCgroup } = require(path.join(REPO_ROOT, 'dist/cjs/pressure/memory-cgroup.js'));
  return createMemoryCgroup({ limitBytes: LIMIT, name: 'procguard-bench-guard' });
}

/** Runs this script's `worker` inside `cgroup` (oom_score_adj 0, as an agent starts) and returns the JSON it prints. */
function runInCgroup(cgroup, worker, args) {
  const { launchInCgroup } = require(path.join(REPO_ROOT, 'dist/cjs/pressure/launcher.js'));
  const launch = launchInCgroup(cgroup.procsFile, [process.execPath, __filename, '--worker', worker, ...args]);
  return new Promise((resolve, reject) => {
    const child = spawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) reject(new Error(`worker ${worker} printed no result (exit ${code}): ${out}`));
      else resolve(JSON.parse(line.slice(7)));
    });
  });
}

async function main() {
  if (process.argv[2] === '--worker') {
    const [, , , worker, ...rest] = process.argv;
    if (worker === 'balloon') return balloonWorker(rest[0], Number(rest[1]));
    const result = worker === 'quiet' ? await quietWorker(Number(rest[0])) : await reactionWorker(Number(rest[0]), rest[1], Number(rest[2]));
    fs.writeSync(1, `RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  }
  const quietSeconds = Number(arg('--quiet-seconds', '60'));
  const runs = Number(arg('--runs', '10'));
  const info = machineInfo();
  log(`bench-guard: ${info.cpuModel} x${info.cores}, ${info.kernel}, node ${info.node}, load ${info.loadAverage.join(' ')}`);

  const cgroup = createCgroup();
  const usageFile = path.join(cgroup.dir, cgroup.version === 2 ? 'memory.current' : 'memory.usage_in_bytes');
  let quiet;
  let reaction;
  try {
    log(`quiet: ${quietSeconds} s in a ${LIMIT / MiB} MiB memory cgroup v${cgroup.version}, one idle child`);
    quiet = await runInCgroup(cgroup, 'quiet', [String(quietSeconds)]);
    log(`reaction: ${runs} balloons, threshold ${THRESHOLD / MiB} MiB of headroom`);
    reaction = await runInCgroup(cgroup, 'reaction', [String(runs), usageFile, String(LIMIT)]);
  } finally {
    await cgroup.remove(10_000).catch((err) => log(`could not remove ${cgroup.dir}: ${err.message}`));
  }

  const cpuPercent = (100 * quiet.cpuMicros) / (quiet.seconds * 1e6);
  const total = summarize(reaction.map((r) => r.signaledAtMs - r.crossedAtMs));
  const detect = summarize(reaction.map((r) => r.detectedAtMs - r.crossedAtMs));
  const act = summarize(reaction.map((r) => r.signaledAtMs - r.detectedAtMs));
  const rows = [
    ['guard thread CPU, quiet', `${quiet.seconds.toFixed(1)} s, ${quiet.samples} samples, interval ${quiet.intervalMs} ms`, `${cpuPercent.toFixed(4)}% of a core (${(quiet.cpuMicros / 1000).toFixed(1)} ms)`, '< 0.1%', cpuPercent < 0.1 ? 'yes' : 'NO'],
    ['reaction, sampling: crossed -> SIGKILL', `${runs} runs`, `median ${total.median.toFixed(1)} ms, p90 ${total.p90.toFixed(1)}, max ${total.max.toFixed(1)}`, '< 100 ms', total.max < 100 ? 'yes' : 'NO'],
    ['  of which crossed -> seen', '', `median ${detect.median.toFixed(1)} ms, max ${detect.max.toFixed(1)}`, '', ''],
    ['  of which seen -> SIGKILL sent', '', `median ${act.median.toFixed(2)} ms, max ${act.max.toFixed(2)}`, '', ''],
    ['reaction, PSI trigger', 'needs the cgroup v2 memory controller', cgroup.version === 2 ? 'see the VM livelock test' : 'n/a on this host (cgroup v1 memory)', '< 20 ms', ''],
  ];
  process.stdout.write(`\n${markdownTable(['measure', 'setup', 'result', 'target', 'met'], rows)}\n`);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ quiet, reaction, summary: { cpuPercent, total: roundSummary(total, 2) } }, null, 1)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench-guard: ${err.stack}\n`);
  process.exit(1);
});
