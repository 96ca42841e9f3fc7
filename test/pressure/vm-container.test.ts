// The agent in a container run by runc, configured as a pod's container is by default, in the
// pressure VM (pure cgroup v2): vm-jobs/container-scenarios.cjs runs the containers; this file
// asserts on what the agent inside reported. kubelet itself is not run: the OCI configuration
// stands for the pod (containerd's CRI defaults, kubelet's Burstable oom_score_adj and limits).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it, TestContext } from 'vitest';
import { requireOrSkip } from './requirements';
import { cappedBalloonSpawn, GUEST_JOB_DIR, PRIORITIES_SPAWN } from './vm-cgroup';
import { runInVmOrExplain, vmHookTimeoutMs, VmRun, whatTheVmDid } from './vm/run-in-vm';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const MB = 2 ** 20;
const VM_TIME_LIMIT_MS = 150_000;
const RUNC = '/usr/sbin/runc';
const LIBSECCOMP = '/lib/x86_64-linux-gnu/libseccomp.so.2';

// guard-agent.cjs's child: the balloon without a cgroup of its own, growing toward the container's limit.
const uncappedBalloon = { name: 'balloon', command: '/bin/node', args: [`${GUEST_JOB_DIR}/cgroup-balloon.cjs`, '{}'], ready: 'BALLOON {"event":"started"' };
const containers = [
  {
    name: 'pod-default',
    cgroupMount: 'ro',
    plan: {
      status: true,
      spawns: [
        PRIORITIES_SPAWN,
        cappedBalloonSpawn('64M'),
        { command: 'true', options: { cgroup: { memoryMax: '64M', required: false } } },
        { command: 'true', options: { cgroup: { memoryMax: '64M', required: false } } },
      ],
    },
  },
  // The guard issue's group-kill scenario, in the pod: an uncapped child grows toward the
  // container's limit; with memory.oom.group=1 the kernel would take the agent with it.
  { name: 'pod-guard', cgroupMount: 'ro', agent: 'guard-agent.cjs', plan: { guard: {}, children: [uncappedBalloon], maxMs: 60_000 } },
  { name: 'pod-no-guard', cgroupMount: 'ro', agent: 'guard-agent.cjs', plan: { children: [uncappedBalloon], maxMs: 60_000 } },
  { name: 'pod-writable', cgroupMount: 'rw', plan: { status: true, spawns: [PRIORITIES_SPAWN, cappedBalloonSpawn('64M'), { command: 'cat', args: ['/proc/self/cgroup'], options: { cgroup: { pidsMax: 16 } } }] } },
];

interface ContainerResult {
  kind: 'container';
  name: string;
  ms: number;
  runc: { code: number | null; signal: string | null };
  stderr: string;
  agent: any;
  containerCgroupGone: boolean;
  error?: string;
}

let run: VmRun | null = null;
let unavailable: string | null = null;

beforeAll(async () => {
  const missing = [RUNC, LIBSECCOMP].filter((f) => !fs.existsSync(f));
  if (missing.length) {
    unavailable = `runc for the container tests: missing ${missing.join(', ')} (apt-get install runc, or run test/pressure/setup.sh)`;
    return;
  }
  const files: Record<string, string> = {
    '/bin/runc': RUNC,
    [LIBSECCOMP]: LIBSECCOMP,
  };
  for (const name of ['cgroup-agent.cjs', 'cgroup-balloon.cjs', 'guard-agent.cjs']) files[`${GUEST_JOB_DIR}/${name}`] = path.join(FIXTURES, name);
  ({ run, unavailable } = await runInVmOrExplain({
    script: path.join(__dirname, 'vm-jobs', 'container-scenarios.cjs'),
    args: [JSON.stringify(containers)],
    files,
    memoryMb: 1024,
    timeoutMs: VM_TIME_LIMIT_MS,
  }));
}, vmHookTimeoutMs(VM_TIME_LIMIT_MS));

function container(context: TestContext, name: string, { agentReports = true } = {}): ContainerResult {
  requireOrSkip(context, unavailable);
  const found = (run!.results as ContainerResult[]).find((r) => r.name === name);
  expect(found, `container ${name} ran\n${whatTheVmDid(run!)}`).toBeDefined();
  if (agentReports) expect(found!.agent, `the agent in ${name} reported (runc ${JSON.stringify(found!.runc)}: ${found!.stderr})`).not.toBeNull();
  return found!;
}

