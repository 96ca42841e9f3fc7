// A library inside someone's agent must never be that agent's problem: no abort, whatever a
// worker is doing when it is terminated; and a spawn that fails at a real limit (a full pids
// cgroup, no fds left) gives exactly the events Node's own gives, with no fd left behind.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES } from './helpers/agent';
import { hostCgroups } from './helpers/cgroup';
import { lastJson, REPO } from './helpers/run-node';

interface AtLimit {
  events: string[];
  pid: number | null;
  fdsLeft: number;
}

const AT_LIMIT = path.join(FIXTURES, 'spawn-at-limit.cjs');
const MODULES = ['node:child_process', 'procguard'] as const;

/** Runs the fixture through `sh -c` (so a limit can be set first) for each module. */
function atLimit(shellPrefix: string, mode: string, env: Record<string, string> = {}): Record<(typeof MODULES)[number], AtLimit> {
  const out = {} as Record<(typeof MODULES)[number], AtLimit>;
  for (const module of MODULES) {
    const r = spawnSync('/bin/sh', ['-c', `${shellPrefix} exec "$0" "$@"`, process.execPath, AT_LIMIT, module, mode], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status, `${module}: ${r.stderr}`).toBe(0);
    out[module] = lastJson<AtLimit>({ status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr });
  }
  return out;
}

describe('worker.terminate() while the worker spawns', () => {
  it('30 rounds of 4 workers spawning in a tight loop, terminated after 100 ms: the process survives every round', () => {
    const r = spawnSync(process.execPath, [path.join(FIXTURES, 'worker-spawn-loop.cjs'), '30', '4', '100'], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.stderr).not.toMatch(/terminate called|Napi::Error|FATAL ERROR/);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('survived 30');
  });
});

describe('a spawn that fails between the pipes and exec', () => {
  it('clone() at a full pids.max: one EAGAIN error and close, as Node, no stream errors, no fd left', () => {
    const pids = hostCgroups().v1.get('pids');
    if (!pids) throw new Error('this test needs the pids controller (cgroup v1 pids hierarchy)');
    const dir = path.join(pids, `procguard-test-pids-${process.pid}`);
    fs.mkdirSync(dir);
    try {
      const runs = atLimit(`echo $$ > ${dir}/cgroup.procs &&`, 'pids', { PIDS_DIR: dir });
      expect(runs['node:child_process'].events).toEqual(['error EAGAIN spawn /bin/true', 'close -11 null']);
      expect(runs.procguard.events).toEqual(runs['node:child_process'].events);
      expect(runs.procguard.pid).toBe(runs['node:child_process'].pid);
      expect(runs.procguard.fdsLeft).toBe(0);
    } finally {
      fs.rmdirSync(dir);
    }
  });

  // 1 and 3 free fds: a socketpair for the child's stdio fails; 7: the pipes exist and the next fd
  // (the exec report, the pidfd) cannot be had.
  it.each([1, 3, 7])('ulimit -n with %i fds free: one EMFILE error and close, as Node, no fd left', (free) => {
    const runs = atLimit('ulimit -n 64 &&', 'fds', { FREE_FDS: String(free) });
    expect(runs.procguard.events).toEqual(['error EMFILE spawn /bin/true', 'close -24 null']);
    expect(runs.procguard.events).toEqual(runs['node:child_process'].events);
    expect(runs.procguard.fdsLeft).toBe(0);
  });
});
