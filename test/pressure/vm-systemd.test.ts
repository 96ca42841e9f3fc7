// The agent as a systemd service, in the pressure VM booted with systemd 257 as PID 1 (a Debian
// trixie root built with mmdebstrap, vm/systemd-root.ts): once in a unit that delegates its
// cgroup (Delegate=yes, DelegateSubgroup=, MemoryMax=, MemoryHigh=infinity, MemorySwapMax=0,
// OOMPolicy=continue, MemoryPressureWatch=), once in one without Delegate=.
// vm-jobs/systemd-scenarios.cjs runs the units; this file asserts on what the agents reported.
import * as path from 'node:path';
import { beforeAll, describe, expect, it, TestContext } from 'vitest';
import { requireOrSkip } from './requirements';
import { cappedBalloonSpawn, GUEST_JOB_DIR, PRIORITIES_SPAWN } from './vm-cgroup';
import { runInVmOrExplain, vmHookTimeoutMs, VmRun, whatTheVmDid } from './vm/run-in-vm';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const MB = 2 ** 20;
const VM_TIME_LIMIT_MS = 240_000;

/** The unit the README shows, as the test runs it (ExecStart= and Environment= added by the job). */
export const DELEGATED_UNIT_DIRECTIVES = [
  'Delegate=yes',
  'DelegateSubgroup=agent',
  'MemoryMax=400M',
  'MemoryHigh=infinity',
  'MemorySwapMax=0',
  'OOMPolicy=continue',
  'MemoryPressureWatch=on',
];

const units = [
  {
    name: 'pg-agent-delegated',
    directives: DELEGATED_UNIT_DIRECTIVES,
    plan: {
      status: true,
      spawns: [
        PRIORITIES_SPAWN,
        cappedBalloonSpawn('64M'),
        { command: 'cat', args: ['/proc/self/cgroup'], options: { cgroup: { pidsMax: 32 } } },
        // After both have exited: what is left beside the agent in the unit's cgroup.
        { command: 'sh', args: ['-c', 'sleep 1; ls /sys/fs/cgroup/system.slice/pg-agent-delegated.service'] },
      ],
    },
  },
  {
    name: 'pg-agent-plain',
    directives: ['MemoryMax=400M', 'MemorySwapMax=0'],
    plan: {
      status: true,
      spawns: [
        PRIORITIES_SPAWN,
        { command: 'true', options: { cgroup: { memoryMax: '64M' } } },
        { command: 'true', options: { cgroup: { memoryMax: '64M', required: false } } },
        { command: 'true', options: { cgroup: { memoryMax: '64M', required: false } } },
        { command: 'sh', args: ['-c', 'ls /sys/fs/cgroup/system.slice/pg-agent-plain.service'] },
      ],
    },
  },
];

let run: VmRun | null = null;
let unavailable: string | null = null;

beforeAll(async () => {
  const files: Record<string, string> = {};
  for (const name of ['cgroup-agent.cjs', 'cgroup-balloon.cjs']) files[`${GUEST_JOB_DIR}/${name}`] = path.join(FIXTURES, name);
  ({ run, unavailable } = await runInVmOrExplain({
    init: 'systemd',
    script: path.join(__dirname, 'vm-jobs', 'systemd-scenarios.cjs'),
    args: [JSON.stringify(units)],
    files,
    memoryMb: 1024,
    timeoutMs: VM_TIME_LIMIT_MS,
  }));
}, vmHookTimeoutMs(VM_TIME_LIMIT_MS) + 60_000);

function unit(context: TestContext, name: string): any {
  requireOrSkip(context, unavailable);
  const found = (run!.results as any[]).find((r) => r.kind === 'unit' && r.name === name);
  expect(found, `unit ${name} ran\n${whatTheVmDid(run!)}`).toBeDefined();
  expect(found.agent, `the agent of ${name} reported: ${JSON.stringify(found).slice(0, 6000)}`).not.toBeNull();
  return found;
}

describe('systemd 257 as PID 1', () => {
  it('boots and runs the job as a service', (context) => {
    requireOrSkip(context, unavailable);
    const systemd = (run!.results as any[]).find((r) => r.kind === 'systemd');
    expect(systemd?.version, whatTheVmDid(run!)).toMatch(/^systemd 25[4-9]|^systemd 2[6-9]\d/);
  });
});

