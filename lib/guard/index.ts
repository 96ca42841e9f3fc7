// The guard subsystem as the rest of procguard sees it: spawn registers each child here and
// asks at its exit whether the guard ended it.
import { runningGuard, startGuardFromEnvOnce } from './guard';
import type { GuardKill } from './events';
import type { GuardPolicy } from './policy';

export { guard, guardChannel, MemoryGuard, runningGuard, guardVariableName } from './guard';
export { guardPolicyOf } from './policy';
export type { GuardPolicy } from './policy';
export type { GuardKill, GuardEvent, GuardKillEvent, GuardPressureEvent, GuardReclaimEvent, GuardTrigger } from './events';
export type { MemoryGuardOptions } from './options';

/**
 * Watches a child that was just started (when the guard runs) and returns what to call at its
 * exit: the guard's verdict if the guard killed it, else null.
 */
export function watchChild(pid: number, policy: GuardPolicy, cgroup: { v2Dir?: string; memory?: { version: 1 | 2; dir: string } } | null): () => GuardKill | null {
  startGuardFromEnvOnce();
  const guard = runningGuard();
  const id = guard ? guard.watch(pid, policy, cgroup) : 0;
  if (!id) return () => null;
  return () => (guard!.running ? guard!.forget(id) : null);
}

type ChildCgroup = Parameters<typeof watchChild>[2];

/**
 * For spawnSync: what its native pump registers the child with when the guard runs (the agent's
 * JS is blocked for the child's whole life, the guard's thread is not), else undefined.
 */
export function syncWatchRequest(policy: GuardPolicy, cgroup: ChildCgroup): Record<string, unknown> | undefined {
  startGuardFromEnvOnce();
  return runningGuard()?.watchRequest(policy, cgroup);
}

/** After spawnSync: the guard's verdict on the child its pump registered as `id`, else null. */
export function syncGuardVerdict(id: number | undefined, pid: number, policy: GuardPolicy): GuardKill | null {
  const guard = runningGuard();
  if (!guard || !id || id <= 0) return null;
  guard.adopt(id, pid, policy);
  return guard.running ? guard.forget(id) : null;
}
