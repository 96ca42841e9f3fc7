// A library inside someone's agent must never be that agent's problem: no abort, whatever a
// worker is doing when it is terminated; and a spawn that fails at a real limit (a full pids
// cgroup, no fds left, a cgroup the kernel will not let the child join) gives exactly what
// Node's own gives for that errno, with no fd, zombie or cgroup left behind.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES } from './helpers/agent';
import { cgroupParents, hostCgroups } from './helpers/cgroup';
import { lastJson, REPO } from './helpers/run-node';
import { requireSystem } from './helpers/system';

interface AtLimit {
  events: string[];
  pid: number | null;
  /** child.cgroup's directories, in 'cgroup' mode. */
  cgroup?: string[] | null;
  fdsLeft: number;
  /** The fixture's child processes, zombies included, once the spawn has failed. */
  children: string[];
  /** Its procguard-<pid>-<n> cgroups still there then. */
  cgroupsLeft: string[];
}

const AT_LIMIT = path.join(FIXTURES, 'spawn-at-limit.cjs');
const MODULES = ['node:child_process', 'procguard'] as const;
type Module = (typeof MODULES)[number];

/** Runs the fixture through `sh -c` (so a limit can be set first) with one module, as root or as `user`. */
function runAtLimit(module: Module, shellPrefix: string, mode: string, env: Record<string, string>, user?: { uid: number; gid: number }): AtLimit {
  const r = spawnSync('/bin/sh', ['-c', `${shellPrefix} exec "$0" "$@"`, process.execPath, AT_LIMIT, module, mode], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
    timeout: 30_000,
    ...user,
  });
  expect(r.status, `${module}: ${r.stderr}`).toBe(0);
  return lastJson<AtLimit>({ status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr });
}

/** The fixture at a limit, once with each module. */
function atLimit(shellPrefix: string, mode: string, env: Record<string, string> = {}): Record<Module, AtLimit> {
  const out = {} as Record<Module, AtLimit>;
  for (const module of MODULES) out[module] = runAtLimit(module, shellPrefix, mode, env);
  return out;
}

/** Where the fixture's children's cgroups go besides the configured v2 parent: its v1 hierarchies (inherited from this process). */
function v1Parents(): string[] {
  return cgroupParents({ ...hostCgroups(), v2: null });
}

/** No fd, child process (zombie or not) or cgroup of the spawn left. */
function expectNothingLeft(run: AtLimit): void {
  expect(run.fdsLeft).toBe(0);
  expect(run.children).toEqual([]);
  expect(run.cgroupsLeft).toEqual([]);
}

function v2Cgroup(): string {
  const v2 = hostCgroups().v2;
  if (!v2) throw new Error('this test needs a cgroup v2 tree (the hybrid host has /sys/fs/cgroup/unified)');
  return v2;
}

/**
 * Runs `test` with a threaded cgroup v2 (under a thread root made here): a cgroup made in it
 * starts "domain invalid", and the kernel lets no process into one (EOPNOTSUPP).
 */
function withThreadedCgroup(test: (threaded: string) => void): void {
  const root = path.join(v2Cgroup(), `procguard-test-threaded-${process.pid}`);
  const threaded = path.join(root, 'threads');
  fs.mkdirSync(threaded, { recursive: true });
  try {
    fs.writeFileSync(path.join(threaded, 'cgroup.type'), 'threaded');
    test(threaded);
  } finally {
    fs.rmdirSync(threaded);
    fs.rmdirSync(root);
  }
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

// The kernel refuses the child's join of its own cgroup (at clone3's CLONE_INTO_CGROUP, or at the
// child's write of cgroup.procs), after the pipes were made: the spawn fails exactly as a
// failed uv_spawn with that errno fails in Node (an 'error' then 'close' for EACCES, EAGAIN,
// EMFILE, ENFILE, ENOENT; a synchronous throw for any other), and the cgroups made for it go;
// unless cgroup.required is false, which runs the command without one.
describe('a spawn whose child the kernel will not let into its own cgroup', () => {
  it('cgroupParent a threaded cgroup (its new child cgroup is "domain invalid"): spawn throws Node\'s ENOTSUP, spawnSync returns it, nothing left behind', () => {
    withThreadedCgroup((threaded) => {
      const run = runAtLimit('procguard', '', 'cgroup', { CGROUP_PARENT: threaded, CGROUP_DIRS: [threaded, ...v1Parents()].join(':') });
      // EOPNOTSUPP (95) is libuv's ENOTSUP; Node throws it from spawn() (ErrnoException(err, 'spawn')) and emits nothing.
      expect(run.events).toEqual([
        'throw ENOTSUP spawn -95',
        'spawnSync ENOTSUP spawnSync /bin/true -95 status null signal null pid 0 output null',
      ]);
      expect(run.pid).toBeNull();
      expectNothingLeft(run);
    });
  });

  it('with cgroup.required false the command runs without a cgroup, once the kernel refused the join, with one warning saying so', () => {
    withThreadedCgroup((threaded) => {
      const env = { CGROUP_PARENT: threaded, CGROUP_DIRS: [threaded, ...v1Parents()].join(':'), CGROUP_REQUIRED: 'false' };
      const run = runAtLimit('procguard', '', 'cgroup', env);
      expect(run.events).toEqual(['warning PROCGUARD_CGROUP_UNAVAILABLE', 'spawn', 'exit 0 null', 'close 0 null', 'spawnSync exit 0 null cgroup null']);
      expect(run.pid).toBeGreaterThan(0);
      expect(run.cgroup).toBeNull();
      expectNothingLeft(run);
    });
  });

  it('an unprivileged agent outside its delegated cgroupParent (no write access to the common ancestor): one EACCES error and close, as Node, nothing left behind', () => {
    const sys = requireSystem();
    // Delegated as systemd's Delegate=yes does it: the directory and its cgroup.procs,
    // cgroup.subtree_control and cgroup.threads belong to the user; the agent itself stays in
    // this process's cgroup, whose cgroup.procs it may not write.
    const delegated = path.join(v2Cgroup(), `procguard-test-delegated-${process.pid}`);
    fs.mkdirSync(delegated);
    try {
      for (const file of ['', 'cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']) fs.chownSync(path.join(delegated, file), sys.uid, sys.gid);
      const run = runAtLimit('procguard', '', 'cgroup', { CGROUP_PARENT: delegated, CGROUP_DIRS: [delegated, ...v1Parents()].join(':') }, sys);
      expect(run.events).toEqual([
        'error EACCES spawn /bin/true',
        'close -13 null',
        'spawnSync EACCES spawnSync /bin/true -13 status null signal null pid 0 output null',
      ]);
      expect(run.pid).toBeNull();
      expectNothingLeft(run);
    } finally {
      fs.rmdirSync(delegated);
    }
  });
});
