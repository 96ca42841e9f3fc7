// status().environment read from the kernel: on this machine as it is, and in a pod's view of it
// made with unshare (a cgroup namespace of its own, a fresh cgroup2 mount read-only or writable,
// an oom_score_adj as kubelet sets it, KUBERNETES_SERVICE_HOST), with an agent spawning inside.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CGROUP_AGENT, hostCgroups } from './helpers/cgroup';
import type { CgroupAgentPlan, CgroupAgentResult } from './helpers/cgroup';
import { runNode, lastJson } from './helpers/run-node';

const root = process.getuid?.() === 0;
const host = hostCgroups();
const unshareWorks = root && spawnSync('unshare', ['--mount', '--cgroup', 'true']).status === 0;
const requirement = !root ? 'needs root (unshare, cgroup mounts)' : !unshareWorks ? 'unshare --mount --cgroup fails here' : !host.v2 ? 'no cgroup v2 tree here' : null;
if (requirement && process.env.CI) throw new Error(`environment tests: ${requirement}, and CI is set`);

describe('status().environment on this machine', () => {
  it('reads the cgroup mode, the own cgroup, the namespace and the mount from the kernel', () => {
    const run = runNode("console.log(JSON.stringify(require('procguard').status().environment))");
    const env = lastJson(run);
    const ownV2 = /^0::(.*)$/m.exec(fs.readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? null;
    expect(env.cgroup.mode).toBe(host.v1.size === 0 ? 'v2' : host.v2 ? 'hybrid' : 'v1');
    expect(env.cgroup.path).toBe(ownV2);
    expect(env.cgroup.namespace).toBe(fs.readlinkSync('/proc/self/ns/cgroup') !== 'cgroup:[4026531835]');
    expect(env.cgroup.readOnly).toBe(false);
    expect(env.systemd).toBeNull();
    expect(env.kubernetes).toBeNull();
    expect(env.conclusions.map((c: { code: string }) => c.code)).toContain(env.perChildCgroups.available ? 'PROCGUARD_CGROUPS_ON' : 'PROCGUARD_CGROUPS_OFF');
  });

  it('`procguard status` shows the environment and each conclusion with its reason', () => {
    const run = runNode('', { file: path.join('dist', 'cjs', 'cli', 'main.js'), args: ['status'] });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^cgroup mode: +(hybrid|pure cgroup v2|v1)$/m);
    expect(run.stdout).toMatch(/^cgroup namespace: +no$/m);
    expect(run.stdout).toMatch(/^conclusion: +per-child cgroups (on|off).* \(.+\)$/m);
  });
});

// A pod's view, built as a container runtime builds it: the agent in a cgroup of its own, then a
// new cgroup namespace rooted there and a fresh cgroup2 mount on /sys/fs/cgroup (nothing of the
// host's hierarchies left visible), the oom_score_adj kubelet gives the QoS class.
const made: string[] = [];
afterAll(() => {
  for (const dir of made) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // children's cgroups still going away: the next run's agent cleans them
    }
  }
});

