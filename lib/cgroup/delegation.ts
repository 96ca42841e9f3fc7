// Whether procguard may make cgroups for its children, and where: the rules of the engine that
// owns the tree above the agent. A cgroup v2 tree belongs to whoever made it (systemd, a container
// runtime); the agent may build below its own cgroup only when that cgroup was handed to it
// (delegated: systemd's Delegate=yes, a container's writable cgroup namespace root), and never
// writes into a tree another manager owns, even as root.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { currentConfig } from '../config';
import type { CgroupLayout } from './layout';
import { delegationMark, unitDirOf } from '../environment/systemd';

export interface Delegation {
  /** Whether children's own cgroup v2 directories can be made. */
  available: boolean;
  /** The v2 directory they go in (when available). */
  parent: string | null;
  /** Why, in plain words. */
  reason: string;
  /** What would make them available, when they are not. */
  fix?: string;
  /** Another manager owns the agent's cgroups (a systemd unit without Delegate=): write into none of them, v1 included. */
  foreign?: boolean;
}

export const READ_ONLY_FIX = 'a writable cgroup mount: containerd 2.1+ `cgroup_writable = true`, CRI-O\'s ' +
  '`cgroup2-mount-hierarchy-rw` annotation, or a privileged pod give one';
const NOT_WRITABLE_FIX = 'run the agent where its cgroup is delegated to it (systemd Delegate=yes, a container with ' +
  'a writable cgroup mount), or configure({ cgroupParent }) with a cgroup v2 directory the agent may write';

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** null when the agent may write `file`, else why not (the errno's code). */
export function writeAccess(file: string): string | null {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return null;
  } catch (err) {
    return codeOf(err);
  }
}

/**
 * Checks a configure({ cgroupParent }) directory: null when usable, else why not. A path that
 * does not exist or cannot be written is an error at configure(), never a silent fallback.
 */
export function cgroupParentProblem(dir: string): string | null {
  try {
    if (!fs.statSync(dir).isDirectory()) return 'is not a directory';
  } catch (err) {
    return `cannot be used (${codeOf(err)})`;
  }
  if (!fs.existsSync(path.join(dir, 'cgroup.procs'))) return 'is not a cgroup directory (no cgroup.procs in it)';
  if (!fs.existsSync(path.join(dir, 'cgroup.controllers'))) return 'is not a cgroup v2 directory (no cgroup.controllers in it)';
  const denied = writeAccess(dir);
  if (denied) return `is not writable (${denied})`;
  return null;
}

/**
 * Where children's cgroups go under the engines' rules. `leafParent`: the agent's former cgroup
 * once it moved itself into a leaf (then children go beside it).
 */
export function cgroupDelegation(layout: CgroupLayout, leafParent?: string): Delegation {
  const configured = currentConfig().cgroupParent;
  if (configured) {
    const problem = cgroupParentProblem(configured);
    return problem
      ? { available: false, parent: null, reason: `configure({ cgroupParent }) ${configured} ${problem}`, fix: 'give a writable cgroup v2 directory' }
      : { available: true, parent: configured, reason: `configure({ cgroupParent }) ${configured}` };
  }
  const v2 = layout.v2;
  if (!v2) return { available: false, parent: null, reason: 'no cgroup v2 tree is mounted', fix: 'mount cgroup2 (a pure cgroup v2 system)' };
  if (leafParent) return { available: true, parent: leafParent, reason: `the agent moved itself into a leaf of ${leafParent}; children go beside it` };
  if (v2.readOnly) {
    return { available: false, parent: null, reason: `${v2.mountPoint} is read-only: a container without a writable cgroup mount`, fix: READ_ONLY_FIX };
  }
  const unitDir = unitDirOf(v2.ownDir, v2.mountPoint);
  let parent = v2.ownDir;
  if (unitDir) {
    const unit = path.basename(unitDir);
    const delegated = delegationMark(unitDir);
    if (delegated !== true) {
      return {
        available: false,
        parent: null,
        foreign: true,
        reason: delegated === null
          ? `the agent's cgroup belongs to systemd's ${unit}, and whether it is delegated cannot be read (needs the native addon)`
          : `the agent's cgroup belongs to systemd's ${unit}, which does not delegate it (no Delegate=yes): systemd owns that tree`,
        fix: `Delegate=yes in ${unit} (with DelegateSubgroup= so the agent starts in a leaf)`,
      };
    }
    // DelegateSubgroup= (or anyone before us) already put the agent in a leaf below the unit:
    // its children go beside it, in the unit's cgroup; nothing to move.
    if (unitDir !== v2.ownDir) parent = path.dirname(v2.ownDir);
  }
  const denied = writeAccess(parent) ?? writeAccess(path.join(parent, 'cgroup.subtree_control'));
  if (denied) return { available: false, parent: null, reason: `the agent's cgroup ${parent} is not writable (${denied})`, fix: NOT_WRITABLE_FIX };
  const why = unitDir
    ? `systemd delegates ${path.basename(unitDir)} to the agent (Delegate=yes)${parent !== v2.ownDir ? `, which already sits in the leaf ${path.basename(v2.ownDir)}` : ''}`
    : `the agent's cgroup ${parent} is writable`;
  return { available: true, parent, reason: why };
}
