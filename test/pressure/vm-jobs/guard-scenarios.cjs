// VM job: the guard's scenarios on a pure cgroup v2 kernel (test/pressure/vm-guard.test.ts
// asserts on them). Each runs the guard agent (test/fixtures/guard-agent.cjs) in a cgroup shaped
// like a real deployment, with and without the guard, and prints one
// `PROCGUARD-RESULT {"kind":"guard","name":...}` line with what the agent, the cgroup's counters
// and the kernel's log say.
//
// Reusable: require() it and call runGuardScenario(name, { guard, cgroupDir }) to run one
// scenario elsewhere (inside a runc container: pass the container's own cgroup as cgroupDir and
// makeCgroup: false). This process is the harness: oom_score_adj -1000, never a subject.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = process.env.PROCGUARD_ROOT || path.resolve(__dirname, '..', '..', '..');
const HERE = __dirname;
const fixture = (name) => (fs.existsSync(path.join(HERE, name)) ? path.join(HERE, name) : path.join(ROOT, 'test', 'fixtures', name));
const AGENT = fixture('guard-agent.cjs');
const BALLOON = fixture('guard-balloon.cjs');
const { kernelLogCursor, readOomKillsSince } = require(path.join(ROOT, 'dist/cjs/kernel-log.js'));
const { launchInCgroup } = require(path.join(ROOT, 'dist/cjs/pressure/launcher.js'));
const MB = 2 ** 20;

const balloon = (name, plan, options = {}) => ({
  name,
  command: process.execPath,
  args: [BALLOON, JSON.stringify(plan)],
  options,
  ready: 'BALLOON {"event":"started"',
});

/**
 * The scenarios: the cgroup the agent runs in (null: none, the machine) and the agent's plan
 * without its guard options (given per run).
 */
