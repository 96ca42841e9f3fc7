// Where this process's memory cgroup lives: the cgroup v2 tree when it has the memory
// controller (a pure v2 host), else the cgroup v1 memory hierarchy (a hybrid host).
import * as path from 'node:path';
import { dirInMount, readCgroupMounts, readCgroupWords, readOwnCgroups } from '../cgroup/layout';
import type { CgroupMount } from '../cgroup/layout';

export interface MemoryHierarchy {
  version: 1 | 2;
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2). */
  mountPoint: string;
  /** The directory of this process's own cgroup in that hierarchy. */
  ownDir: string;
}

/** The memory hierarchy this process belongs to, or why there is none. */
export function findMemoryHierarchy(): MemoryHierarchy | { error: string } {
  if (process.platform !== 'linux') return { error: `memory cgroups are Linux-only (this is ${process.platform})` };
  let mounts: CgroupMount[];
  let own: Map<string, string>;
  try {
    mounts = readCgroupMounts();
    own = readOwnCgroups();
  } catch (err) {
    return { error: `cannot read /proc: ${(err as Error).message}` };
  }
  const v2 = mounts.find((m) => m.fstype === 'cgroup2');
  if (v2 && own.has('') && readCgroupWords(path.join(v2.mountPoint, 'cgroup.controllers')).includes('memory')) {
    return { version: 2, mountPoint: v2.mountPoint, ownDir: dirInMount(v2, own.get('')!) };
  }
  const v1 = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes('memory'));
  if (v1 && own.has('memory')) {
    return { version: 1, mountPoint: v1.mountPoint, ownDir: dirInMount(v1, own.get('memory')!) };
  }
  return { error: 'no memory cgroup controller is mounted (neither a cgroup v2 tree with "memory" nor a cgroup v1 memory hierarchy)' };
}

/** The directories from `dir` up to the hierarchy's mount point, nearest first. */
export function selfAndAncestors(hierarchy: MemoryHierarchy, dir = hierarchy.ownDir): string[] {
  const dirs: string[] = [];
  let current = dir;
  for (;;) {
    dirs.push(current);
    if (current === hierarchy.mountPoint || !current.startsWith(hierarchy.mountPoint)) break;
    current = path.dirname(current);
  }
  return dirs;
}

export { readCgroupWords };
