// Whether a memory balloon may run here: only inside a memory cgroup whose limit is below the
// machine's RAM, or inside the pressure test VM, so the global OOM killer never picks among the
// processes of a real machine.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findMemoryHierarchy, selfAndAncestors } from './cgroup-hierarchy';

/** Kernel command-line flag that marks the throwaway pressure-test VM. */
export const PRESSURE_VM_FLAG = 'procguard.pressure_vm=1';

export type Confinement = { confined: true; by: string; limitBytes?: number } | { confined: false; reason: string };

export function insidePressureVm(): boolean {
  try {
    return fs.readFileSync('/proc/cmdline', 'utf8').split(/\s+/).includes(PRESSURE_VM_FLAG);
  } catch {
    return false;
  }
}

function memTotalBytes(): number {
  const match = /^MemTotal:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return match ? Number(match[1]) * 1024 : Infinity;
}

function readLimit(dir: string, version: 1 | 2): number {
  try {
    const text = fs.readFileSync(path.join(dir, version === 1 ? 'memory.limit_in_bytes' : 'memory.max'), 'utf8').trim();
    return text === 'max' ? Infinity : Number(text);
  } catch {
    return Infinity;
  }
}

function usesHierarchy(dir: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, 'memory.use_hierarchy'), 'utf8').trim() === '1';
  } catch {
    return true; // the file is gone on kernels where hierarchy is always on
  }
}

/** The tightest memory limit that applies to this process, if it is below the machine's RAM. */
export function checkMemoryConfinement(): Confinement {
  if (insidePressureVm()) return { confined: true, by: 'the pressure-test VM' };
  const hierarchy = findMemoryHierarchy();
  if ('error' in hierarchy) return { confined: false, reason: hierarchy.error };
  const ram = memTotalBytes();
  let tightest = Infinity;
  let tightestDir = '';
  for (const dir of selfAndAncestors(hierarchy)) {
    const limit = readLimit(dir, hierarchy.version);
    if (limit < tightest) [tightest, tightestDir] = [limit, dir];
    // v1 without use_hierarchy: an ancestor's limit does not cover its children.
    if (hierarchy.version === 1 && !usesHierarchy(dir)) break;
  }
  if (tightest < ram) return { confined: true, by: `memory cgroup ${tightestDir}`, limitBytes: tightest };
  return { confined: false, reason: `no memory cgroup limit below the machine's ${Math.round(ram / 2 ** 20)} MB applies to this process` };
}
