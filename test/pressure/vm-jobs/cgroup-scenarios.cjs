// VM job: the per-child cgroup scenarios (options.cgroup) on a pure cgroup v2 kernel. Run by
// memory-scenarios.cjs after its own scenarios, in the same boot. Prints one
// `PROCGUARD-RESULT {"kind":"cgroup","name":...}` line per scenario with what it observed;
// test/pressure/vm-cgroup.ts asserts on them.
//
// This process is the harness (oom_score_adj -1000, inherited from memory-scenarios.cjs): every
// balloon is spawned with an explicit oom_score_adj, every agent through a shell that resets its
// own to 0. The balloon (test/fixtures/cgroup-balloon.cjs) stops at 2 GB whatever happens.
'use strict';
const { spawn: nodeSpawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pg = require('procguard');
const { launchInCgroup } = require(path.join(process.env.PROCGUARD_ROOT || path.resolve(__dirname, '..', '..', '..'), 'dist/cjs/pressure/launcher.js'));

const HERE = __dirname;
const BALLOON = path.join(HERE, 'cgroup-balloon.cjs');
const AGENT = path.join(HERE, 'cgroup-agent.cjs');
const FORK_MANY = path.join(HERE, 'cgroup-fork-many.cjs');
const ROOT = '/sys/fs/cgroup';
const MB = 2 ** 20;

const logs = [];
pg.configure({
  logger: {
    info: (message, fields) => logs.push({ level: 'info', message, fields }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
  },
});

function result(name, value) {
  process.stdout.write(`PROCGUARD-RESULT ${JSON.stringify({ kind: 'cgroup', name, ...value })}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > end) return false;
    await sleep(20);
  }
}

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    return `<${err.code}>`;
  }
}

function running(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function killIfRunning(pids) {
  for (const pid of pids) if (running(pid)) process.kill(pid, 'SIGKILL'); // started by this job
}

function procguardDirsOf(pid, parent = ROOT) {
  return fs.readdirSync(parent).filter((e) => new RegExp(`^procguard-${pid}-\\d+$`).test(e)).map((e) => path.join(parent, e));
}

function cgroupView(cgroup) {
  return cgroup ? { dirs: cgroup.dirs, v2Dir: cgroup.v2Dir ?? null, memory: cgroup.memory ?? null } : null;
}

/** Runs a child to its exit: code, signal, its stdout, its balloon lines, and what procguard said. */
async function finish(child, timeoutMs = 60_000) {
  let stdout = '';
  if (child.stdout) child.stdout.on('data', (d) => (stdout += d));
  const [code, signal] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    child.on('error', reject);
    child.on('exit', (c, s) => {
      clearTimeout(timer);
      resolve([c, s]);
    });
  });
  if (child.stdout && !child.stdout.readableEnded) await Promise.race([new Promise((r) => child.stdout.on('end', r)), sleep(1000)]);
  const balloon = stdout.split('\n').filter((l) => l.startsWith('BALLOON ')).map((l) => JSON.parse(l.slice(8)));
  return { pid: child.pid, code, signal, stdout, balloon, oomKill: child.oomKill ?? null, resourceUsage: child.resourceUsage ?? null, cgroup: cgroupView(child.cgroup) };
}

function balloon(plan, options) {
  return pg.spawn(process.execPath, [BALLOON, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'], oomScoreAdj: 0, ...options });
}

/** The memory files of a child's cgroup, read while it runs. */
function memoryFiles(child) {
  const dir = child.cgroup.memory.dir;
  const out = {};
  for (const f of ['memory.max', 'memory.swap.max', 'memory.high', 'memory.oom.group']) out[f] = read(path.join(dir, f));
  out.procCgroup = read(`/proc/${child.pid}/cgroup`);
  return out;
}

/** The cgroup agent (test/fixtures/cgroup-agent.cjs) in `cgroupDir` (or this job's cgroup), oom_score_adj 0. */
async function runAgent(plan, cgroupDir) {
  const launch = launchInCgroup(cgroupDir ? path.join(cgroupDir, 'cgroup.procs') : null, [process.execPath, AGENT, JSON.stringify(plan)]);
  const child = nodeSpawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  const line = stdout.split('\n').find((l) => l.startsWith('CGROUP_AGENT '));
  if (!line) throw new Error(`the agent printed no result (${code ?? signal}): ${stdout}`);
  return { code, signal, result: JSON.parse(line.slice('CGROUP_AGENT '.length)) };
}

const scenarios = {
  // A balloon over its 64M cap, with a grandchild forked first: both go (memory.oom.group 1).
  async cap() {
    const child = balloon({ grandchildren: 1 }, { cgroup: { memoryMax: '64M' } });
    const files = memoryFiles(child);
    const run = await finish(child);
    const grandchildren = run.balloon.find((e) => e.event === 'started')?.grandchildren ?? [];
    const grandchildrenGone = await waitFor(() => grandchildren.every((p) => !running(p)));
    killIfRunning(grandchildren);
    const removed = await waitFor(() => run.cgroup.dirs.every((d) => !fs.existsSync(d)));
    return { ...run, stdout: undefined, files, grandchildren, grandchildrenGone, removed };
  },

  // oomGroup: false: the kernel kills the balloon only; its grandchild lives on.
  async oomGroupFalse() {
    const child = balloon({ grandchildren: 1 }, { cgroup: { memoryMax: '64M', oomGroup: false } });
    const files = memoryFiles(child);
    const run = await finish(child);
    const grandchildren = run.balloon.find((e) => e.event === 'started')?.grandchildren ?? [];
    await sleep(500);
    const grandchildrenAlive = grandchildren.filter(running);
    const dirExistsWhileGrandchildLives = fs.existsSync(run.cgroup.dirs[0]);
    killIfRunning(grandchildren);
    const removedAfterGrandchild = await waitFor(() => run.cgroup.dirs.every((d) => !fs.existsSync(d)));
    return { ...run, stdout: undefined, files, grandchildren, grandchildrenAlive, dirExistsWhileGrandchildLives, removedAfterGrandchild };
  },

  // A shell whose command is OOM-killed at the cap: memory.oom.group takes the shell and its sleep too.
  async shell() {
    const script = `sleep 60 & echo "BALLOON {\\"event\\":\\"sleeper\\",\\"pid\\":$!}"; "${process.execPath}" "${BALLOON}" '{}'; exit $?`;
    const run = await finish(pg.spawn('sh', ['-c', script], { cgroup: { memoryMax: '64M' }, oomScoreAdj: 0, stdio: ['ignore', 'pipe', 'inherit'] }));
    const sleeper = run.balloon.find((e) => e.event === 'sleeper')?.pid;
    const sleeperGone = await waitFor(() => !running(sleeper));
    killIfRunning([sleeper]);
    return { ...run, stdout: undefined, sleeper, sleeperGone };
  },

  async killTree() {
    const child = pg.spawn('sh', ['-c', 'sleep 60 & sleep 60 & echo started; wait'], { cgroup: { memoryMax: '64M' }, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r));
    const pids = read(path.join(child.cgroup.v2Dir, 'cgroup.procs')).split('\n').map(Number);
    child.killTree();
    const run = await finish(child);
    const gone = await waitFor(() => pids.every((p) => !running(p)));
    killIfRunning(pids);
    const removed = await waitFor(() => run.cgroup.dirs.every((d) => !fs.existsSync(d)));
    return { ...run, stdout: undefined, shellPid: child.pid, pids, gone, removed };
  },

  async usageMemory() {
    const run = await finish(balloon({ touchMb: 300 }, { cgroup: { memoryMax: '1G' } }));
    return { ...run, stdout: undefined };
  },

  async usageCpu() {
    const burn = 'let x = 0; const t = process.cpuUsage(); do { for (let i = 0; i < 1e6; i++) x += i; } while (process.cpuUsage(t).user < 500000);';
    const run = await finish(pg.spawn(process.execPath, ['-e', burn], { cgroup: { cpuWeight: 100 } }));
    return { ...run, stdout: undefined };
  },

  async pidsMax() {
    const child = pg.spawn(process.execPath, [FORK_MANY], { cgroup: { pidsMax: 20 }, stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise((resolve) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out);
      });
    });
    const dir = child.cgroup.dirs[0];
    const pids = { max: read(path.join(dir, 'pids.max')), current: Number(read(path.join(dir, 'pids.current'))) };
    child.killTree();
    const run = await finish(child);
    return { ...run, stdout: undefined, outcome: JSON.parse(line.trim().slice('FORK_MANY '.length)), pids };
  },

  async cpuWeight() {
    const child = pg.spawn('sleep', ['30'], { cgroup: { cpuWeight: 50 } });
    const weight = read(path.join(child.cgroup.dirs[0], 'cpu.weight'));
    child.kill('SIGKILL');
    await finish(child);
    return { weight };
  },

  async sync() {
    const r = pg.spawnSync(process.execPath, [BALLOON, '{}'], { cgroup: { memoryMax: '64M' }, oomScoreAdj: 0, stdio: ['ignore', 'pipe', 'inherit'] });
    return { status: r.status, signal: r.signal, oomKill: r.oomKill ?? null, resourceUsage: r.resourceUsage ?? null, keys: Object.keys(r).sort() };
  },

  async killNine() {
    const withCgroup = pg.spawn('sleep', ['30'], { cgroup: { memoryMax: '64M' } });
    const without = pg.spawn('sleep', ['30']);
    await Promise.all([withCgroup, without].map((c) => new Promise((r) => c.once('spawn', r))));
    withCgroup.kill('SIGKILL');
    without.kill('SIGKILL');
    const [a, b] = await Promise.all([finish(withCgroup), finish(without)]);
    return { withCgroup: { ...a, stdout: undefined }, without: { ...b, stdout: undefined } };
  },

  async leftovers200() {
    const started = Date.now();
    const made = [];
    let missingAtSpawn = 0;
    for (let batch = 0; batch < 10; batch++) {
      // No pipes: under emulation they cost more than the rest of a spawn.
      const children = Array.from({ length: 20 }, () => pg.spawn('true', [], { stdio: 'ignore', cgroup: { memoryMax: '64M', pidsMax: 16, cpuWeight: 100 } }));
      for (const c of children) {
        if (!c.cgroup.dirs.every((d) => fs.existsSync(d))) missingAtSpawn++;
        made.push(...c.cgroup.dirs);
      }
      await Promise.all(children.map((c) => finish(c)));
    }
    const spawnMs = Date.now() - started;
    const removed = await waitFor(() => made.every((d) => !fs.existsSync(d)));
    return { made: made.length, distinct: new Set(made).size, missingAtSpawn, removed, left: made.filter((d) => fs.existsSync(d)), spawnMs };
  },

  // Agent A is SIGKILLed while its child runs (no exit hook): its cgroup stays once the child is
  // gone. Agent B's first cgroup spawn removes it; B exits straight from its last child's 'exit'
  // (no timer gets to run) and leaves none of its own.
  async agents() {
    const a = await runAgent({ spawns: [{ command: 'sleep', args: ['0.3'], options: { cgroup: { memoryMax: '64M' } } }], then: 'sigkill-self' });
    const leftovers = a.result.spawns[0].cgroup.dirs;
    const orphanGone = await waitFor(() => !running(a.result.spawns[0].pid), 5000);
    await sleep(200);
    const leftBeforeNextAgent = leftovers.filter((d) => fs.existsSync(d));
    const spawns = Array.from({ length: 3 }, () => ({ command: 'true', options: { cgroup: { memoryMax: '64M' } } }));
    const b = await runAgent({ spawns, then: 'exit-in-exit-handler' });
    const bDirs = b.result.spawns.flatMap((s) => s.cgroup.dirs);
    return {
      aSignal: a.signal,
      orphanGone,
      leftovers,
      leftBeforeNextAgent,
      leftAfterNextAgent: leftovers.filter((d) => fs.existsSync(d)),
      bCode: b.code,
      bDirs,
      bExisting: bDirs.filter((d) => fs.existsSync(d)),
      bLeft: procguardDirsOf(b.result.pid),
    };
  },

  async errors() {
    const invalid = {};
    for (const [name, cgroup] of Object.entries({ memoryMax: { memoryMax: 'lots' }, pidsMax: { pidsMax: 0 }, cpuWeight: { cpuWeight: '50' } })) {
      try {
        pg.spawn('true', [], { cgroup });
        invalid[name] = 'no error';
      } catch (err) {
        invalid[name] = { code: err.code, message: err.message };
      }
    }
    // Synchronous from configure() to configure(): no other scenario of this job spawns meanwhile.
    const spawns = [];
    const configureErrors = {};
    for (const parent of ['/nonexistent', '/proc']) {
      try {
        pg.configure({ cgroupParent: parent });
        configureErrors[parent] = 'no error';
      } catch (err) {
        configureErrors[parent] = { code: err.code, message: err.message };
      }
    }
    // A parent that was fine at configure() and is gone at the spawn.
    const gone = path.join(ROOT, 'pg-cgtest-gone');
    fs.mkdirSync(gone);
    pg.configure({ cgroupParent: gone });
    fs.rmdirSync(gone);
    try {
      try {
        pg.spawn('true', [], { cgroup: { memoryMax: '64M' } });
        spawns.push({ thrown: null });
      } catch (err) {
        spawns.push({ thrown: { code: err.code, message: err.message } });
      }
      const optional = pg.spawn('true', [], { cgroup: { memoryMax: '64M', required: false } });
      spawns.push(optional);
      const optionalSync = pg.spawnSync('true', [], { cgroup: { memoryMax: '64M', required: false } });
      spawns.push({ status: optionalSync.status, cgroup: optionalSync.cgroup });
    } finally {
      pg.configure({ cgroupParent: undefined });
    }
    const optional = await finish(spawns[1]);
    spawns[1] = { ...optional, stdout: undefined };
    const warnings = logs.filter((l) => l.level === 'warn' && l.message.includes('without its own cgroup'));
    return { invalid, spawns, warnings, configureErrors, gone };
  },

  // The agent confined to 300 MB (memory.max on its cgroup), its child capped at 1G: the ancestor's
  // limit kills it ('system'); a child without its own cgroup too.
  async ancestor() {
    const dir = path.join(ROOT, 'pg-cgtest-agent');
    fs.mkdirSync(dir);
    try {
      fs.writeFileSync(path.join(dir, 'memory.max'), String(300 * MB));
      fs.writeFileSync(path.join(dir, 'memory.oom.group'), '0');
      const run = await runAgent(
        {
          spawns: [
            { command: process.execPath, args: [BALLOON, '{}'], options: { cgroup: { memoryMax: '1G' }, oomScoreAdj: 500 } },
            { command: process.execPath, args: [BALLOON, '{}'], options: { oomScoreAdj: 500 } },
          ],
        },
        dir,
      );
      const left = procguardDirsOf(run.result.pid, dir);
      return { agentCgroup: dir, code: run.code, result: run.result, left };
    } finally {
      // The agent's leaf (procguard-agent-<pid>) and anything left: empty once the agent is gone.
      for (const e of fs.readdirSync(dir)) if (fs.statSync(path.join(dir, e)).isDirectory()) fs.rmdirSync(path.join(dir, e));
      fs.rmdirSync(dir);
    }
  },

  // No ancestor limit and a cap bigger than the VM's RAM: the machine runs out first.
  async global() {
    const run = await finish(balloon({}, { cgroup: { memoryMax: '2G' }, oomScoreAdj: 500 }));
    return { ...run, stdout: undefined, memTotalBytes: require('node:os').totalmem() };
  },
};

async function timed(name) {
  const started = Date.now();
  try {
    result(name, { ...(await scenarios[name]()), ms: Date.now() - started });
  } catch (err) {
    result(name, { error: String(err && err.stack), ms: Date.now() - started });
  }
}

async function inSequence(names) {
  for (const name of names) await timed(name);
}

async function main() {
  const started = Date.now();
  result('environment', { pid: process.pid, oomScoreAdj: read('/proc/self/oom_score_adj'), rootControllers: read(path.join(ROOT, 'cgroup.controllers')) });
  // Two vCPUs of emulation: scenarios that cannot disturb each other run side by side. The
  // ancestor's balloons are bounded by its 300 MB; the small ones by their 64M caps.
  await Promise.all([timed('ancestor'), inSequence(['leftovers200', 'agents', 'errors'])]);
  await Promise.all(['cap', 'oomGroupFalse', 'shell', 'killTree', 'usageCpu', 'pidsMax', 'cpuWeight', 'killNine'].map(timed));
  // One at a time: spawnSync blocks this job; the others need most of the VM's memory.
  await inSequence(['sync', 'usageMemory', 'global']);
  // Every child is gone: after a short wait (removal retries while an exiting task is torn down) none of their cgroups is left.
  await waitFor(() => procguardDirsOf(process.pid).length === 0, 3000);
  result('logs', { logs, left: procguardDirsOf(process.pid), ms: Date.now() - started });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