function inPod(view: { mount: 'ro' | 'rw'; oomScoreAdj: number }, plan: CgroupAgentPlan): CgroupAgentResult {
  const dir = path.join(host.v2!, `pg-envtest-${process.pid}-${made.length}`);
  made.push(dir);
  fs.mkdirSync(dir);
  const pod = [
    'set -e',
    'echo $$ > "$1/cgroup.procs"',
    'echo "$2" > /proc/self/oom_score_adj',
    'shift 2',
    // In the new mount namespace only: the host's /sys/fs/cgroup goes, the pod's own comes.
    `exec unshare --mount --cgroup --propagation private sh -c 'umount -R /sys/fs/cgroup && mount -t cgroup2 -o ${view.mount},nosuid,nodev,noexec cgroup2 /sys/fs/cgroup && exec "$@"' sh "$@"`,
  ].join('\n');
  const r = spawnSync('/bin/sh', ['-c', pod, 'pod', dir, String(view.oomScoreAdj), process.execPath, CGROUP_AGENT, JSON.stringify(plan)], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KUBERNETES_SERVICE_HOST: '10.96.0.1', CODER_PROC_PRIO_MGMT: '1' },
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('CGROUP_AGENT '));
  if (!line) throw new Error(`no result from the agent in the pod (status ${r.status})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(line.slice('CGROUP_AGENT '.length));
}

const priorities = { command: 'sh', args: ['-c', 'cat /proc/self/oom_score_adj; nice'] };

describe.skipIf(requirement)("in a pod's view (unshare: cgroup namespace, fresh cgroup2 mount)", () => {
  it('Burstable pod, /sys/fs/cgroup read-only: priorities work, per-child cgroups are off with the reason and the fix', () => {
    const result = inPod({ mount: 'ro', oomScoreAdj: 500 }, {
      status: true,
      spawns: [
        priorities,
        { command: 'true', options: { cgroup: {} } },
        { command: 'true', options: { cgroup: { required: false } } },
        { command: 'true', options: { cgroup: { required: false } }, sync: true },
      ],
    });
    const env = result.status!.environment!;
    expect(env.cgroup).toMatchObject({ mode: 'v2', path: '/', dir: '/sys/fs/cgroup/', namespace: true, readOnly: true, writable: false, delegated: false });
    expect(env.kubernetes).toEqual({
      qosClass: 'Burstable',
      evidence: ["oom_score_adj 500: kubelet's value for a Burstable pod", 'KUBERNETES_SERVICE_HOST=10.96.0.1'],
    });
    expect(env.perChildCgroups).toMatchObject({ available: false, reason: '/sys/fs/cgroup is read-only: a container without a writable cgroup mount' });
    expect(env.perChildCgroups.fix).toContain('containerd 2.1+ `cgroup_writable = true`');
    expect(env.conclusions.map((c) => c.code)).toEqual(['PROCGUARD_CGROUPS_OFF', 'PROCGUARD_KUBERNETES']);
    expect(env.conclusions.every((c) => !c.unprotected)).toBe(true);

    const [prio, required, optional, optionalSync] = result.spawns;
    expect(prio).toMatchObject({ code: 0, stdout: '998\n5\n' });
    expect(required.thrown?.code).toBe('ERR_PROCGUARD_CGROUP_UNAVAILABLE');
    expect(required.thrown?.message).toContain('/sys/fs/cgroup is read-only');
    expect(required.thrown?.message).toContain('fix: a writable cgroup mount');
    expect(optional).toMatchObject({ code: 0, cgroup: null });
    expect(optionalSync).toMatchObject({ status: 0 });
    const said = result.logs.filter((l) => l.level === 'warn');
    expect(said.map((l) => l.message)).toEqual(['running the command without its own cgroup (cgroup.required is false)']);
    expect(String(said[0].fields?.reason)).toContain('read-only');
  });

  it('BestEffort pod (oom_score_adj 1000): one startup warning, children cannot rank below the agent', () => {
    const result = inPod({ mount: 'ro', oomScoreAdj: 1000 }, { status: true, spawns: [priorities] });
    const env = result.status!.environment!;
    expect(env.kubernetes?.qosClass).toBe('BestEffort');
    expect(env.conclusions.find((c) => c.unprotected)).toEqual({
      code: 'PROCGUARD_AGENT_OOM_SCORE_MAX',
      conclusion: 'children cannot rank below the agent: the OOM killer may pick the agent first',
      reason: 'agent oom_score_adj 1000 (a BestEffort pod)',
      unprotected: true,
    });
    expect(result.logs.filter((l) => l.level === 'warn')).toEqual([
      { level: 'warn', message: 'children cannot rank below the agent: the OOM killer may pick the agent first', fields: { reason: 'agent oom_score_adj 1000 (a BestEffort pod)' } },
    ]);
    expect(result.spawns[0]).toMatchObject({ code: 0, stdout: '1000\n5\n' });
  });

  it('a writable cgroup mount: per-child cgroups on, made inside the namespace and removed', () => {
    const result = inPod({ mount: 'rw', oomScoreAdj: 500 }, { status: true, spawns: [{ command: 'cat', args: ['/proc/self/cgroup'], options: { cgroup: {} } }] });
    const env = result.status!.environment!;
    expect(env.cgroup).toMatchObject({ namespace: true, readOnly: false, writable: true, delegated: true });
    expect(env.perChildCgroups).toMatchObject({ available: true, parent: '/sys/fs/cgroup/' });
    const [child] = result.spawns;
    expect(child).toMatchObject({ code: 0 });
    expect(child.cgroup?.v2Dir).toMatch(/^\/sys\/fs\/cgroup\/procguard-\d+-1$/);
    expect(child.stdout).toMatch(/^0::\/procguard-\d+-1$/m);
    expect(result.logs.filter((l) => l.level === 'warn')).toEqual([]);
    // Seen from the host: the pod's cgroup holds nothing of procguard's once the agent is gone.
    expect(fs.readdirSync(made[made.length - 1]).filter((e) => e.startsWith('procguard-'))).toEqual([]);
  });
});
