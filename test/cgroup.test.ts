// Per-child cgroups (options.cgroup) on this machine: a hybrid host, the memory controller on
// cgroup v1 and a cgroup v2 tree without controllers (PSI, cpu.stat, cgroup.kill, cgroup.freeze).
// The same behaviour on a pure cgroup v2 kernel is proven in the VM (test/pressure/vm-cgroup.ts).
//
// Safety: every balloon (test/fixtures/cgroup-balloon.cjs) runs under a memory cgroup limit (its
// own cap, or the 300 MB cgroup an agent is put in), refuses to start otherwise, and stops at 2 GB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync as nodeSpawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { configure, exec, execFile, execFileSync, execSync, fork, spawn, spawnSync } from 'procguard';
import type { GuardedChildProcess } from 'procguard';
import { FIXTURES } from './helpers/agent';
import { BALLOON, hostCgroups, MB, memoryVersion, procguardDirsOf, readFile, runCgroupAgent, running } from './helpers/cgroup';
import { requireSystem } from './helpers/system';
import { sleep, waitFor } from './helpers/proc';

const cgroups = hostCgroups();
const MEMORY_VERSION = memoryVersion(cgroups);
const REPORT = path.join(FIXTURES, 'cgroup-report.cjs');
const FORK_MANY = path.join(FIXTURES, 'cgroup-fork-many.cjs');
const CLI = path.join(__dirname, '..', 'dist', 'cjs', 'cli', 'main.js');
const { UNTAKEN_MS } = createRequire(__filename)(path.join(__dirname, '..', 'dist', 'cjs', 'cgroup', 'prepared.js')) as { UNTAKEN_MS: number };

const logs: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
configure({
  logger: {
    info: (message, fields) => logs.push({ level: 'info', message, fields }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
  },
});

interface Finished {
  child: GuardedChildProcess;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** The balloon's `BALLOON {json}` lines. */
  balloon: Record<string, any>[];
}

/** Waits for the child's exit (and its pipes, briefly: a grandchild may hold them). */
async function finish(child: GuardedChildProcess, timeoutMs = 30_000): Promise<Finished> {
  let stdout = '';
  child.stdout?.on('data', (d) => (stdout += d));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    child.on('error', reject);
    child.on('exit', (c, s) => {
      clearTimeout(timer);
      resolve([c, s]);
    });
  });
  if (child.stdout && !child.stdout.readableEnded) await Promise.race([new Promise((r) => child.stdout!.on('end', r)), sleep(1000)]);
  const balloon = stdout.split('\n').filter((l) => l.startsWith('BALLOON ')).map((l) => JSON.parse(l.slice(8)));
  return { child, code, signal, stdout, balloon };
}

