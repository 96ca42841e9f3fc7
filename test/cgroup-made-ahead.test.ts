// Within a burst of spawns with the same cgroup options, the next child's cgroup is made right
// after a spawn, while that child runs, and the next spawn takes it (lib/cgroup/prepared.ts).
// What a user sees must not change: the limits asked for, counters that are the child's own, no
// cgroup taken across options or parents, and nothing left once the burst is over or the agent exits.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { configure, spawn } from 'procguard';
import type { GuardedChildProcess } from 'procguard';
import { hostCgroups, MB, memoryVersion, procguardDirsOf, readFile, runCgroupAgent } from './helpers/cgroup';
import { sleep, waitFor } from './helpers/proc';

const cgroups = hostCgroups();
const MEMORY_VERSION = memoryVersion(cgroups);
const { BURST_MS, UNTAKEN_MS } = createRequire(__filename)(path.join(__dirname, '..', 'dist', 'cjs', 'cgroup', 'prepared.js')) as {
  BURST_MS: number;
  UNTAKEN_MS: number;
};

configure({ logger: { info: () => {}, warn: () => {} } });

const memoryLimitFile = MEMORY_VERSION === 1 ? 'memory.limit_in_bytes' : 'memory.max';

/**
 * Runs a child to its exit: its stdout (by default its cgroups, as the child itself names them in
 * /proc/self/cgroup) and its memory cgroup's limit, read right after the spawn (the cgroup is
 * removed once the child is gone).
 */
async function run(options: object, command = 'cat', args = ['/proc/self/cgroup']): Promise<{ child: GuardedChildProcess; stdout: string; memoryLimit: number }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });
  const memoryLimit = Number(readFile(path.join(child.cgroup!.memory!.dir, memoryLimitFile)));
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  await new Promise((resolve, reject) => child.on('error', reject).on('close', resolve));
  return { child, stdout, memoryLimit };
}

/** This agent's cgroup directories beyond the given ones: what was made ahead. */
function madeAheadBeside(known: string[]): string[] {
  return procguardDirsOf(process.pid).filter((d) => !known.includes(d));
}

beforeAll(() => {
  expect(process.getuid?.(), 'the cgroup tests run as root').toBe(0);
  expect(MEMORY_VERSION, 'a memory controller for child cgroups').not.toBeNull();
});

afterEach(async () => {
  // Each test starts from nothing: what a burst made ahead is gone once untaken.
  expect(await waitFor(() => procguardDirsOf(process.pid).length === 0, UNTAKEN_MS + 3000), procguardDirsOf(process.pid).join('\n')).toBe(true);
});

afterAll(() => configure({ cgroupParent: undefined }));

