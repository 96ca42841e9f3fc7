// Where this process's cgroups are: the cgroup v2 tree and, on a hybrid host, each cgroup v1
// hierarchy (memory, pids, cpu) — read from /proc/self/mountinfo and /proc/self/cgroup.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CgroupMount {
  mountPoint: string;
  /** The cgroup the mount shows at its top ('/' unless a subtree was bind-mounted). */
  root: string;
  fstype: 'cgroup' | 'cgroup2';
  /** The mount's own options ('ro' or 'rw' first): a container's read-only /sys/fs/cgroup says 'ro'. */
  options: string[];
  superOptions: string[];
}

export interface CgroupLayout {
  /** The cgroup v2 tree and this process's directory in it, when one is mounted. */
  v2: { mountPoint: string; ownDir: string; readOnly: boolean } | null;
  /** cgroup v1 hierarchies by controller ('memory', 'pids', 'cpu', 'freezer', ...). */
  v1: Map<string, { mountPoint: string; ownDir: string }>;
}

function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function readCgroupMounts(): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const fields = left.split(' ');
    mounts.push({
      mountPoint: unescapeMountPath(fields[4]), root: unescapeMountPath(fields[3]), fstype,
      options: fields[5].split(','), superOptions: superOptions.split(','),
    });
  }
  return mounts;
}

/** This process's cgroup path per hierarchy: a key per v1 controller, '' for the v2 line. */
export function readOwnCgroups(pid: number | 'self' = 'self'): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    for (const controller of match[1].split(',')) own.set(controller, match[2]);
  }
  return own;
}

/** A cgroup path (as /proc/<pid>/cgroup gives it) as a directory under the mount. */
export function dirInMount(mount: CgroupMount, cgroupPath: string): string {
  const relative = mount.root !== '/' && cgroupPath.startsWith(mount.root) ? cgroupPath.slice(mount.root.length) : cgroupPath;
  return path.join(mount.mountPoint, relative);
}

/** The whitespace-separated words of a cgroup file, [] when it cannot be read. */
export function readCgroupWords(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

let cached: CgroupLayout | undefined;

/**
 * The cgroups of this process. Read once (mountinfo alone costs a quarter of a millisecond) and
 * again after forgetCgroupLayout(), which whoever moves the agent to another cgroup calls.
 */
export function cgroupLayout(): CgroupLayout {
  cached ??= readCgroupLayout();
  return cached;
}

export function forgetCgroupLayout(): void {
  cached = undefined;
}

function readCgroupLayout(): CgroupLayout {
  const mounts = readCgroupMounts();
  const own = readOwnCgroups();
  const v2mount = mounts.find((m) => m.fstype === 'cgroup2');
  const v2 = v2mount && own.has('')
    ? { mountPoint: v2mount.mountPoint, ownDir: dirInMount(v2mount, own.get('')!), readOnly: v2mount.options.includes('ro') }
    : null;
  const v1 = new Map<string, { mountPoint: string; ownDir: string }>();
  for (const mount of mounts) {
    if (mount.fstype !== 'cgroup') continue;
    for (const controller of mount.superOptions) {
      if (own.has(controller)) v1.set(controller, { mountPoint: mount.mountPoint, ownDir: dirInMount(mount, own.get(controller)!) });
    }
  }
  return { v2, v1 };
}