function balloon(plan: Record<string, unknown>, options: Record<string, unknown>): GuardedChildProcess {
  return spawn(process.execPath, [BALLOON, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'], ...options });
}

function grandchildrenOf(run: Finished): number[] {
  const started = run.balloon.find((e) => e.event === 'started');
  expect(started, `the balloon started: ${run.stdout}`).toBeDefined();
  return started!.grandchildren;
}

function goneSoon(pids: number[], ms = 3000): Promise<boolean> {
  return waitFor(() => pids.every((pid) => !running(pid)), ms);
}

function killIfRunning(pids: number[]): void {
  for (const pid of pids) if (running(pid)) process.kill(pid, 'SIGKILL'); // our own grandchildren
}

/** The cgroup's directories are all gone (removed once the child exited and the cgroup emptied). */
function removedSoon(dirs: string[], ms = 3000): Promise<boolean> {
  return waitFor(() => dirs.every((d) => !fs.existsSync(d)), ms);
}

function dirWith(child: { cgroup: GuardedChildProcess['cgroup'] }, file: string): string {
  const dir = child.cgroup!.dirs.find((d) => fs.existsSync(path.join(d, file)));
  expect(dir, `a cgroup directory of the child with ${file}: ${child.cgroup!.dirs}`).toBeDefined();
  return dir!;
}

beforeAll(() => {
  // Nothing here may skip: this machine is root and has memory cgroups (CI or not).
  expect(process.getuid?.(), 'the cgroup tests run as root').toBe(0);
  expect(MEMORY_VERSION, `a memory controller for child cgroups: ${JSON.stringify([...cgroups.v1])} v2 ${cgroups.v2}`).not.toBeNull();
});

afterAll(async () => {
  // Every cgroup this test process made is gone once its children are.
  expect(await waitFor(() => procguardDirsOf(process.pid).length === 0, 5000), procguardDirsOf(process.pid).join('\n')).toBe(true);
});

describe(`a child's own cgroup on this machine (memory on cgroup v${MEMORY_VERSION}, cgroup v2 at ${cgroups.v2})`, () => {
  it('the child is in its cgroup from its first instruction: /proc/self/cgroup, read by the command itself, names it', () => {
    const result = spawnSync('cat', ['/proc/self/cgroup'], { encoding: 'utf8', cgroup: { memoryMax: '64M' } });
    expect(result.status).toBe(0);
    const cgroup = result.cgroup!;
    expect(cgroup).not.toBeNull();
    expect(cgroup.memory!.version).toBe(MEMORY_VERSION);
    const name = path.basename(cgroup.memory!.dir);
    expect(name).toMatch(new RegExp(`^procguard-${process.pid}-\\d+$`));
    const lines = (result.stdout as string).split('\n');
    if (MEMORY_VERSION === 1) {
      expect(lines.find((l) => /^\d+:memory:/.test(l))).toMatch(new RegExp(`:memory:.*/${name}$`));
      expect(cgroup.v2Dir).toBe(path.join(cgroups.v2!, name));
    }
    if (cgroup.v2Dir) expect(lines.find((l) => l.startsWith('0::'))).toMatch(new RegExp(`^0::.*/${name}$`));
  });

  it('writes the cap before the child runs: memory.limit_in_bytes and memsw (v1) or memory.max and swap 0 (v2), the OOM killer on, never memory.high', async () => {
    const child = spawn('sleep', ['30'], { cgroup: { memoryMax: '64M' } });
    const dir = child.cgroup!.memory!.dir;
    expect(readFile(path.join(dir, 'cgroup.procs')).split('\n').map(Number)).toContain(child.pid);
    if (MEMORY_VERSION === 1) {
      expect(readFile(path.join(dir, 'memory.limit_in_bytes'))).toBe(String(64 * MB));
      expect(readFile(path.join(dir, 'memory.memsw.limit_in_bytes'))).toBe(String(64 * MB));
      expect(readFile(path.join(dir, 'memory.swappiness'))).toBe('0');
      expect(readFile(path.join(dir, 'memory.oom_control'))).toMatch(/^oom_kill_disable 0$/m);
    } else {
      expect(readFile(path.join(dir, 'memory.max'))).toBe(String(64 * MB));
      expect(readFile(path.join(dir, 'memory.swap.max'))).toBe('0');
      expect(readFile(path.join(dir, 'memory.high'))).toBe('max');
      expect(readFile(path.join(dir, 'memory.oom.group'))).toBe('1');
    }
    child.kill('SIGKILL');
    await finish(child);
  });

  it('memorySwapMax adds swap on top of the cap (v1: memsw = memory + swap)', async () => {
    const child = spawn('sleep', ['30'], { cgroup: { memoryMax: '64M', memorySwapMax: '32M' } });
    const dir = child.cgroup!.memory!.dir;
    if (MEMORY_VERSION === 1) expect(readFile(path.join(dir, 'memory.memsw.limit_in_bytes'))).toBe(String(96 * MB));
    else expect(readFile(path.join(dir, 'memory.swap.max'))).toBe(String(32 * MB));
    child.kill('SIGKILL');
    await finish(child);
  });

  const inOwnCgroup = (text: string) => expect(text).toMatch(new RegExp(`/procguard-${process.pid}-\\d+\\n`));

  it('spawn, fork, spawnSync, execSync and execFileSync take the option', async () => {
    const cgroup = { memoryMax: '64M' };
    const viaSpawn = await finish(spawn('cat', ['/proc/self/cgroup'], { cgroup, stdio: ['ignore', 'pipe', 'inherit'] }));
    inOwnCgroup(viaSpawn.stdout);
    const forked = fork(REPORT, [], { cgroup, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] } as object) as GuardedChildProcess;
    expect(forked.cgroup).not.toBeNull();
    inOwnCgroup(await new Promise<string>((resolve) => forked.once('message', (m) => resolve(String(m)))));
    inOwnCgroup(spawnSync('cat', ['/proc/self/cgroup'], { cgroup, encoding: 'utf8' }).stdout as string);
    inOwnCgroup(execSync('cat /proc/self/cgroup', { cgroup, encoding: 'utf8' } as object) as string);
    inOwnCgroup(execFileSync('cat', ['/proc/self/cgroup'], { cgroup, encoding: 'utf8' } as object) as string);
  });

  it('exec and execFile take the option, and validate it', async () => {
    const cgroup = { memoryMax: '64M' };
    const viaExecFile = await new Promise<string>((resolve, reject) =>
      execFile('cat', ['/proc/self/cgroup'], { cgroup } as object, (err, out) => (err ? reject(err) : resolve(String(out)))),
    );
    inOwnCgroup(viaExecFile);
    const viaExec = await new Promise<string>((resolve, reject) => exec('cat /proc/self/cgroup', { cgroup } as object, (err, out) => (err ? reject(err) : resolve(String(out)))));
    inOwnCgroup(viaExec);
    expect(() => exec('true', { cgroup: { memoryMax: 'lots' } } as object)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => execFile('true', [], { cgroup: { memoryMax: 'lots' } } as object)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('joining the cgroup', () => {
  it('puts the child in its cgroup v2 at clone time (clone3 CLONE_INTO_CGROUP) on kernels that have it, and in its v1 memory cgroup before exec', async () => {
    const native = createRequire(__filename)(path.join(process.cwd(), 'dist', 'cjs', 'native.js')).loadNative().binding;
    const original = native.spawn;
    let launched: { intoCgroup?: boolean } | undefined;
    native.spawn = (request: unknown) => (launched = original.call(native, request));
    try {
      const child = spawn('cat', ['/proc/self/cgroup'], { cgroup: { memoryMax: '64M' } });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      await new Promise((resolve) => child.on('close', resolve));
      // This kernel (Linux >= 5.7, cgroup2 mounted) has CLONE_INTO_CGROUP.
      expect(launched?.intoCgroup).toBe(true);
      for (const dir of child.cgroup!.dirs) expect(out).toContain(path.basename(dir));
    } finally {
      native.spawn = original;
    }
  });
});

describe('execFileSync and execSync over the cap', () => {
  it('throw an error that still carries the OOM verdict and the resource usage', () => {
    let thrown: (Error & { signal?: string; oomKill?: { cause: string }; resourceUsage?: { memory_peak_bytes?: number } }) | undefined;
    try {
      execFileSync(process.execPath, [BALLOON, JSON.stringify({})], { cgroup: { memoryMax: '100M' }, stdio: 'ignore' } as object);
    } catch (err) {
      thrown = err as typeof thrown;
    }
    expect(thrown?.signal).toBe('SIGKILL');
    expect(thrown?.oomKill).toMatchObject({ cause: 'cgroup-limit' });
    expect(thrown?.resourceUsage?.memory_peak_bytes).toBeGreaterThan(90 * MB);
    // As on the result: not among the error's own enumerable keys, which stay Node's.
    expect(Object.keys(thrown!)).not.toContain('oomKill');
  });
});

describe('the cap: a balloon over its memoryMax', () => {
  it("is SIGKILLed by the kernel; the verdict is its own cap ('cgroup-limit'), from the kernel's counters", async () => {
    const run = await finish(balloon({}, { cgroup: { memoryMax: '100M' } }));
    expect([run.code, run.signal]).toEqual([null, 'SIGKILL']);
    const usage = run.child.resourceUsage!;
    const verdict = run.child.oomKill!;
    expect(verdict, JSON.stringify(usage)).toMatchObject({ cause: 'cgroup-limit', confidence: 'certain' });
    // The kernel's own line names it (root reads /dev/kmsg).
    expect(verdict.kernelLine).toMatch(new RegExp(`Memory cgroup out of memory: Killed process ${run.child.pid} \\(`));
    expect(verdict.evidence.join('\n')).toContain("its cgroup's memory.events oom_kill is");
    expect(usage.memory_events_oom_kill).toBeGreaterThanOrEqual(1);
    // It was killed at its cap: the peak is the cap (the kernel cannot charge past it).
    expect(usage.memory_peak_bytes).toBeGreaterThan(0.97 * 100 * MB);
    expect(usage.memory_peak_bytes).toBeLessThanOrEqual(100 * MB);
    if (MEMORY_VERSION === 2) {
      expect(usage.memory_events_oom).toBeGreaterThanOrEqual(1);
      expect(usage.memory_events_max).toBeGreaterThanOrEqual(1);
    } else {
      // v1 has no "oom" count; failcnt may not count at all (newer kernels count memsw hits
      // nowhere): never a 0 that says the cap was not hit.
      expect(usage).not.toHaveProperty('memory_events_oom');
      if ('memory_events_max' in usage) expect(usage.memory_events_max).toBeGreaterThanOrEqual(1);
      expect(verdict.evidence.join('\n')).toContain('reached memory.limit_in_bytes');
    }
    // It grew until the kernel stopped it, far from its own 2 GB bound.
    expect(run.balloon.some((e) => e.event === 'done')).toBe(false);
    expect(await removedSoon(run.child.cgroup!.dirs)).toBe(true);
  });

  it('eight balloons OOM-killed at the same time (three rounds): each verdict carries the kernel line of its own kill', async () => {
    for (let round = 0; round < 3; round++) {
      const runs = await Promise.all(Array.from({ length: 8 }, () => finish(balloon({}, { cgroup: { memoryMax: '32M' } }))));
      for (const run of runs) {
        expect(run.child.oomKill?.cause).toBe('cgroup-limit');
        // The other balloons' kills, logged while this verdict was being made, must not crowd its own line out.
        expect(run.child.oomKill?.kernelLine, JSON.stringify(run.child.oomKill)).toMatch(new RegExp(`Killed process ${run.child.pid} \\(`));
      }
    }
  });

  it('oomGroup (the default): a grandchild it forked before ballooning dies with it', async () => {
    const run = await finish(balloon({ grandchildren: 2 }, { cgroup: { memoryMax: '100M' } }));
    const grandchildren = grandchildrenOf(run);
    try {
      expect(run.signal).toBe('SIGKILL');
      expect(run.child.oomKill?.cause).toBe('cgroup-limit');
      expect(grandchildren).toHaveLength(2);
      expect(await goneSoon(grandchildren), `grandchildren ${grandchildren} outlived the OOM kill`).toBe(true);
      expect(await removedSoon(run.child.cgroup!.dirs)).toBe(true);
    } finally {
      killIfRunning(grandchildren);
    }
  });

  it('spawnSync: the cap, the verdict and the resource usage (non-enumerable: the result keeps Node\'s keys)', () => {
    const result = spawnSync(process.execPath, [BALLOON, '{}'], { cgroup: { memoryMax: '64M' }, stdio: ['ignore', 'pipe', 'inherit'] });
    expect([result.status, result.signal]).toEqual([null, 'SIGKILL']);
    expect(result.oomKill).toMatchObject({ cause: 'cgroup-limit', confidence: 'certain' });
    expect(result.resourceUsage!.memory_events_oom_kill).toBeGreaterThanOrEqual(1);
    expect(result.resourceUsage!.memory_peak_bytes).toBeGreaterThan(0.97 * 64 * MB);
    expect(result.resourceUsage!.memory_peak_bytes).toBeLessThanOrEqual(64 * MB);
    expect(Object.keys(result).sort()).toEqual(['output', 'pid', 'signal', 'status', 'stderr', 'stdout']);
  });

  it("execSync: the cap applies to the shell's command (OOM-killed at 64M; the shell exits 137) and a command within it succeeds", () => {
    let thrown: any;
    try {
      execSync(`"${process.execPath}" "${BALLOON}" '{}'`, { cgroup: { memoryMax: '64M' }, stdio: ['ignore', 'pipe', 'inherit'] } as object);
    } catch (err) {
      thrown = err;
    }
    // sh (dash) waits for its command: the OOM kill of the command is the shell's exit status.
    expect(thrown?.status).toBe(137);
    expect(execSync(`"${process.execPath}" "${BALLOON}" '{"touchMb":16}'`, { cgroup: { memoryMax: '128M' }, encoding: 'utf8' } as object)).toContain('"event":"done"');
  });

  it("a shell whose command was OOM-killed at the cap: the verdict is 'cgroup-limit' though the shell itself exited 137, and the shell's other processes go too (oomGroup)", async () => {
    const script = `sleep 60 & echo "BALLOON {\\"event\\":\\"sleeper\\",\\"pid\\":$!}"; "${process.execPath}" "${BALLOON}" '{}'; exit $?`;
    const run = await finish(spawn('sh', ['-c', script], { cgroup: { memoryMax: '100M' }, stdio: ['ignore', 'pipe', 'inherit'] }));
    const sleeper = run.balloon.find((e) => e.event === 'sleeper')!.pid as number;
    try {
      expect([run.code, run.signal]).toEqual([137, null]);
      expect(run.child.oomKill).toMatchObject({ cause: 'cgroup-limit', confidence: 'certain' });
      expect(run.child.oomKill!.evidence.join('\n')).toContain('not the child itself');
      expect(await goneSoon([sleeper]), `the shell's sleep ${sleeper} outlived the OOM kill`).toBe(true);
      expect(await removedSoon(run.child.cgroup!.dirs)).toBe(true);
    } finally {
      killIfRunning([sleeper]);
    }
  });
});

describe("'system': OOM-killed without its own cap being the reason", () => {
  it("a child with a 1G cap, in an agent confined to 300 MB, is killed at the agent's limit: 'system'; a child without its own cgroup too, with the kernel's line", async () => {
    const run = await runCgroupAgent(
      {
        spawns: [
          // oom_score_adj 500: the kernel's choice in the agent's cgroup is the balloon, not the agent.
          { command: process.execPath, args: [BALLOON, '{}'], options: { cgroup: { memoryMax: '1G' }, oomScoreAdj: 500 } },
          { command: process.execPath, args: [BALLOON, '{}'], options: { oomScoreAdj: 500 } },
        ],
      },
      { memoryLimitBytes: 300 * MB },
    );
    expect(run.code, run.stderr).toBe(0);
    const [capped, uncapped] = run.result.spawns;

    expect([capped.code, capped.signal]).toEqual([null, 'SIGKILL']);
    expect(capped.cgroup?.memory?.dir.startsWith(`${run.agentCgroup!.dir}/`)).toBe(true);
    expect(capped.oomKill, JSON.stringify(capped.resourceUsage)).toMatchObject({ cause: 'system', confidence: 'certain' });
    expect(capped.oomKill!.evidence.join('\n')).toContain('its own cap was not reached');
    expect(capped.oomKill!.kernelLine).toMatch(new RegExp(`Killed process ${capped.pid} \\(`));
    expect(capped.resourceUsage!.memory_events_oom_kill).toBeGreaterThanOrEqual(1);
    expect(capped.resourceUsage!.memory_peak_bytes).toBeLessThan(300 * MB);

    expect([uncapped.code, uncapped.signal]).toEqual([null, 'SIGKILL']);
    expect(uncapped.cgroup).toBeNull();
    expect(uncapped.resourceUsage).not.toHaveProperty('memory_peak_bytes');
    expect(uncapped.oomKill).toMatchObject({ cause: 'system', confidence: 'certain' });
    expect(uncapped.oomKill!.kernelLine).toMatch(new RegExp(`Memory cgroup out of memory: Killed process ${uncapped.pid} \\(`));
    expect(uncapped.oomKill!.evidence.join('\n')).toContain('an ancestor cgroup');
  });
});

describe('no OOM, no verdict', () => {
  it('a plain kill -9 of a child with its own cgroup: oomKill null, the signal as it was', async () => {
    const child = spawn('sleep', ['30'], { cgroup: { memoryMax: '64M' } });
    await new Promise((r) => child.once('spawn', r));
    child.kill('SIGKILL');
    const run = await finish(child);
    expect([run.code, run.signal]).toEqual([null, 'SIGKILL']);
    expect(child.oomKill).toBeNull();
    expect(child.resourceUsage!.memory_events_oom_kill).toBe(0);
  });

  it('a plain kill -9 of a child without a cgroup: oomKill null', async () => {
    const child = spawn('sleep', ['30']);
    await new Promise((r) => child.once('spawn', r));
    child.kill('SIGKILL');
    await finish(child);
    expect(child.signalCode).toBe('SIGKILL');
    expect(child.oomKill).toBeNull();
  });

  it('a kill -9 of a child whose pid the kernel log names from an earlier OOM kill (pid reuse): oomKill null', async () => {
    // An earlier process with pid P is OOM-killed (its cap): the kernel log now says "Killed process P".
    const victim = await finish(balloon({}, { cgroup: { memoryMax: '64M' } }));
    const reused = victim.child.pid!;
    expect(victim.child.oomKill?.kernelLine).toContain(`Killed process ${reused} (`);
    await sleep(1100); // an OOM kill more than a second before the child started
    // Then a child gets the same pid (the kernel hands out ns_last_pid + 1 next), and is kill -9'd.
    let child: GuardedChildProcess | undefined;
    for (let attempt = 0; attempt < 200 && child?.pid !== reused; attempt++) {
      if (child) {
        child.kill('SIGKILL');
        await finish(child);
      }
      fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(reused - 1));
      child = spawn('sleep', ['30']);
    }
    expect(child!.pid, 'a child with the reused pid').toBe(reused);
    child!.kill('SIGKILL');
    await finish(child!);
    expect(child!.oomKill).toBeNull();
  });
});

describe('killTree()', () => {
  const family = "sleep 60 & sleep 60 & echo started; wait";

  async function startFamily(options: Record<string, unknown>): Promise<{ child: GuardedChildProcess; pids: number[] }> {
    const child = spawn('sh', ['-c', family], { stdio: ['ignore', 'pipe', 'inherit'], ...options });
    await new Promise((r) => child.stdout!.once('data', r));
    const descendants = (pid: number): number[] =>
      fs.readdirSync(`/proc/${pid}/task`).flatMap((t) => readFile(`/proc/${pid}/task/${t}/children`).split(' ').filter(Boolean).map(Number)).flatMap((c) => [c, ...descendants(c)]);
    const pids = [child.pid!, ...descendants(child.pid!)];
    expect(pids).toHaveLength(3);
    return { child, pids };
  }

  it('with a cgroup: SIGKILL leaves no process of the tree, then the cgroup is removed', async () => {
    const { child, pids } = await startFamily({ cgroup: { memoryMax: '64M' } });
    try {
      expect(readFile(path.join(child.cgroup!.v2Dir ?? child.cgroup!.dirs[0], 'cgroup.procs')).split('\n').map(Number).sort()).toEqual([...pids].sort());
      child.killTree();
      const run = await finish(child);
      expect(run.signal).toBe('SIGKILL');
      expect(await goneSoon(pids)).toBe(true);
      expect(await removedSoon(child.cgroup!.dirs)).toBe(true);
    } finally {
      killIfRunning(pids);
    }
  });

  it("with a cgroup and SIGTERM (freeze, signal each, thaw): the whole tree gets it", async () => {
    const { child, pids } = await startFamily({ cgroup: { memoryMax: '64M' } });
    try {
      child.killTree('SIGTERM');
      const run = await finish(child);
      expect(run.signal).toBe('SIGTERM');
      expect(await goneSoon(pids)).toBe(true);
      expect(await removedSoon(child.cgroup!.dirs)).toBe(true);
    } finally {
      killIfRunning(pids);
    }
  });

  it('without a cgroup (a /proc walk): no process of the tree is left', async () => {
    const { child, pids } = await startFamily({});
    try {
      expect(child.cgroup).toBeNull();
      child.killTree();
      await finish(child);
      expect(await goneSoon(pids)).toBe(true);
    } finally {
      killIfRunning(pids);
    }
  });
});

describe('no cgroup is left behind', () => {
  it('after 200 spawns, once they exited and the cgroup made ahead for a next one went untaken: no procguard-<pid>-* directory in any hierarchy', async () => {
    const made: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const children = Array.from({ length: 20 }, () => spawn('true', [], { cgroup: { memoryMax: '64M', pidsMax: 16, cpuWeight: 100 } }));
      for (const c of children) {
        // Each really had its cgroups (memory, pids and cpu, plus the v2 directory): there was something to remove.
        expect(c.cgroup!.dirs.every((d) => fs.existsSync(d))).toBe(true);
        made.push(...c.cgroup!.dirs);
      }
      await Promise.all(children.map((c) => finish(c)));
    }
    expect(new Set(made).size).toBe(made.length);
    expect(await removedSoon(made, 3000), made.filter((d) => fs.existsSync(d)).join('\n')).toBe(true);
    // The burst had the next cgroup made ahead (lib/cgroup/prepared.ts): gone once nobody took it.
    expect(await waitFor(() => procguardDirsOf(process.pid).length === 0, UNTAKEN_MS + 2000), procguardDirsOf(process.pid).join('\n')).toBe(true);
  });

  it("spawnSync in a loop that never lets the event loop turn: each child's cgroup is gone when the call returns", () => {
    for (let i = 0; i < 20; i++) {
      const r = spawnSync('true', [], { cgroup: { memoryMax: '64M' } }) as ReturnType<typeof spawnSync> & { cgroup: { dirs: string[] } | null };
      expect(r.status).toBe(0);
      expect(r.cgroup!.dirs.filter((d) => fs.existsSync(d))).toEqual([]);
    }
  });

  it('after the agent exits (straight from its last child\'s exit: no timer runs), none of its cgroups is left', async () => {
    const spawns = Array.from({ length: 3 }, () => ({ command: 'true', options: { cgroup: { memoryMax: '64M' } } }));
    const run = await runCgroupAgent({ spawns, then: 'exit-in-exit-handler' });
    expect(run.code).toBe(0);
    const dirs = run.result.spawns.flatMap((s) => s.cgroup!.dirs);
    expect(dirs).toHaveLength(3 * cgroupDirsPerChild());
    expect(dirs.filter((d) => fs.existsSync(d))).toEqual([]);
    expect(procguardDirsOf(run.result.pid)).toEqual([]);
  });

  it("a dead agent's leftovers are removed after the next agent's first cgroup spawn", async () => {
    // Agent A is SIGKILLed while its child runs: no exit hook, its cgroups stay once the child is gone.
    const a = await runCgroupAgent({ spawns: [{ command: 'sleep', args: ['0.3'], options: { cgroup: { memoryMax: '64M' } } }], then: 'sigkill-self' });
    expect(a.signal).toBe('SIGKILL');
    const leftovers = a.result.spawns[0].cgroup!.dirs;
    const orphan = a.result.spawns[0].pid!;
    expect(await waitFor(() => !running(orphan), 5000)).toBe(true);
    // (Any procguard agent on the machine sweeps them from now on: they may be gone already.)
    // Agent B: its first cgroup spawn takes them down.
    const b = await runCgroupAgent({ spawns: [{ command: 'true', options: { cgroup: { memoryMax: '64M' } } }] });
    expect(b.code).toBe(0);
    expect(await removedSoon(leftovers, 2000), leftovers.filter((d) => fs.existsSync(d)).join('\n')).toBe(true);
    expect(procguardDirsOf(a.result.pid)).toEqual([]);
    expect(procguardDirsOf(b.result.pid)).toEqual([]);
  });

  it("a dead agent's cgroups still holding its child are removed once the child is gone, whenever that is", async () => {
    const a = await runCgroupAgent({ spawns: [{ command: 'sleep', args: ['1.5'], options: { cgroup: { memoryMax: '64M' } } }], then: 'sigkill-self' });
    expect(a.signal).toBe('SIGKILL');
    const leftovers = a.result.spawns[0].cgroup!.dirs;
    const orphan = a.result.spawns[0].pid!;
    expect(running(orphan), 'the dead agent\'s child still runs when the next agent starts').toBe(true);
    // Agent B: its first cgroup spawn finds them busy; the child ends while B runs a plain
    // `sleep 2.5`; B's next cgroup spawn (its last sweep a while ago) takes them down.
    const cgroup = { memoryMax: '64M' };
    const b = await runCgroupAgent({ spawns: [{ command: 'true', options: { cgroup } }, { command: 'sleep', args: ['2.5'] }, { command: 'true', options: { cgroup } }] });
    expect(b.code).toBe(0);
    expect(running(orphan)).toBe(false);
    expect(await removedSoon(leftovers, 2000), leftovers.filter((d) => fs.existsSync(d)).join('\n')).toBe(true);
  });

  it("an agent that never asks for a cgroup still removes a dead agent's empty ones (a sweep after its first spawn)", async () => {
    // Under a cgroupParent of this test's own, so that no other agent on the machine sweeps them first.
    if (!cgroups.v2) throw new Error('this test needs a cgroup v2 tree');
    const parent = path.join(cgroups.v2, `procguard-test-sweep-${process.pid}`);
    fs.mkdirSync(parent);
    try {
      const configure = { cgroupParent: parent };
      const a = await runCgroupAgent({ configure, spawns: [{ command: 'sleep', args: ['0.3'], options: { cgroup: { memoryMax: '64M' } } }], then: 'sigkill-self' });
      const leftover = a.result.spawns[0].cgroup!.v2Dir!;
      expect(path.dirname(leftover)).toBe(parent);
      expect(await waitFor(() => !running(a.result.spawns[0].pid!), 5000)).toBe(true);
      expect(fs.existsSync(leftover), 'the dead agent left its cgroup').toBe(true);
      const c = await runCgroupAgent({ configure, spawns: [{ command: 'sleep', args: ['0.2'] }] });
      expect(c.code).toBe(0);
      expect(await removedSoon([leftover], 2000)).toBe(true);
    } finally {
      for (const entry of fs.readdirSync(parent)) if (entry.startsWith('procguard-')) fs.rmdirSync(path.join(parent, entry));
      fs.rmdirSync(parent);
    }
  });
});

function cgroupDirsPerChild(): number {
  // The memory directory, plus the v2 one when memory is on v1 (hybrid).
  return MEMORY_VERSION === 1 && cgroups.v2 ? 2 : 1;
}

describe('resource usage agrees with what the child did', () => {
  it('a child that touches 300 MB in a 1G cap: memory_peak_bytes and maxRssBytes between 300 and 400 MB, no OOM', async () => {
    const run = await finish(balloon({ touchMb: 300 }, { cgroup: { memoryMax: '1G' } }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.balloon.at(-1)).toMatchObject({ event: 'done', mb: 300 });
    const usage = run.child.resourceUsage!;
    expect(run.child.oomKill).toBeNull();
    expect(usage.memory_peak_bytes).toBeGreaterThan(300 * MB);
    expect(usage.memory_peak_bytes).toBeLessThan(400 * MB);
    expect(usage.maxRssBytes).toBeGreaterThan(300 * MB);
    expect(usage.maxRssBytes).toBeLessThan(400 * MB);
    expect(usage.memory_events_oom_kill).toBe(0);
    if (MEMORY_VERSION === 1) {
      // What cgroup v1 cannot give is absent, not 0.
      for (const field of ['memory_events_low', 'memory_events_high', 'memory_events_oom', 'memory_events_oom_group_kill']) {
        expect(usage, field).not.toHaveProperty(field);
      }
    } else {
      expect(usage.memory_events_oom).toBe(0);
      expect(usage.memory_events_max).toBe(0);
    }
    // The v2 directory gives pressure stall totals (µs) and CPU time.
    if (run.child.cgroup!.v2Dir) {
      for (const field of ['psi_memory_some', 'psi_memory_full', 'psi_cpu_some', 'psi_io_some', 'psi_io_full', 'cpu_usage_usec']) {
        expect(typeof (usage as any)[field], field).toBe('number');
      }
    }
  });

  it('a child that burns ~0.5 s of CPU: userCpuMicros and cpu_usage_usec say so, and wallMicros is at least that', async () => {
    // Computation, with a look at the clock every million rounds (a syscall each round would be system time).
    const burn = 'let x = 0; const t = process.cpuUsage(); do { for (let i = 0; i < 1e6; i++) x += i; } while (process.cpuUsage(t).user < 500000);';
    const run = await finish(spawn(process.execPath, ['-e', burn], { cgroup: { cpuWeight: 100 } }));
    expect(run.code).toBe(0);
    const u = run.child.resourceUsage!;
    expect(u.userCpuMicros).toBeGreaterThanOrEqual(500_000);
    expect(u.userCpuMicros + u.systemCpuMicros).toBeLessThan(1_500_000);
    expect(u.wallMicros).toBeGreaterThanOrEqual(500_000);
    expect(u.cpu_usage_usec).toBeDefined();
    // The cgroup's count and waitid's rusage measure the same process.
    expect(Math.abs(u.cpu_usage_usec! - (u.userCpuMicros + u.systemCpuMicros))).toBeLessThan(100_000);
  });

  it('a child without a cgroup: only the rusage figures, no cgroup field', async () => {
    const run = await finish(spawn('true', []));
    const u = run.child.resourceUsage!;
    expect(Object.keys(u).sort()).toEqual(
      ['involuntaryContextSwitches', 'majorPageFaults', 'maxRssBytes', 'minorPageFaults', 'systemCpuMicros', 'userCpuMicros', 'voluntaryContextSwitches', 'wallMicros'].sort(),
    );
    expect(run.child.cgroup).toBeNull();
  });
});

describe('pidsMax and cpuWeight', () => {
  it('pidsMax 20: a child that tries to start 50 `sleep 5` gets at most 20 tasks; the kernel refuses the rest with EAGAIN', async () => {
    const child = spawn(process.execPath, [FORK_MANY], { cgroup: { pidsMax: 20 }, stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out);
      });
    });
    const outcome = JSON.parse(line.slice('FORK_MANY '.length));
    const dir = dirWith(child, 'pids.max');
    const current = Number(readFile(path.join(dir, 'pids.current')));
    const pidsMax = readFile(path.join(dir, 'pids.max')); // now: the cgroup goes as soon as the child is reaped
    child.killTree();
    await finish(child);
    expect(pidsMax).toBe('20');
    expect(current).toBeLessThanOrEqual(20);
    // node's own threads count as tasks: the sleeps get what is left, the others fail.
    expect(outcome.started + outcome.tasks).toBeLessThanOrEqual(20);
    expect(outcome.started).toBeGreaterThan(0);
    expect(outcome.failed).toBe(50 - outcome.started);
    expect(outcome.codes).toEqual(['EAGAIN']);
  });

  it('cpuWeight 50 writes cpu.weight 50 (v2) or cpu.shares 512 (v1)', async () => {
    const child = spawn('sleep', ['30'], { cgroup: { cpuWeight: 50 } });
    const dir = child.cgroup!.dirs.find((d) => fs.existsSync(path.join(d, 'cpu.weight')) || fs.existsSync(path.join(d, 'cpu.shares')));
    expect(dir).toBeDefined();
    if (fs.existsSync(path.join(dir!, 'cpu.weight'))) expect(readFile(path.join(dir!, 'cpu.weight'))).toBe('50');
    else expect(readFile(path.join(dir!, 'cpu.shares'))).toBe('512');
    child.kill('SIGKILL');
    await finish(child);
  });
});

describe('errors', () => {
  it.each([
    [{ memoryMax: 'lots' }, 'ERR_INVALID_ARG_VALUE', `The property 'options.cgroup.memoryMax' must be a number of bytes or a size like '512M' or '2G'. Received 'lots'`],
    [{ memoryMax: 1000 }, 'ERR_OUT_OF_RANGE', 'The value of "options.cgroup.memoryMax" is out of range. It must be >= 1M (1048576 bytes). Received 1000'],
    [{ memoryMax: -1 }, 'ERR_OUT_OF_RANGE', 'The value of "options.cgroup.memoryMax" is out of range. It must be a whole number of bytes >= 0 and <= 9007199254740991. Received -1'],
    // Too large to be a number of bytes: a RangeError here, never the kernel's EINVAL at the spawn.
    [{ memoryMax: '99999999999999999999T' }, 'ERR_OUT_OF_RANGE', 'The value of "options.cgroup.memoryMax" is out of range. It must be a size of at most 9007199254740991 bytes (8191T). Received \'99999999999999999999T\''],
    [{ memoryMax: 2 ** 60 }, 'ERR_OUT_OF_RANGE', 'The value of "options.cgroup.memoryMax" is out of range. It must be a whole number of bytes >= 0 and <= 9007199254740991. Received 1_152_921_504_606_847_000'],
    [{ memorySwapMax: '9000T' }, 'ERR_OUT_OF_RANGE', 'The value of "options.cgroup.memorySwapMax" is out of range. It must be a size of at most 9007199254740991 bytes (8191T). Received \'9000T\''],
    [{ memoryMax: true }, 'ERR_INVALID_ARG_TYPE', 'The "options.cgroup.memoryMax" property must be of type number or string. Received type boolean (true)'],
    [{ memorySwapMax: 'some' }, 'ERR_INVALID_ARG_VALUE', `The property 'options.cgroup.memorySwapMax' must be a number of bytes or a size like '512M' or '2G', or 'max'. Received 'some'`],
    [{ pidsMax: 0 }, 'ERR_OUT_OF_RANGE', 'The value of "options.cgroup.pidsMax" is out of range. It must be an integer >= 1 && <= 4194304. Received 0'],
    [{ pidsMax: 1.5 }, 'ERR_OUT_OF_RANGE', 'The value of "options.cgroup.pidsMax" is out of range. It must be an integer >= 1 && <= 4194304. Received 1.5'],
    [{ cpuWeight: 10001 }, 'ERR_OUT_OF_RANGE', 'The value of "options.cgroup.cpuWeight" is out of range. It must be an integer >= 1 && <= 10000. Received 10001'],
    [{ cpuWeight: '50' }, 'ERR_INVALID_ARG_TYPE', `The "options.cgroup.cpuWeight" property must be of type number. Received type string ('50')`],
    [{ oomGroup: 'yes' }, 'ERR_INVALID_ARG_TYPE', `The "options.cgroup.oomGroup" property must be of type boolean. Received type string ('yes')`],
    [{ required: 1 }, 'ERR_INVALID_ARG_TYPE', 'The "options.cgroup.required" property must be of type boolean. Received type number (1)'],
  ])('cgroup %j: %s naming the option, the value and the range; nothing runs, no cgroup is made', (cgroup, code, message) => {
    const before = procguardDirsOf(process.pid);
    expect(() => spawn('true', [], { cgroup } as object)).toThrow(expect.objectContaining({ code, message }));
    // None made (an earlier test's may be going meanwhile: removal is asynchronous).
    expect(procguardDirsOf(process.pid).filter((dir) => !before.includes(dir))).toEqual([]);
  });

  it("options.cgroup must be an object: 'big' is ERR_INVALID_ARG_TYPE", () => {
    expect(() => spawn('true', [], { cgroup: 'big' } as object)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: `The "options.cgroup" property must be of type object. Received type string ('big')` }),
    );
  });

  it('spawn, fork, spawnSync, execSync and execFileSync validate it (exec, execFile: see the known bug above)', () => {
    const cgroup = { memoryMax: 'lots' };
    const calls: [string, () => unknown][] = [
      ['spawn', () => spawn('true', [], { cgroup } as object)],
      ['fork', () => fork(REPORT, [], { cgroup } as object)],
      ['spawnSync', () => spawnSync('true', [], { cgroup } as object)],
      ['execSync', () => execSync('true', { cgroup } as object)],
      ['execFileSync', () => execFileSync('true', [], { cgroup } as object)],
    ];
    for (const [name, call] of calls) expect(call, name).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it("required (the default) where no cgroup can be made (a non-root agent): ERR_PROCGUARD_CGROUP_UNAVAILABLE with the kernel's reason; required: false runs uncapped with a warning", async () => {
    const sys = requireSystem();
    const run = await runCgroupAgent(
      {
        spawns: [
          { command: 'true', options: { cgroup: { memoryMax: '64M' } } },
          { command: 'true', options: { cgroup: { memoryMax: '64M', required: false } } },
          { command: 'true', options: { cgroup: { memoryMax: '64M', required: false } }, sync: true },
        ],
      },
      { uid: sys.uid, gid: sys.gid },
    );
    const [required, optional, optionalSync] = run.result.spawns;
    expect(required.thrown).toMatchObject({ code: 'ERR_PROCGUARD_CGROUP_UNAVAILABLE' });
    expect(required.thrown!.message).toMatch(/^procguard: cannot create a cgroup for the child: .*EACCES/);
    expect(required.pid).toBeUndefined();
    expect(optional).toMatchObject({ code: 0, signal: null, cgroup: null });
    expect(optional.resourceUsage).not.toHaveProperty('memory_peak_bytes');
    expect(optionalSync).toMatchObject({ status: 0 });
    const warned = run.result.logs.filter((l) => l.level === 'warn' && l.message.includes('without its own cgroup'));
    expect(warned).toHaveLength(1); // once per cause, not per spawn
    expect(String(warned[0].fields?.reason)).toContain('EACCES');
  });
});

describe('procguard run', () => {
  function cli(args: string[]) {
    return nodeSpawnSync(process.execPath, [CLI, 'run', ...args], { encoding: 'utf8', timeout: 60_000 });
  }

  it("--memory-max 100M with a balloon: exits 137 and says it was OOM-killed by its own memory cap", () => {
    const r = cli(['--memory-max', '100M', '--', process.execPath, BALLOON, '{}']);
    expect(r.status, r.stderr).toBe(137);
    expect(r.stderr).toContain('exit: killed by SIGKILL');
    expect(r.stderr).toContain('OOM-killed: its own memory cap');
    expect(r.stderr).toMatch(/memory_events_oom_kill=[1-9]/);
  });

  it("-- sh -c 'exit 3': exits 3, not OOM-killed", () => {
    const r = cli(['--', 'sh', '-c', 'exit 3']);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('exit: status 3');
    expect(r.stderr).toContain('OOM-killed: no');
  });

  it("-- sh -c 'kill -9 $$': exits 137, not OOM-killed", () => {
    const r = cli(['--memory-max', '64M', '--', 'sh', '-c', 'kill -9 $$']);
    expect(r.status, r.stderr).toBe(137);
    expect(r.stderr).toContain('OOM-killed: no');
  });
});
