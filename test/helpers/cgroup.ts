// For the per-child cgroup tests: where this process's cgroups are (read independently of
// procguard's own code), the procguard-<pid>-<n> directories an agent left, and an agent
// subprocess (test/fixtures/cgroup-agent.cjs) run inside a memory-limited cgroup or as another user.
import { spawn as nodeSpawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createMemoryCgroup } from '../../lib/pressure/memory-cgroup';
import type { MemoryCgroup } from '../../lib/pressure/memory-cgroup';
import { FIXTURES } from './agent';

export const CGROUP_AGENT = path.join(FIXTURES, 'cgroup-agent.cjs');
export const BALLOON = path.join(FIXTURES, 'cgroup-balloon.cjs');
export const MB = 2 ** 20;

export interface HostCgroups {
  /** This process's directory in the cgroup v2 tree (on a hybrid host: /sys/fs/cgroup/unified/...). */
  v2: string | null;
  /** This process's directory per cgroup v1 controller. */
  v1: Map<string, string>;
  /** The controllers the v2 tree offers this process's children. */
  v2Controllers: string[];
}

export function hostCgroups(pid: number | 'self' = 'self'): HostCgroups {
  const own = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) for (const c of m[1].split(',')) own.set(c, m[2]);
  }
  let v2: string | null = null;
  const v1 = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const [fstype, , superOptions = ''] = right.split(' ');
    const f = left.split(' ');
    const root = f[3];
    const point = f[4];
    const inMount = (p: string) => path.join(point, root !== '/' && p.startsWith(root) ? p.slice(root.length) : p);
    if (fstype === 'cgroup2' && own.has('')) v2 = inMount(own.get('')!);
    if (fstype === 'cgroup') for (const c of superOptions.split(',')) if (own.has(c)) v1.set(c, inMount(own.get(c)!));
  }
  let v2Controllers: string[] = [];
  try {
    if (v2) v2Controllers = fs.readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    // no v2 tree
  }
  return { v2, v1, v2Controllers };
}

/** Which hierarchy holds the memory controller for children here. */
export function memoryVersion(cgroups = hostCgroups()): 1 | 2 | null {
  if (cgroups.v2Controllers.includes('memory')) return 2;
  return cgroups.v1.has('memory') ? 1 : null;
}

/** The procguard-<pid>-<n> directories that exist now under `parents` (default: this process's cgroups). */
export function procguardDirsOf(agentPid: number, parents = cgroupParents()): string[] {
  const pattern = new RegExp(`^procguard-${agentPid}-\\d+$`);
  const found: string[] = [];
  for (const parent of parents) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(parent);
    } catch {
      continue;
    }
    for (const e of entries) if (pattern.test(e)) found.push(path.join(parent, e));
  }
  return found;
}

/** The directories child cgroups are made in: the v2 one and the v1 memory, pids, cpu and blkio ones (lib/cgroup's V1_HIERARCHY). */
export function cgroupParents(cgroups = hostCgroups()): string[] {
  return [cgroups.v2, ...['memory', 'pids', 'cpu', 'blkio'].map((c) => cgroups.v1.get(c))].filter((d): d is string => !!d);
}

export function readFile(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}

/** Whether a process is running (not gone, not a zombie). */
export function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export interface AgentSpawnView {
  pid?: number;
  code?: number | null;
  signal?: string | null;
  status?: number | null;
  cgroup?: { dirs: string[]; v2Dir: string | null; memory: { version: 1 | 2; dir: string } | null } | null;
  resourceUsage?: Record<string, number> | null;
  oomKill?: { cause: string; confidence: string; evidence: string[]; kernelLine?: string } | null;
  thrown?: { name: string; code: string; message: string };
  error?: { name: string; code: string; message: string };
  stdout?: string;
  stderr?: string;
}

export interface CgroupAgentResult {
  pid: number;
  cgroupsAtStart: string;
  cgroupsAtEnd?: string;
  spawns: AgentSpawnView[];
  logs: { level: string; message: string; fields?: Record<string, unknown> }[];
  status?: import('../../lib/types').Status;
}

export interface CgroupAgentPlan {
  configure?: Record<string, unknown>;
  spawns: { command: string; args?: string[]; options?: Record<string, unknown>; sync?: boolean }[];
  /** status() before the first spawn, returned as result.status. */
  status?: true;
  then?: 'exit' | 'exit-in-exit-handler' | 'sigkill-self';
}

export interface CgroupAgentRun {
  result: CgroupAgentResult;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The memory cgroup the agent ran in, when one was asked for (already removed). */
  agentCgroup?: { version: 1 | 2; dir: string; limitBytes: number };
}

/**
 * Runs the cgroup agent, inside a new memory cgroup of `memoryLimitBytes` (a child of this
 * process's own memory cgroup: the agent and everything it starts is inside from the first
 * instruction) or as another user. The cgroup is removed afterwards.
 */
export async function runCgroupAgent(
  plan: CgroupAgentPlan | Record<string, unknown>,
  launch: { memoryLimitBytes?: number; uid?: number; gid?: number; timeoutMs?: number; script?: string; env?: Record<string, string> } = {},
): Promise<CgroupAgentRun> {
  let cgroup: MemoryCgroup | undefined;
  if (launch.memoryLimitBytes) cgroup = createMemoryCgroup({ limitBytes: launch.memoryLimitBytes, name: 'pg-cgtest-agent' });
  const script = 'if [ -n "$1" ]; then echo $$ > "$1" || exit 97; fi; shift; exec "$@"';
  const agent = launch.script ?? CGROUP_AGENT;
  const child = nodeSpawn('/bin/sh', ['-c', script, 'pg-cgtest-launcher', cgroup?.procsFile ?? '', process.execPath, agent, JSON.stringify(plan)], {
    cwd: '/tmp',
    uid: launch.uid,
    gid: launch.gid,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...launch.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the cgroup agent did not finish within ${launch.timeoutMs ?? 60000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, launch.timeoutMs ?? 60000);
      child.on('error', reject);
      child.on('close', (c, s) => {
        clearTimeout(timer);
        resolve([c, s]);
      });
    });
    const line = stdout.split('\n').find((l) => l.startsWith('CGROUP_AGENT '));
    if (!line) throw new Error(`the cgroup agent printed no result (exit ${code ?? signal})\nstdout: ${stdout}\nstderr: ${stderr}`);
    const result = JSON.parse(line.slice('CGROUP_AGENT '.length));
    if (result.fatal) throw new Error(`the cgroup agent failed: ${result.stack}\nstderr: ${stderr}`);
    return { result, code, signal, stderr, agentCgroup: cgroup && { version: cgroup.version, dir: cgroup.dir, limitBytes: cgroup.limitBytes } };
  } finally {
    if (cgroup) await removeTree(cgroup);
  }
}

/** Ends what is left in the agent's cgroup (all started by this run) and removes it, children first. */
async function removeTree(cgroup: MemoryCgroup): Promise<void> {
  const dirs: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
    dirs.push(dir);
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    dirs.length = 0;
    if (!fs.existsSync(cgroup.dir)) return;
    walk(cgroup.dir);
    let busy = false;
    for (const dir of dirs) {
      for (const pid of readFile(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number)) {
        busy = true;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    if (!busy) {
      try {
        for (const dir of dirs) fs.rmdirSync(dir);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
    if (Date.now() > deadline) throw new Error(`cgroup ${cgroup.dir} still holds processes`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