const SCENARIOS = {
  // A Kubernetes container: memory.max 400M, memory.oom.group=1, no swap. A child balloons.
  groupKill: {
    cgroup: { 'memory.max': String(400 * MB), 'memory.swap.max': '0', 'memory.oom.group': '1' },
    plan: { children: [balloon('balloon', { targetMb: 2048 })], afterFirstKillMs: 1000, maxMs: 60_000 },
  },
  // The seed's livelock (../shared/reference/003): memory.high 300M below memory.max 600M, no
  // swap; the child grows to 400 MB and keeps touching it; the agent allocates on a 20 ms timer.
  livelock: {
    cgroup: { 'memory.high': String(300 * MB), 'memory.max': String(600 * MB), 'memory.swap.max': '0' },
    plan: {
      children: [balloon('balloon', { targetMb: 400, retouch: true })],
      lag: { intervalMs: 20, allocBytes: 64 * 1024 },
      maxMs: 100_000,
    },
    // The control must really run 20 s in the band (counted from the agent's first sight of
    // memory.events high > 0); with the guard, 6 s after the kill (5 s measured).
    control: { endAfterBandMs: 20_000 },
    guarded: { afterFirstKillMs: 6000 },
  },
  // The machine running out, no cgroup limit: a child that ignores SIGTERM and then holds.
  machine: {
    cgroup: null,
    plan: { children: [balloon('balloon', { targetMb: 2048, onSigterm: 'hold' })], afterFirstKillMs: 4000, maxMs: 60_000 },
  },
};

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function keyed(text) {
  const out = {};
  for (const line of (text || '').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** Makes the scenario's cgroup under `parent` (v2 with the memory controller given to children). */
function makeCgroup(name, files, parent = '/sys/fs/cgroup') {
  const dir = path.join(parent, `pg-guard-${name}-${process.pid}`);
  fs.mkdirSync(dir);
  // memory.max last: a limit below what is already charged would OOM at once.
  for (const [file, value] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), value);
  return dir;
}

/** Kills what is left in the cgroup (all of it started by this run) and removes it. */
async function removeCgroup(dir) {
  for (let i = 0; i < 100; i++) {
    const pids = (read(path.join(dir, 'cgroup.procs')) || '').split('\n').filter(Boolean).map(Number);
    if (pids.length === 0) break;
    try {
      fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
    } catch {
      for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch {}
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    fs.rmdirSync(dir);
  } catch {}
}

/**
 * Runs the guard agent with `plan` in `cgroupDir` (null: where this process is), oom_score_adj 0.
 * Meanwhile samples the cgroup from outside every 50 ms: when its memory.current first passed
 * memory.high, and the balloon's disappearance.
 */
async function runAgent(plan, cgroupDir) {
  const launch = launchInCgroup(cgroupDir ? path.join(cgroupDir, 'cgroup.procs') : null, [process.execPath, AGENT, JSON.stringify(plan)]);
  const child = spawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  // enteredBandAtEpochMs: when memory.current first passed memory.high, on the clock of Date.now().
  const outside = { enteredBandAtEpochMs: null, peakBytes: 0 };
  const high = cgroupDir ? Number(read(path.join(cgroupDir, 'memory.high'))) : NaN;
  const sampler = setInterval(() => {
    if (!cgroupDir) return;
    const current = Number(read(path.join(cgroupDir, 'memory.current')));
    if (current > outside.peakBytes) outside.peakBytes = current;
    if (outside.enteredBandAtEpochMs === null && Number.isFinite(high) && current > high) outside.enteredBandAtEpochMs = Date.now();
  }, 50);
  // The agent ends itself at plan.maxMs. One that has not closed well after that is stuck: record
  // where every process of the scenario is in the kernel, end them, and let the next scenario run
  // (one stuck scenario must not use up the whole VM's time and hide the others' results).
  let stuck = null;
  const deadline = setTimeout(() => {
    stuck = whereStuck(child.pid, cgroupDir);
    endStuck(child.pid, cgroupDir);
  }, (plan.maxMs ?? 60_000) + STUCK_AFTER_MAX_MS);
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(deadline);
  clearInterval(sampler);
  const line = stdout.split('\n').find((l) => l.startsWith('CGROUP_AGENT '));
  return { agentPid: child.pid, code, signal, result: line ? JSON.parse(line.slice('CGROUP_AGENT '.length)) : null, outside, stuck, stdoutTail: stdout.slice(-2000) };
}

/** How long past its own maxMs an agent may take to report and exit before it counts as stuck. */
const STUCK_AFTER_MAX_MS = 30_000;

/** The agent and every process below it: pid to parent pid, from /proc. */
function processTree(rootPid) {
  const parents = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (stat) parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const tree = [rootPid];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** Where each process of a stuck scenario is: its state, wait channel and kernel stack, and the memory around it. */
function whereStuck(agentPid, cgroupDir) {
  const processes = processTree(agentPid).map((pid) => {
    const stat = read(`/proc/${pid}/stat`) || '';
    return { pid, comm: read(`/proc/${pid}/comm`), state: stat.slice(stat.lastIndexOf(')') + 2)[0], wchan: read(`/proc/${pid}/wchan`), stack: read(`/proc/${pid}/stack`) };
  });
  const memory = cgroupDir
    ? Object.fromEntries(['memory.current', 'memory.events', 'memory.pressure', 'cgroup.procs'].map((f) => [f, read(path.join(cgroupDir, f))]))
    : {};
  return { processes, memory, meminfo: (read('/proc/meminfo') || '').split('\n').slice(0, 3).join('; '), pressure: read('/proc/pressure/memory') };
}

/** Ends a stuck scenario: its cgroup as a whole, else the agent's tree (all started by this run). */
function endStuck(agentPid, cgroupDir) {
  if (cgroupDir) try { fs.writeFileSync(path.join(cgroupDir, 'cgroup.kill'), '1'); } catch {}
  for (const pid of processTree(agentPid)) try { process.kill(pid, 'SIGKILL'); } catch {}
}

/**
 * One scenario, with the guard (its options) or without (guard: null). makeCgroup false: the
 * agent runs in cgroupDir as it is (a container's own cgroup, limits set by whoever made it).
 */
async function runGuardScenario(name, { guard = null, cgroupDir = null, makeCgroup: make = true } = {}) {
  const scenario = SCENARIOS[name];
  const started = Date.now();
  const cursor = kernelLogCursor();
  const dir = scenario.cgroup && make ? makeCgroup(name, scenario.cgroup) : cgroupDir;
  try {
    const plan = { ...scenario.plan, ...(guard ? scenario.guarded : scenario.control), guard };
    const run = await runAgent(plan, dir);
    if (run.stuck) throw Object.assign(new Error(`the agent had not ended ${STUCK_AFTER_MAX_MS} ms after its maxMs ${plan.maxMs}: ${JSON.stringify(run.stuck)}`), { run });
    const events = dir ? keyed(read(path.join(dir, 'memory.events'))) : null;
    const kernelKills = readOomKillsSince(cursor);
    return { name, guarded: !!guard, ms: Date.now() - started, cgroup: dir, cgroupFiles: scenario.cgroup, memoryEvents: events, kernelKills, ...run };
  } finally {
    if (dir && make) await removeCgroup(dir);
  }
}

module.exports = { SCENARIOS, runGuardScenario, makeCgroup, removeCgroup };

if (require.main === module) {
  const result = (value) => process.stdout.write(`PROCGUARD-RESULT ${JSON.stringify({ kind: 'guard', ...value })}\n`);
  (async () => {
    fs.writeFileSync('/proc/self/oom_score_adj', '-1000');
    const runs = JSON.parse(process.argv[2] || '[]');
    for (const { name, guard } of runs) {
      // Where the job was, should the VM end before the result line (its output is the test's message).
      process.stderr.write(`guard scenario ${name} (${guard ? 'guarded' : 'control'}) starts at uptime ${fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]} s\n`);
      try {
        result(await runGuardScenario(name, { guard }));
      } catch (err) {
        result({ name, guarded: !!guard, error: String(err && err.stack) });
      }
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
