// The per-spawn `guard` option: how eligible a child is as the guard's victim (earlyoom's
// --prefer / --avoid, per child). The native thread picks the heaviest child by memory charged
// times this weight; 'never' children are watched (their cgroups reclaimed) but never killed.
import { invalidArgValue } from '../errors';

export type GuardPolicy = 'prefer' | 'normal' | 'avoid' | 'never';

/**
 * Weights: a 'prefer' child is chosen over a 'normal' one up to 4 times its size, an 'avoid'
 * child only when it is 4 times bigger than the next; the agent itself is never a candidate.
 */
export const POLICY_WEIGHTS: Readonly<Record<GuardPolicy, number>> = Object.freeze({
  prefer: 4,
  normal: 1,
  avoid: 0.25,
  never: 0,
});

/** The validated option (default 'normal'). */
export function guardPolicyOf(value: unknown): GuardPolicy {
  if (value === undefined) return 'normal';
  if (typeof value === 'string' && Object.hasOwn(POLICY_WEIGHTS, value)) return value as GuardPolicy;
  throw invalidArgValue('options.guard', value, "must be one of 'prefer', 'normal', 'avoid', 'never'");
}
