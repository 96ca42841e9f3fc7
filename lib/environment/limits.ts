// The memory limits above the agent, read from its own cgroup and its ancestors up to what the
// mount shows (a container sees up to its own cgroup namespace root, which is the container).
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface LimitAt {
  /** Bytes. */
  bytes: number;
  /** The cgroup directory that sets it. */
  cgroup: string;
}

export interface MemoryLimits {
  /** The nearest memory.max that is not 'max' (v1: memory.limit_in_bytes). */
  memoryMax: LimitAt | null;
  /** The nearest memory.high that is not 'max'. */
  memoryHigh: LimitAt | null;
  /** The nearest memory.swap.max that is not 'max'. */
  memorySwapMax: LimitAt | null;
  /** memory.oom.group of the agent's own cgroup (null: no such file, cgroup v1 or the root). */
  oomGroup: boolean | null;
  /**
   * The cgroup the kernel kills whole when the agent's memory limit is reached: the highest
   * cgroup with memory.oom.group=1 between the agent's and the one whose memory.max is hit.
   */
  groupKill: string | null;
}

function readValue(file: string): number | 'max' | null {
  try {
    const text = fs.readFileSync(file, 'latin1').trim();
    if (text === 'max') return 'max';
    return /^\d+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

/** `dir` and its ancestors up to and including `top`, nearest first. */
function chain(dir: string, top: string): string[] {
  const dirs: string[] = [];
  const root = path.resolve(top);
  for (let current = path.resolve(dir); current === root || current.startsWith(`${root}/`); current = path.dirname(current)) {
    dirs.push(current);
    if (current === root) break;
  }
  return dirs;
}

function nearest(dirs: string[], file: string, unlimitedFrom = Infinity): LimitAt | null {
  for (const dir of dirs) {
    const value = readValue(path.join(dir, file));
    if (typeof value === 'number' && value < unlimitedFrom) return { bytes: value, cgroup: dir };
  }
  return null;
}

export function readV2Limits(ownDir: string, mountPoint: string): MemoryLimits {
  const dirs = chain(ownDir, mountPoint);
  const memoryMax = nearest(dirs, 'memory.max');
  const ownGroup = readValue(path.join(ownDir, 'memory.oom.group'));
  // The kernel (mem_cgroup_get_oom_group) walks from the victim's cgroup up to the one whose
  // limit was hit and kills the highest with memory.oom.group=1; without a limit on the way,
  // up to what we can see (the machine or the container).
  const upTo = memoryMax ? dirs.slice(0, dirs.indexOf(memoryMax.cgroup) + 1) : dirs;
  let groupKill: string | null = null;
  for (const dir of upTo) if (readValue(path.join(dir, 'memory.oom.group')) === 1) groupKill = dir;
  return {
    memoryMax,
    memoryHigh: nearest(dirs, 'memory.high'),
    memorySwapMax: nearest(dirs, 'memory.swap.max'),
    oomGroup: ownGroup === null || ownGroup === 'max' ? null : ownGroup === 1,
    groupKill,
  };
}

/** cgroup v1 (a hybrid host's memory controller): no memory.high, no oom.group. */
export function readV1Limits(ownDir: string, mountPoint: string): MemoryLimits {
  const dirs = chain(ownDir, mountPoint);
  // v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages, rounded).
  const unlimited = 2 ** 62;
  const memoryMax = nearest(dirs, 'memory.limit_in_bytes', unlimited);
  const memsw = nearest(dirs, 'memory.memsw.limit_in_bytes', unlimited);
  const memorySwapMax = memoryMax && memsw && memsw.cgroup === memoryMax.cgroup
    ? { bytes: memsw.bytes - memoryMax.bytes, cgroup: memsw.cgroup }
    : null;
  return { memoryMax, memoryHigh: null, memorySwapMax, oomGroup: null, groupKill: null };
}
