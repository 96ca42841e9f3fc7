// Where the agent runs, read from the kernel: the cgroup tree and the agent's place in it, the
// limits above it, the engine that set it up (systemd, Kubernetes), and what follows, each
// conclusion with its reason. status().environment; `procguard status`; startup warnings.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupDelegation, writeAccess } from '../cgroup/delegation';
import type { Delegation } from '../cgroup/delegation';
import { cgroupLayout, readCgroupMounts, readCgroupWords, readOwnCgroups } from '../cgroup/layout';
import { agentLeafParent } from '../cgroup/child-cgroup';
import { warning } from '../logger';
import { guardVariableName, runningGuard } from '../guard/guard';
import { readOwnOomScoreAdj } from '../self';
import { conclude } from './conclusions';
import type { Conclusion } from './conclusions';
import { recognizePod } from './kubernetes';
import type { KubernetesPod } from './kubernetes';
import { readV1Limits, readV2Limits } from './limits';
import type { MemoryLimits } from './limits';
import { readSystemdUnit } from './systemd';
import type { SystemdUnit } from './systemd';

export type { Conclusion, Delegation, KubernetesPod, MemoryLimits, SystemdUnit };

export interface CgroupFacts {
  /** 'v2': pure cgroup v2; 'hybrid': v1 controllers beside a v2 tree; 'v1'; 'none'. */
  mode: 'v2' | 'hybrid' | 'v1' | 'none';
  /** The agent's cgroup as /proc/self/cgroup gives it (the v2 line; v1-only: the memory controller's). */
  path: string | null;
  /** That cgroup's directory. */
  dir: string | null;
  /** In a cgroup namespace of its own (a container's): /proc/self/ns/cgroup is not the initial namespace. */
  namespace: boolean | null;
  /** The cgroup v2 mount is read-only (a container's default /sys/fs/cgroup). */
  readOnly: boolean | null;
  /** A child cgroup can be made in it (write access to the directory). */
  writable: boolean | null;
  /** Delegated to the agent: it may enable controllers in its cgroup.subtree_control, and no other manager owns the tree. */
  delegated: boolean | null;
  /** cgroup.controllers and cgroup.subtree_control of the agent's cgroup (v2). */
  controllers: string[];
  subtreeControl: string[];
}

export interface EnvironmentStatus {
  cgroup: CgroupFacts;
  limits: MemoryLimits | null;
  systemd: SystemdUnit | null;
  kubernetes: KubernetesPod | null;
  perChildCgroups: Delegation;
  conclusions: Conclusion[];
}

// The proc inode of the initial cgroup namespace (PROC_CGROUP_INIT_INO in the kernel).
const INITIAL_CGROUP_NAMESPACE = 'cgroup:[4026531835]';

// kubelet sets oom_score_adj when the container starts; protectSelf() may change it later.
const startingOomScoreAdj = process.platform === 'linux' ? readOwnOomScoreAdj() : null;

function readCgroupFacts(delegation: Delegation): { facts: CgroupFacts; limits: MemoryLimits | null; mountPoint: string | null; paths: string[] } {
  const mounts = readCgroupMounts();
  const own = readOwnCgroups();
  const layout = cgroupLayout();
  const v1Controllers = mounts.filter((m) => m.fstype === 'cgroup' && m.superOptions.some((o) => !o.startsWith('name=') && layout.v1.has(o)));
  const mode = layout.v2 ? (v1Controllers.length ? 'hybrid' : 'v2') : v1Controllers.length ? 'v1' : 'none';
  let namespace: boolean | null = null;
  try {
    namespace = fs.readlinkSync('/proc/self/ns/cgroup') !== INITIAL_CGROUP_NAMESPACE;
  } catch {
    // no /proc/self/ns (very old kernel): unknown
  }
  const memoryV1 = layout.v1.get('memory');
  const dir = layout.v2?.ownDir ?? memoryV1?.ownDir ?? null;
  const facts: CgroupFacts = {
    mode,
    path: own.get('') ?? own.get('memory') ?? null,
    dir,
    namespace,
    readOnly: layout.v2 ? layout.v2.readOnly : null,
    writable: dir ? writeAccess(dir) === null : null,
    delegated: layout.v2 ? delegation.available && writeAccess(path.join(layout.v2.ownDir, 'cgroup.subtree_control')) === null : null,
    controllers: layout.v2 ? readCgroupWords(path.join(layout.v2.ownDir, 'cgroup.controllers')) : [],
    subtreeControl: layout.v2 ? readCgroupWords(path.join(layout.v2.ownDir, 'cgroup.subtree_control')) : [],
  };
  // The memory limits where the memory controller is: v2 when the tree offers it, else v1.
  let limits: MemoryLimits | null = null;
  if (layout.v2 && (facts.controllers.includes('memory') || !memoryV1)) limits = readV2Limits(layout.v2.ownDir, layout.v2.mountPoint);
  else if (memoryV1) limits = readV1Limits(memoryV1.ownDir, memoryV1.mountPoint);
  const paths = [...own.values(), ...mounts.map((m) => m.root)];
  return { facts, limits, mountPoint: layout.v2?.mountPoint ?? null, paths };
}

/** The environment as the kernel shows it now. */
export function readEnvironment(): EnvironmentStatus {
  const layout = cgroupLayout();
  const perChildCgroups = cgroupDelegation(layout, agentLeafParent());
  const { facts, limits, mountPoint, paths } = readCgroupFacts(perChildCgroups);
  const systemd = readSystemdUnit(layout.v2?.ownDir ?? null, mountPoint);
  const kubernetes = recognizePod(startingOomScoreAdj, paths);
  const conclusions = conclude({
    agentOomScoreAdj: readOwnOomScoreAdj(),
    namespace: facts.namespace,
    limits,
    systemd,
    kubernetes,
    perChildCgroups,
    guard: runningGuard() !== null || process.env[guardVariableName()] !== undefined,
  });
  return { cgroup: facts, limits, systemd, kubernetes, perChildCgroups, conclusions };
}

let warned = false;

/** Once per process, at first use: one warning per conclusion that leaves the agent unprotected. */
export function warnEnvironmentOnce(): void {
  if (warned || process.platform !== 'linux') return;
  warned = true;
  let environment: EnvironmentStatus;
  try {
    environment = readEnvironment();
  } catch {
    return; // no /proc: nothing to conclude, and a status() call says why
  }
  for (const c of environment.conclusions) {
    if (c.unprotected) warning(c.code, c.conclusion, { reason: c.reason });
  }
}
