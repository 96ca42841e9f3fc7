// The environment's pure parts: kubelet's QoS policy, the limits read from a cgroup tree (a
// directory tree of the same files here), and the conclusions drawn from facts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { conclude } from '../../lib/environment/conclusions';
import type { ConclusionFacts } from '../../lib/environment/conclusions';
import { qosClassOf, recognizePod } from '../../lib/environment/kubernetes';
import { readV1Limits, readV2Limits } from '../../lib/environment/limits';
import { unitDirOf } from '../../lib/environment/systemd';

describe("kubelet's oom_score_adj policy", () => {
  it('-997 Guaranteed, 1000 BestEffort, 2..999 Burstable, anything else no pod', () => {
    expect(qosClassOf(-997)).toBe('Guaranteed');
    expect(qosClassOf(1000)).toBe('BestEffort');
    expect([2, 500, 999].map(qosClassOf)).toEqual(['Burstable', 'Burstable', 'Burstable']);
    expect([0, 1, -1000, -998, 998 + 3].map(qosClassOf)).toEqual([null, null, null, null, null]);
  });

  it('a pod needs the policy together with a kubepods cgroup or KUBERNETES_SERVICE_HOST', () => {
    expect(recognizePod(500, ['/'], {})).toBeNull();
    expect(recognizePod(0, ['/kubepods.slice/x'], { KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toBeNull();
    expect(recognizePod(-997, ['/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope'], {})).toEqual({
      qosClass: 'Guaranteed',
      evidence: ["oom_score_adj -997: kubelet's value for a Guaranteed pod", 'cgroup /kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope'],
    });
    expect(recognizePod(1000, ['/'], { KUBERNETES_SERVICE_HOST: '10.0.0.1' })?.qosClass).toBe('BestEffort');
  });
});

describe('limits above the agent', () => {
  let tree: string;
  afterEach(() => fs.rmSync(tree, { recursive: true, force: true }));
  function cgroupTree(files: Record<string, string>): string {
    tree = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-cgtree-'));
    for (const [file, value] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
      fs.writeFileSync(path.join(tree, file), `${value}\n`);
    }
    return tree;
  }

  it('v2: the nearest memory.max, memory.high, memory.swap.max; the group kill the kernel would do', () => {
    const top = cgroupTree({
      'pod/memory.max': String(512 * 2 ** 20),
      'pod/memory.high': 'max',
      'pod/memory.oom.group': '1',
      'pod/memory.swap.max': '0',
      'pod/agent/memory.max': 'max',
      'pod/agent/memory.high': String(400 * 2 ** 20),
      'pod/agent/memory.oom.group': '0',
      'pod/agent/memory.swap.max': 'max',
    });
    expect(readV2Limits(path.join(top, 'pod/agent'), top)).toEqual({
      memoryMax: { bytes: 512 * 2 ** 20, cgroup: path.join(top, 'pod') },
      memoryHigh: { bytes: 400 * 2 ** 20, cgroup: path.join(top, 'pod/agent') },
      memorySwapMax: { bytes: 0, cgroup: path.join(top, 'pod') },
      oomGroup: false,
      groupKill: path.join(top, 'pod'),
    });
  });

  it('v2: memory.oom.group above the cgroup whose limit is hit does not group-kill', () => {
    const top = cgroupTree({ 'a/memory.oom.group': '1', 'a/b/memory.max': '1048576', 'a/b/memory.oom.group': '0' });
    expect(readV2Limits(path.join(top, 'a/b'), top)).toMatchObject({ groupKill: null, oomGroup: false });
  });

  it('v1: memory.limit_in_bytes below "unlimited", swap from memsw', () => {
    const top = cgroupTree({
      'memory.limit_in_bytes': '9223372036854771712',
      'job/memory.limit_in_bytes': '104857600',
      'job/memory.memsw.limit_in_bytes': '104857600',
    });
    expect(readV1Limits(path.join(top, 'job'), top)).toEqual({
      memoryMax: { bytes: 104857600, cgroup: path.join(top, 'job') },
      memoryHigh: null,
      memorySwapMax: { bytes: 0, cgroup: path.join(top, 'job') },
      oomGroup: null,
      groupKill: null,
    });
  });
});

describe('the systemd unit from the cgroup path', () => {
  it('the nearest *.service or *.scope, inside the mount', () => {
    const mount = '/sys/fs/cgroup';
    expect(unitDirOf('/sys/fs/cgroup/system.slice/agent.service', mount)).toBe('/sys/fs/cgroup/system.slice/agent.service');
    expect(unitDirOf('/sys/fs/cgroup/system.slice/agent.service/main', mount)).toBe('/sys/fs/cgroup/system.slice/agent.service');
    expect(unitDirOf('/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope', mount)).toBe('/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope');
    expect(unitDirOf('/sys/fs/cgroup/', mount)).toBeNull();
    expect(unitDirOf('/sys/fs/cgroup/kubepods/pod1', mount)).toBeNull();
  });
});

describe('conclusions', () => {
  const base: ConclusionFacts = {
    agentOomScoreAdj: 0,
    namespace: false,
    limits: null,
    systemd: null,
    kubernetes: null,
    perChildCgroups: { available: true, parent: '/sys/fs/cgroup/agent', reason: "the agent's cgroup /sys/fs/cgroup/agent is writable" },
    guard: false,
  };

  it('per-child cgroups on or off, with the reason and the fix; neither is a warning', () => {
    expect(conclude(base)).toEqual([{
      code: 'PROCGUARD_CGROUPS_ON',
      conclusion: 'per-child cgroups on, made in /sys/fs/cgroup/agent',
      reason: "the agent's cgroup /sys/fs/cgroup/agent is writable",
      unprotected: false,
    }]);
    const off = conclude({ ...base, perChildCgroups: { available: false, parent: null, reason: '/sys/fs/cgroup is read-only', fix: 'a writable mount' } });
    expect(off).toEqual([{ code: 'PROCGUARD_CGROUPS_OFF', conclusion: 'per-child cgroups off', reason: '/sys/fs/cgroup is read-only; a writable mount', unprotected: false }]);
  });

  it("memory.oom.group=1 at the container's limit: the agent dies with a child at the limit, start the guard", () => {
    const limits = {
      memoryMax: { bytes: 512 * 2 ** 20, cgroup: '/sys/fs/cgroup' },
      memoryHigh: null,
      memorySwapMax: null,
      oomGroup: true,
      groupKill: '/sys/fs/cgroup',
    };
    const [, groupKill] = conclude({ ...base, namespace: true, limits });
    expect(groupKill).toEqual({
      code: 'PROCGUARD_OOM_GROUP',
      conclusion: "a child reaching this container's limit kills the agent too, whatever its oom_score_adj: start the guard",
      reason: 'memory.oom.group=1 at /sys/fs/cgroup, memory.max 512M at /sys/fs/cgroup',
      unprotected: true,
    });
    const [, guarded] = conclude({ ...base, namespace: true, limits, guard: true });
    expect(guarded).toMatchObject({
      conclusion: "a child reaching this container's limit would kill the agent too, whatever its oom_score_adj; the guard is on and kills such a child first",
      unprotected: false,
    });
  });

  it('memory.high below memory.max: the throttle band stalls the agent with its children', () => {
    const limits = {
      memoryMax: { bytes: 2 ** 30, cgroup: '/u' },
      memoryHigh: { bytes: 2 ** 29, cgroup: '/u' },
      memorySwapMax: null,
      oomGroup: false,
      groupKill: null,
    };
    const high = conclude({ ...base, limits }).find((c) => c.code === 'PROCGUARD_MEMORY_HIGH');
    expect(high).toMatchObject({ unprotected: true, reason: 'memory.high 512M at /u below memory.max 1024M' });
    expect(conclude({ ...base, limits: { ...limits, memoryHigh: null } }).some((c) => c.code === 'PROCGUARD_MEMORY_HIGH')).toBe(false);
  });

  it('agent oom_score_adj 1000 (a BestEffort pod): children cannot rank below the agent', () => {
    const kubernetes = { qosClass: 'BestEffort' as const, evidence: ["oom_score_adj 1000: kubelet's value for a BestEffort pod", 'KUBERNETES_SERVICE_HOST=10.0.0.1'] };
    const codes = conclude({ ...base, agentOomScoreAdj: 1000, kubernetes });
    expect(codes.map((c) => [c.code, c.unprotected])).toEqual([
      ['PROCGUARD_CGROUPS_ON', false],
      ['PROCGUARD_AGENT_OOM_SCORE_MAX', true],
      ['PROCGUARD_KUBERNETES', false],
    ]);
    expect(codes[1].reason).toBe('agent oom_score_adj 1000 (a BestEffort pod)');
    expect(conclude({ ...base, agentOomScoreAdj: 999 }).some((c) => c.unprotected)).toBe(false);
  });
});
