// The systemd unit the agent runs in, read from what systemd leaves: $INVOCATION_ID (set for every
// service it starts), the agent's cgroup path (…/name.service or …/name.scope), the delegation mark
// systemd puts on a cgroup it hands over (the trusted.delegate / user.delegate extended attributes,
// systemd's "Control Group APIs and Delegation"), and $MEMORY_PRESSURE_WATCH (MemoryPressureWatch=).
import * as path from 'node:path';
import { loadNative } from '../native';

export interface SystemdUnit {
  /** The unit's name from the cgroup path ('agent.service'); null when the path does not show it (a cgroup namespace). */
  unit: string | null;
  /** The unit's cgroup directory; null with `unit`. */
  unitDir: string | null;
  /** $INVOCATION_ID: systemd started this process (or an ancestor) as a unit. */
  invocationId: string | null;
  /** Whether the unit's cgroup is delegated (Delegate=yes); null when that cannot be read (no addon). */
  delegated: boolean | null;
  /** The agent sits in a subgroup of its unit (DelegateSubgroup=, or one made below the unit). */
  subgroup: string | null;
  /** $MEMORY_PRESSURE_WATCH: the PSI file a service should watch (MemoryPressureWatch=); and its threshold. */
  memoryPressureWatch: string | null;
  memoryPressureWrite: string | null;
}

const UNIT_NAME = /\.(service|scope)$/;

/** The directory of the nearest unit (…/x.service or …/x.scope) containing `dir`, up to `mountPoint`. */
export function unitDirOf(dir: string, mountPoint: string): string | null {
  for (let current = dir; current.startsWith(mountPoint) && current.length > mountPoint.length; current = path.dirname(current)) {
    if (UNIT_NAME.test(path.basename(current))) return current;
  }
  return null;
}

/** Whether systemd marked `dir` as delegated; null when the mark cannot be read. */
export function delegationMark(dir: string): boolean | null {
  const binding = loadNative().binding;
  if (!binding) return null;
  let unreadable = false;
  for (const name of ['trusted.delegate', 'user.delegate']) {
    const value = binding.getXattr(dir, name);
    if (value === '1') return true;
    if (typeof value === 'number') unreadable = true;
  }
  return unreadable ? null : false;
}

/** The systemd unit around the agent, or null when nothing says systemd started it. */
export function readSystemdUnit(ownDir: string | null, mountPoint: string | null): SystemdUnit | null {
  const unitDir = ownDir && mountPoint ? unitDirOf(ownDir, mountPoint) : null;
  const invocationId = process.env.INVOCATION_ID ?? null;
  if (!unitDir && !invocationId) return null;
  return {
    unit: unitDir ? path.basename(unitDir) : null,
    unitDir,
    invocationId,
    delegated: unitDir ? delegationMark(unitDir) : null,
    subgroup: unitDir && ownDir !== unitDir ? path.relative(unitDir, ownDir!) : null,
    memoryPressureWatch: process.env.MEMORY_PRESSURE_WATCH ?? null,
    memoryPressureWrite: process.env.MEMORY_PRESSURE_WRITE ?? null,
  };
}