describe('cgroups made ahead for a burst of spawns', () => {
  it('a lone spawn makes none ahead: once its child exited, no cgroup of this agent exists', async () => {
    const { child } = await run({ cgroup: { memoryMax: '72M' } });
    expect(child.cgroup!.dirs.length).toBeGreaterThan(0);
    await sleep(200);
    expect(procguardDirsOf(process.pid)).toEqual([]);
  });

  it('the second spawn of a burst has the third one made ahead, and the third child is in it with its limit, from its first instruction', async () => {
    const options = { cgroup: { memoryMax: '80M' } };
    const first = await run(options);
    const second = await run(options);
    await sleep(50);
    const ahead = madeAheadBeside([...first.child.cgroup!.dirs, ...second.child.cgroup!.dirs]);
    expect(ahead.length, 'one directory per hierarchy, made before the third spawn').toBe(second.child.cgroup!.dirs.length);
    const third = await run(options);
    expect([...third.child.cgroup!.dirs].sort()).toEqual([...ahead].sort());
    expect(third.memoryLimit).toBe(80 * MB);
    const name = path.basename(ahead[0]);
    expect(third.stdout).toMatch(new RegExp(`/${name}$`, 'm'));
    expect(third.child.resourceUsage).toMatchObject({ memory_peak_bytes: expect.any(Number) });
  });

  it("a cgroup made ahead never held a process: after a child that used 150 MB, the next child's counters are its own", async () => {
    const options = { cgroup: { memoryMax: '256M' } };
    await run(options, 'true', []);
    const big = await run(options, process.execPath, ['-e', 'Buffer.alloc(150 * 2 ** 20, 1); setTimeout(() => {}, 100)']);
    expect(big.child.resourceUsage!.memory_peak_bytes).toBeGreaterThan(150 * MB);
    const small = await run(options, 'true', []);
    const ahead = big.child.cgroup!.dirs.map((d) => path.basename(d));
    expect(small.child.cgroup!.dirs.map((d) => path.basename(d))).not.toEqual(ahead);
    expect(small.child.resourceUsage!.memory_peak_bytes).toBeLessThan(20 * MB);
    if (small.child.resourceUsage!.cpu_usage_usec !== undefined) expect(small.child.resourceUsage!.cpu_usage_usec).toBeLessThan(big.child.resourceUsage!.cpu_usage_usec!);
  });

  it('other cgroup options never take it: the spawn makes its own, with its own limit', async () => {
    await run({ cgroup: { memoryMax: '88M' } });
    const second = await run({ cgroup: { memoryMax: '88M' } });
    await sleep(50);
    const ahead = madeAheadBeside(second.child.cgroup!.dirs);
    expect(ahead.length).toBeGreaterThan(0);
    const other = await run({ cgroup: { memoryMax: '96M' } });
    expect(other.child.cgroup!.dirs.some((d) => ahead.includes(d))).toBe(false);
    expect(other.memoryLimit).toBe(96 * MB);
  });

  it('parents changed by configure({ cgroupParent }) since: the spawn makes its own under the new parent, and the one made ahead goes', async () => {
    if (!cgroups.v2) throw new Error('this test needs a cgroup v2 tree');
    const parent = path.join(cgroups.v2, `procguard-test-ahead-${process.pid}`);
    fs.mkdirSync(parent);
    try {
      const options = { cgroup: { memoryMax: '64M' } };
      await run(options);
      const second = await run(options);
      await sleep(50);
      const ahead = madeAheadBeside(second.child.cgroup!.dirs);
      expect(ahead.length).toBeGreaterThan(0);
      configure({ cgroupParent: parent });
      const moved = await run(options);
      expect(path.dirname(moved.child.cgroup!.v2Dir!)).toBe(parent);
      expect(moved.child.cgroup!.dirs.some((d) => ahead.includes(d))).toBe(false);
      expect(await waitFor(() => ahead.every((d) => !fs.existsSync(d)), 2000), ahead.filter((d) => fs.existsSync(d)).join('\n')).toBe(true);
    } finally {
      configure({ cgroupParent: undefined });
      await waitFor(() => fs.readdirSync(parent).every((e) => !e.startsWith('procguard-')), UNTAKEN_MS + 3000);
      fs.rmdirSync(parent);
    }
  });

  it(`one made ahead and not taken is removed after ${UNTAKEN_MS} ms, and kept until then`, async () => {
    const options = { cgroup: { memoryMax: '104M' } };
    await run(options);
    const second = await run(options);
    await sleep(50);
    const ahead = madeAheadBeside(second.child.cgroup!.dirs);
    expect(ahead.length).toBeGreaterThan(0);
    await sleep(UNTAKEN_MS / 2);
    expect(ahead.every((d) => fs.existsSync(d))).toBe(true);
    expect(await waitFor(() => ahead.every((d) => !fs.existsSync(d)), UNTAKEN_MS + 1000)).toBe(true);
  });

  it(`spawns further apart than ${BURST_MS} ms are no burst: none is made ahead`, async () => {
    const options = { cgroup: { memoryMax: '112M' } };
    const first = await run(options);
    await sleep(BURST_MS + 100);
    expect(procguardDirsOf(process.pid).filter((d) => !first.child.cgroup!.dirs.includes(d))).toEqual([]);
    const second = await run(options);
    await sleep(100);
    expect(madeAheadBeside([...first.child.cgroup!.dirs, ...second.child.cgroup!.dirs])).toEqual([]);
  });

  it('an agent that exits right after a burst leaves no cgroup, the one made ahead included', async () => {
    const spawns = Array.from({ length: 4 }, () => ({ command: 'true', options: { cgroup: { memoryMax: '64M' } } }));
    const agent = await runCgroupAgent({ spawns, then: 'exit' });
    expect(agent.code, agent.stderr).toBe(0);
    expect(procguardDirsOf(agent.result.pid)).toEqual([]);
  });
});