describe('a unit with Delegate=yes, DelegateSubgroup=agent, MemoryMax=400M, MemoryHigh=infinity, MemorySwapMax=0, OOMPolicy=continue, MemoryPressureWatch=on', () => {
  it("status() reads the unit, its delegation, the subgroup systemd started the agent in, the unit's limits and the pressure watch", (context) => {
    const { agent } = unit(context, 'pg-agent-delegated');
    const env = agent.status.environment;
    const unitDir = '/sys/fs/cgroup/system.slice/pg-agent-delegated.service';
    expect(env.cgroup).toMatchObject({ mode: 'v2', path: '/system.slice/pg-agent-delegated.service/agent', namespace: false, readOnly: false, delegated: true });
    expect(env.systemd).toMatchObject({
      unit: 'pg-agent-delegated.service',
      unitDir,
      delegated: true,
      subgroup: 'agent',
      memoryPressureWatch: `${unitDir}/memory.pressure`,
    });
    expect(env.systemd.invocationId).toMatch(/^[0-9a-f]{32}$/);
    expect(env.limits).toMatchObject({ memoryMax: { bytes: 400 * MB, cgroup: unitDir }, memoryHigh: null, memorySwapMax: { bytes: 0, cgroup: unitDir } });
    expect(env.perChildCgroups).toMatchObject({ available: true, parent: unitDir });
    expect(env.perChildCgroups.reason).toContain('already sits in the leaf agent');
  });

  it('per-child cgroups are made under the unit, beside the agent (no move: DelegateSubgroup did it), work, and are removed', (context) => {
    const { agent } = unit(context, 'pg-agent-delegated');
    const [prio, capped, pids, left] = agent.spawns;
    expect(prio).toMatchObject({ code: 0, stdout: '998\n5\n' });
    expect(capped).toMatchObject({ signal: 'SIGKILL', oomKill: { cause: 'cgroup-limit' } });
    expect(capped.cgroup.v2Dir).toMatch(/^\/sys\/fs\/cgroup\/system\.slice\/pg-agent-delegated\.service\/procguard-\d+-1$/);
    expect(pids.stdout).toMatch(/^0::\/system\.slice\/pg-agent-delegated\.service\/procguard-\d+-2$/m);
    expect(left.stdout.split('\n').filter((e: string) => e.startsWith('procguard-'))).toEqual([]);
    expect(agent.cgroupsAtEnd).toBe('0::/system.slice/pg-agent-delegated.service/agent\n');
    expect(agent.logs.filter((l: { message: string }) => l.message.includes('moved the agent'))).toEqual([]);
  });
});

describe('a unit without Delegate=', () => {
  it('spawns work, per-child cgroups are off with the reason: required fails with the fix, required: false says why once', (context) => {
    const { agent } = unit(context, 'pg-agent-plain');
    const env = agent.status.environment;
    expect(env.systemd).toMatchObject({ unit: 'pg-agent-plain.service', delegated: false, subgroup: null });
    expect(env.cgroup).toMatchObject({ writable: true, delegated: false });
    expect(env.perChildCgroups).toMatchObject({
      available: false,
      reason: "the agent's cgroup belongs to systemd's pg-agent-plain.service, which does not delegate it (no Delegate=yes): systemd owns that tree",
    });
    const [prio, required, optional, optionalAgain, left] = agent.spawns;
    expect(prio).toMatchObject({ code: 0, stdout: '998\n5\n' });
    expect(required.thrown.code).toBe('ERR_PROCGUARD_CGROUP_UNAVAILABLE');
    expect(required.thrown.message).toContain('fix: Delegate=yes in pg-agent-plain.service');
    expect(optional).toMatchObject({ code: 0, cgroup: null });
    expect(optionalAgain).toMatchObject({ code: 0, cgroup: null });
    expect(agent.logs.filter((l: { level: string; message: string }) => l.level === 'warn' && l.message.includes('without its own cgroup'))).toHaveLength(1);
    // procguard wrote nothing into systemd's tree.
    expect(left.stdout.split('\n').filter((e: string) => e.startsWith('procguard-'))).toEqual([]);
  });
});