describe("runc, a pod's default container: cgroup namespace, /sys/fs/cgroup read-only, memory.max, memory.oom.group=1, Burstable oom_score_adj", () => {
  it('priority management works: children at 998 and nice +5', (context) => {
    const { agent } = container(context, 'pod-default');
    expect(agent.status.agent.oomScoreAdj).toBe(937);
    expect(agent.spawns[0]).toMatchObject({ code: 0, stdout: '998\n5\n' });
  });

  it('status() reports the namespace, the read-only mount, the limit and the group kill, and recognizes the Burstable pod', (context) => {
    const env = container(context, 'pod-default').agent.status.environment;
    expect(env.cgroup).toMatchObject({ mode: 'v2', path: '/', namespace: true, readOnly: true, writable: false, delegated: false });
    expect(env.limits).toMatchObject({ memoryMax: { bytes: 400 * MB, cgroup: '/sys/fs/cgroup' }, oomGroup: true, groupKill: '/sys/fs/cgroup' });
    expect(env.kubernetes).toMatchObject({ qosClass: 'Burstable' });
    const codes = env.conclusions.map((c: { code: string }) => c.code);
    expect(codes).toEqual(['PROCGUARD_CGROUPS_OFF', 'PROCGUARD_OOM_GROUP', 'PROCGUARD_KUBERNETES']);
    expect(env.conclusions[1]).toMatchObject({
      conclusion: "a child reaching this pod's container's limit kills the agent too, whatever its oom_score_adj: start the guard",
      reason: 'memory.oom.group=1 at /sys/fs/cgroup, memory.max 400M at /sys/fs/cgroup',
      unprotected: true,
    });
  });

  it('the group kill is one startup warning; per-child cgroups are off with the reason, the fix, and one warning for required: false', (context) => {
    const { agent } = container(context, 'pod-default');
    const warnings = agent.logs.filter((l: { level: string }) => l.level === 'warn');
    expect(warnings.map((l: { message: string }) => l.message)).toEqual([
      "a child reaching this pod's container's limit kills the agent too, whatever its oom_score_adj: start the guard",
      'running the command without its own cgroup (cgroup.required is false)',
    ]);
    const [, required, optional, optionalAgain] = agent.spawns;
    expect(required.thrown.code).toBe('ERR_PROCGUARD_CGROUP_UNAVAILABLE');
    expect(required.thrown.message).toContain('/sys/fs/cgroup is read-only: a container without a writable cgroup mount');
    expect(required.thrown.message).toContain('containerd 2.1+ `cgroup_writable = true`');
    expect(optional).toMatchObject({ code: 0, cgroup: null });
    expect(optionalAgain).toMatchObject({ code: 0, cgroup: null });
  });
});

describe("runc, the pod's container: the guard's group-kill scenario", () => {
  it('with the guard, the growing child is killed before the limit and the container (the agent) lives: no OOM kill, no group kill', (context) => {
    const { agent, runc } = container(context, 'pod-guard');
    const facts = JSON.stringify({ ...agent, logs: agent.logs.slice(-10) }).slice(0, 4000);
    expect(runc.code, facts).toBe(0);
    const [child] = agent.children;
    expect(child.signal, facts).toMatch(/^SIG(TERM|KILL)$/);
    expect(child.oomKill, facts).toMatchObject({ cause: 'procguard-guard' });
    expect(agent.events.filter((e: { type: string }) => e.type === 'kill')[0], facts).toMatchObject({ pid: child.pid, dryRun: false });
    expect(agent.counters, facts).toMatchObject({ oomKill: 0, oomGroupKill: 0 });
    // The guard was on before the first spawn: the group kill is no startup warning here.
    expect(agent.logs.filter((l: { level: string; message: string }) => l.level === 'warn' && l.message.includes('kills the agent too'))).toEqual([]);
  });

  it('without the guard (the control), the kernel kills the whole container, agent included, at its limit', (context) => {
    const result = container(context, 'pod-no-guard', { agentReports: false });
    expect(result.agent, 'the agent never got to report').toBeNull();
    expect(result.runc.code, result.stderr).toBe(137); // runc run: the container's init died of SIGKILL
    expect(run!.kernelLog).toMatch(/pod-pod-no-guard\/ctr are going to be killed due to memory\.oom\.group set/);
  });
});

describe('runc, the same container with a writable cgroup mount', () => {
  it('per-child cgroups work: the agent moves into a leaf, the balloon is killed at its own cap, the cgroups are removed', (context) => {
    const result = container(context, 'pod-writable');
    const { agent } = result;
    const env = agent.status.environment;
    expect(env.cgroup).toMatchObject({ namespace: true, readOnly: false, writable: true, delegated: true });
    expect(env.perChildCgroups).toMatchObject({ available: true });
    const [prio, capped, pids] = agent.spawns;
    expect(prio).toMatchObject({ code: 0, stdout: '998\n5\n' });
    expect(capped).toMatchObject({ signal: 'SIGKILL', oomKill: { cause: 'cgroup-limit' } });
    expect(capped.cgroup.v2Dir).toMatch(/^\/sys\/fs\/cgroup\/procguard-\d+-1$/);
    expect(capped.resourceUsage.memory_events_oom_kill).toBeGreaterThanOrEqual(1);
    expect(pids).toMatchObject({ code: 0 });
    expect(pids.stdout).toMatch(/^0::\/procguard-\d+-2$/m);
    expect(agent.cgroupsAtEnd).toMatch(/^0::\/procguard-agent-\d+$/m);
    expect(result.containerCgroupGone).toBe(true);
  });
});
