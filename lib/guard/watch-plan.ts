// What the guard watches on this machine, and why: the agent's cgroup with a limit (headroom),
// a cgroup with memory.high below memory.max (the throttle band), the PSI source for that band
// (systemd's $MEMORY_PRESSURE_WATCH first), and the machine's MemAvailable. Read-only: all of it
// is readable without privilege, in a pod with a read-only /sys/fs/cgroup too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeAccess } from '../cgroup/delegation';
import { findMemoryHierarchy, selfAndAncestors } from '../pressure/cgroup-hierarchy';
import type { GuardSettings } from './options';

export interface WatchedScope {
  version: 1 | 2;
  dir: string;
  /** Files the native thread opens. */
  usage: string;
  limit: string;
  high?: string;
  events?: string;
  stat: string;
  /** memory.reclaim (v2) / memory.force_empty (v1), when this process may write it. */
  reclaim?: string;
  headroom: boolean;
  band: boolean;
  /** At planning time. */
  limitBytes: number;
  usageBytes: number;
  highBytes?: number;
  oomGroup?: boolean;
  /** One sentence: what goes wrong here without the guard. */
  why: string;
}

export interface PsiSource {
  file: string;
  /** Trigger strings written to the file, e.g. 'full 400000 2000000'. */
  triggers: string[];
  /** Index of the scope it belongs to in `scopes`, -1 for the machine. */
  scope: number;
  /** Where it came from. */
  origin: 'MEMORY_PRESSURE_WATCH' | 'cgroup';
}

export interface WatchPlan {
  scopes: WatchedScope[];
  psi: PsiSource | null;
  machine: { memTotalBytes: number; memAvailableBytes: number; swapTotalBytes: number; why: string } | null;
  /** Why something is not watched (no limit anywhere, no memory cgroup, ...). */
  notes: string[];
}

const UNLIMITED = 2 ** 60;

function readNumber(file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (text === 'max') return Infinity;
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'unlimited';
  if (Math.abs(bytes) >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}

function readMeminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of fs.readFileSync('/proc/meminfo', 'utf8').split('\n')) {
      const m = /^(\w+):\s+(\d+) kB$/.exec(line);
      if (m) out[m[1]] = Number(m[2]) * 1024;
    }
  } catch {
    // not Linux
  }
  return out;
}

function limitScope(version: 1 | 2, dir: string): WatchedScope {
  const f = (name: string) => path.join(dir, name);
  const usage = f(version === 2 ? 'memory.current' : 'memory.usage_in_bytes');
  const limit = f(version === 2 ? 'memory.max' : 'memory.limit_in_bytes');
  const reclaim = f(version === 2 ? 'memory.reclaim' : 'memory.force_empty');
  const oomGroup = version === 2 ? readNumber(f('memory.oom.group')) === 1 : undefined;
  const limitBytes = readNumber(limit) ?? Infinity;
  const scope: WatchedScope = {
    version,
    dir,
    usage,
    limit,
    stat: f('memory.stat'),
    reclaim: fs.existsSync(reclaim) && writeAccess(reclaim) === null ? reclaim : undefined,
    headroom: false,
    band: false,
    limitBytes,
    usageBytes: readNumber(usage) ?? 0,
    oomGroup,
    why: '',
  };
  return scope;
}

