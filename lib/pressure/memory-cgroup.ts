// A memory cgroup made for one scenario: a hard limit with no swap and the OOM killer on,
// for cgroup v1 (memory.limit_in_bytes) and v2 (memory.max). Created as a child of this
// process's own cgroup when it can be, so the limit nests inside whatever already bounds us.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findMemoryHierarchy, MemoryHierarchy, readCgroupWords, selfAndAncestors } from './cgroup-hierarchy';

export interface MemoryCgroup {
  version: 1 | 2;
  /** The cgroup's directory. */
  dir: string;
  limitBytes: number;
  /** The file a process writes its pid into to join. */
  procsFile: string;
  /** The kernel's count of OOM kills in this cgroup; null when the kernel does not report it. */
  readOomKillCount(): number | null;
  /** The pids now in the cgroup. */
  readPids(): number[];
  /** Removes the cgroup once its processes are gone; throws if some are still there after `waitMs`. */
  remove(waitMs?: number): Promise<void>;
}

export class MemoryCgroupUnavailableError extends Error {
  constructor(readonly reasons: string[]) {
    super(`cannot create a memory cgroup: ${reasons.join('; ')}`);
    this.name = 'MemoryCgroupUnavailableError';
  }
}

let created = 0;

export interface CreateMemoryCgroupOptions {
  limitBytes: number;
  /** Name prefix of the cgroup directory. */
  name?: string;
}

/** Creates a limited memory cgroup, or throws MemoryCgroupUnavailableError saying why it cannot. */
export function createMemoryCgroup(options: CreateMemoryCgroupOptions): MemoryCgroup {
  const hierarchy = findMemoryHierarchy();
  if ('error' in hierarchy) throw new MemoryCgroupUnavailableError([hierarchy.error]);
  const name = `${options.name ?? 'procguard-pressure'}-${process.pid}-${++created}`;
  const reasons: string[] = [];
  for (const parent of parentCandidates(hierarchy)) {
    const dir = path.join(parent, name);
    try {
      fs.mkdirSync(dir);
    } catch (err) {
      reasons.push(`mkdir ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      continue;
    }
    try {
      if (hierarchy.version === 1) limitV1(dir, options.limitBytes);
      else limitV2(dir, options.limitBytes);
    } catch (err) {
      reasons.push(`limiting ${dir}: ${(err as Error).message}`);
      removeDirQuietly(dir);
      continue;
    }
    return makeHandle(hierarchy.version, dir, options.limitBytes);
  }
  throw new MemoryCgroupUnavailableError(reasons.length ? reasons : ['no cgroup to create a child in']);
}

/**
 * Where a child cgroup with the memory controller can be made. v1: our own cgroup (v1 allows
 * processes in inner cgroups). v2: the nearest of our cgroup and its ancestors that already
 * enables memory for its children, since a v2 cgroup holding processes cannot enable controllers.
 */
function parentCandidates(hierarchy: MemoryHierarchy): string[] {
  if (hierarchy.version === 1) return [hierarchy.ownDir];
  return selfAndAncestors(hierarchy).filter((dir) => readCgroupWords(path.join(dir, 'cgroup.subtree_control')).includes('memory'));
}

function write(dir: string, file: string, value: string): void {
  fs.writeFileSync(path.join(dir, file), value);
}

function limitV1(dir: string, limitBytes: number): void {
  // memory first: memsw (memory+swap) must never be below it.
  write(dir, 'memory.limit_in_bytes', String(limitBytes));
  if (fs.existsSync(path.join(dir, 'memory.memsw.limit_in_bytes'))) write(dir, 'memory.memsw.limit_in_bytes', String(limitBytes));
  else write(dir, 'memory.swappiness', '0');
  write(dir, 'memory.oom_control', '0'); // oom_kill_disable 0: the kernel kills instead of pausing the cgroup
  const oomControl = fs.readFileSync(path.join(dir, 'memory.oom_control'), 'utf8');
  if (!/^oom_kill_disable 0$/m.test(oomControl)) throw new Error(`the OOM killer stays disabled (${oomControl.trim()})`);
}

function limitV2(dir: string, limitBytes: number): void {
  if (!fs.existsSync(path.join(dir, 'memory.max'))) throw new Error('the memory controller is not enabled for it');
  write(dir, 'memory.max', String(limitBytes));
  if (fs.existsSync(path.join(dir, 'memory.swap.max'))) write(dir, 'memory.swap.max', '0');
  // No memory.high band: with no swap it throttles everything in the cgroup instead of killing.
  write(dir, 'memory.high', 'max');
  // One victim, chosen by oom_score_adj, rather than the whole cgroup.
  if (fs.existsSync(path.join(dir, 'memory.oom.group'))) write(dir, 'memory.oom.group', '0');
}

function readCounter(file: string, key: string): number | null {
  try {
    const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(fs.readFileSync(file, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function removeDirQuietly(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // best effort while unwinding a failed creation
  }
}

function makeHandle(version: 1 | 2, dir: string, limitBytes: number): MemoryCgroup {
  const readPids = (): number[] => {
    try {
      return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  return {
    version,
    dir,
    limitBytes,
    procsFile: path.join(dir, 'cgroup.procs'),
    readOomKillCount: () =>
      version === 1 ? readCounter(path.join(dir, 'memory.oom_control'), 'oom_kill') : readCounter(path.join(dir, 'memory.events'), 'oom_kill'),
    readPids,
    async remove(waitMs = 10_000) {
      const deadline = Date.now() + waitMs;
      for (;;) {
        if (!fs.existsSync(dir)) return;
        if (readPids().length === 0) {
          try {
            fs.rmdirSync(dir);
            return;
          } catch (err) {
            // EBUSY: an exiting task is still being torn down.
            if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) throw err;
          }
        } else if (Date.now() > deadline) {
          throw new Error(`cgroup ${dir} still holds pids ${readPids().join(', ')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}
