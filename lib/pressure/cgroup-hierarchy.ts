// Where this process's memory cgroup lives: the cgroup v2 tree when it has the memory
// controller (a pure v2 host), else the cgroup v1 memory hierarchy (a hybrid host).
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface MemoryHierarchy {
  version: 1 | 2;
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2). */
  mountPoint: string;
  /** The directory of this process's own cgroup in that hierarchy. */
  ownDir: string;
}

interface CgroupMount {
  mountPoint: string;
  /** The cgroup the mount shows at its top ('/' unless a subtree was bind-mounted). */
  root: string;
  fstype: 'cgroup' | 'cgroup2';
  superOptions: string[];
}

function readCgroupMounts(): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const fields = left.split(' ');
    mounts.push({ mountPoint: unescapeMountPath(fields[4]), root: unescapeMountPath(fields[3]), fstype, superOptions: superOptions.split(',') });
  }
  return mounts;
}

function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** This process's cgroup path per hierarchy: key 'memory' for the v1 memory line, '' for the v2 line. */
function readOwnCgroups(): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    for (const controller of match[1].split(',')) own.set(controller, match[2]);
  }
  return own;
}

function dirInMount(mount: CgroupMount, cgroupPath: string): string {
  const relative = mount.root !== '/' && cgroupPath.startsWith(mount.root) ? cgroupPath.slice(mount.root.length) : cgroupPath;
  return path.join(mount.mountPoint, relative);
}

function readWords(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
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
  if (v2 && own.has('') && readWords(path.join(v2.mountPoint, 'cgroup.controllers')).includes('memory')) {
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

export { readWords as readCgroupWords };