/** Reads the machine and the agent's cgroups now. */
export function planWatch(settings: GuardSettings, env: NodeJS.ProcessEnv = process.env): WatchPlan {
  const notes: string[] = [];
  const scopes: WatchedScope[] = [];
  const hierarchy = findMemoryHierarchy();
  if ('error' in hierarchy) {
    notes.push(hierarchy.error);
  } else {
    const dirs = selfAndAncestors(hierarchy);
    const suffix = (name: string) => (hierarchy.version === 2 ? name : name.replace('memory.max', 'memory.limit_in_bytes'));
    // Headroom: the nearest cgroup with a limit (the agent's own, or its container's).
    const limited = dirs.find((dir) => {
      const limit = readNumber(path.join(dir, suffix('memory.max')));
      return limit !== undefined && limit < UNLIMITED;
    });
    if (limited) {
      const scope = limitScope(hierarchy.version, limited);
      scope.headroom = true;
      const limitFile = hierarchy.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
      scope.why = scope.oomGroup
        ? `agent cgroup limit ${formatBytes(scope.limitBytes)} (${limitFile} of ${limited}), memory.oom.group=1: without the guard a child reaching the limit kills the agent too`
        : `agent cgroup limit ${formatBytes(scope.limitBytes)} (${limitFile} of ${limited}): without the guard the kernel's OOM killer chooses inside it, by oom_score_adj, once the limit is reached`;
      scopes.push(scope);
    } else {
      notes.push(`no memory limit on the agent's cgroup or its ancestors (${hierarchy.ownDir})`);
    }
    // The throttle band (v2 only): memory.high below memory.max on the agent's cgroup or an ancestor.
    if (hierarchy.version === 2) {
      const banded = dirs.find((dir) => {
        const high = readNumber(path.join(dir, 'memory.high'));
        const max = readNumber(path.join(dir, 'memory.max'));
        return high !== undefined && high !== Infinity && (max === undefined || high < max);
      });
      if (banded) {
        let scope = scopes.find((s) => s.dir === banded);
        if (!scope) {
          scope = limitScope(2, banded);
          scopes.push(scope);
        }
        scope.band = true;
        scope.high = path.join(banded, 'memory.high');
        scope.events = path.join(banded, 'memory.events');
        scope.highBytes = readNumber(scope.high);
        const bandWhy = `memory.high ${formatBytes(scope.highBytes!)} below memory.max ${formatBytes(scope.limitBytes)} (${banded}): a child that settles between the two throttles every task of the cgroup, the agent included, and is never OOM-killed`;
        scope.why = scope.why ? `${scope.why}; ${bandWhy}` : bandWhy;
      }
    }
  }

  const psi = planPsi(scopes, settings, env, notes);

  let machine: WatchPlan['machine'] = null;
  const meminfo = readMeminfo();
  if (settings.watchMachine && meminfo.MemTotal) {
    const t = settings.thresholds;
    machine = {
      memTotalBytes: meminfo.MemTotal,
      memAvailableBytes: meminfo.MemAvailable ?? 0,
      swapTotalBytes: meminfo.SwapTotal ?? 0,
      why: `MemTotal ${formatBytes(meminfo.MemTotal)}, MemAvailable ${formatBytes(meminfo.MemAvailable ?? 0)}: below ${t.memTermPercent}% a child gets SIGTERM, below ${t.memKillPercent}% SIGKILL; the kernel would act later, after thrashing, and with SIGKILL only`,
    };
  }
  return { scopes, psi, machine, notes };
}

function planPsi(scopes: WatchedScope[], settings: GuardSettings, env: NodeJS.ProcessEnv, notes: string[]): PsiSource | null {
  const bandIndex = scopes.findIndex((s) => s.band);
  const t = settings.thresholds;
  const windowUs = t.bandWindowMs * 1000;
  const ownTriggers = [
    `full ${Math.round((windowUs * t.bandFullPercent) / 100)} ${windowUs}`,
    `some ${Math.round((windowUs * t.bandSomePercent) / 100)} ${windowUs}`,
  ];
  // systemd's MemoryPressureWatch=: the unit says where to watch and what to write.
  const watch = env.MEMORY_PRESSURE_WATCH;
  if (watch) {
    if (watch === '/dev/null') {
      notes.push('MEMORY_PRESSURE_WATCH=/dev/null: the unit turned memory pressure watching off');
      return null;
    }
    const write = env.MEMORY_PRESSURE_WRITE ? Buffer.from(env.MEMORY_PRESSURE_WRITE, 'base64').toString('utf8').replace(/\0+$/, '') : '';
    return { file: watch, triggers: write ? [write] : ownTriggers, scope: bandIndex, origin: 'MEMORY_PRESSURE_WATCH' };
  }
  if (bandIndex < 0) return null;
  return { file: path.join(scopes[bandIndex].dir, 'memory.pressure'), triggers: ownTriggers, scope: bandIndex, origin: 'cgroup' };
}

/** The files of a child's own cgroup for the native thread. */
export function childCgroupFiles(cgroup: { v2Dir?: string; memory?: { version: 1 | 2; dir: string } } | null): Record<string, unknown> {
  if (!cgroup) return {};
  const files: Record<string, unknown> = {};
  const memory = cgroup.memory;
  if (memory) {
    const f = (name: string) => path.join(memory.dir, name);
    files.version = memory.version;
    files.usage = f(memory.version === 2 ? 'memory.current' : 'memory.usage_in_bytes');
    files.limit = f(memory.version === 2 ? 'memory.max' : 'memory.limit_in_bytes');
    files.stat = f('memory.stat');
    const reclaim = f(memory.version === 2 ? 'memory.reclaim' : 'memory.force_empty');
    if (fs.existsSync(reclaim)) files.reclaim = reclaim;
  }
  const base = cgroup.v2Dir ?? memory?.dir;
  if (base) files.procs = path.join(base, 'cgroup.procs');
  if (cgroup.v2Dir && fs.existsSync(path.join(cgroup.v2Dir, 'cgroup.kill'))) files.kill = path.join(cgroup.v2Dir, 'cgroup.kill');
  return files;
}
