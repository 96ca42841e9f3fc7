// status().guard: what the guard watches here and why, whether it runs, and its last actions.
import { guardVariableName, runningGuard } from './guard';
import type { GuardEvent } from './events';
import { DEFAULT_SETTINGS } from './options';
import { planWatch } from './watch-plan';
import type { WatchPlan } from './watch-plan';

export interface GuardStatus {
  running: boolean;
  /** Why it runs or not. */
  reason: string;
  /** The variable that turns it on (CODER_PROC_GUARD with the default prefix) and its value. */
  variable: { name: string; value: string | undefined };
  dryRun: boolean;
  /** How the throttle band is watched: a PSI trigger, sampling of its totals, or not at all. */
  psi: { mode: 'trigger' | 'sampling' | 'none'; reason: string };
  /** One line per watched condition: what, where, and what goes wrong without the guard. */
  watches: { what: 'headroom' | 'memory.high stall' | 'MemAvailable'; cgroup: string | null; why: string }[];
  notes: string[];
  /** Children it may act on now (running only). */
  children: number;
  /** Memory-locked thread state (mlock) and the current sampling interval (running only). */
  locked: boolean | null;
  intervalMs: number | null;
  lastActions: GuardEvent[];
}

function watchesOf(plan: WatchPlan): GuardStatus['watches'] {
  const watches: GuardStatus['watches'] = [];
  for (const scope of plan.scopes) {
    if (scope.headroom) watches.push({ what: 'headroom', cgroup: scope.dir, why: scope.why.split('; ')[0] });
    if (scope.band) watches.push({ what: 'memory.high stall', cgroup: scope.dir, why: scope.why.split('; ').pop()! });
  }
  if (plan.machine) watches.push({ what: 'MemAvailable', cgroup: null, why: plan.machine.why });
  return watches;
}

export function guardStatus(): GuardStatus {
  const guard = runningGuard();
  const name = guardVariableName();
  const variable = { name, value: process.env[name] };
  if (!guard) {
    // What it would watch if started now.
    const plan = process.platform === 'linux' ? planWatch(DEFAULT_SETTINGS) : { scopes: [], psi: null, machine: null, notes: [`linux-only (platform is ${process.platform})`] };
    return {
      running: false,
      reason: `not started: call guard() or set ${name}`,
      variable,
      dryRun: false,
      psi: plan.psi ? { mode: 'trigger', reason: `would write a trigger to ${plan.psi.file} (${plan.psi.origin})` } : { mode: 'none', reason: 'no throttle band to watch' },
      watches: watchesOf(plan),
      notes: plan.notes,
      children: 0,
      locked: null,
      intervalMs: null,
      lastActions: [],
    };
  }
  const snapshot = guard.snapshot();
  return {
    running: true,
    reason: variable.value !== undefined ? `${name} is set` : 'guard() was called',
    variable,
    dryRun: guard.dryRun,
    psi: guard.psiMode,
    watches: watchesOf(guard.plan),
    notes: guard.plan.notes,
    children: snapshot.children.length,
    locked: snapshot.locked,
    intervalMs: snapshot.intervalMs,
    lastActions: [...guard.lastActions],
  };
}
