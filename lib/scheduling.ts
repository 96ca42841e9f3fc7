// A child's CPU scheduling policy and IO priority: the options and variables that choose them,
// and the kernel's numbers for them (sched_setscheduler(2), ioprio_set(2)).
import type { IoPriority, SchedPolicy } from './types';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';

/** sched(7)'s policy numbers of the classes a child may be put in. */
export const SCHED_POLICY_NUMBERS: Record<SchedPolicy, number> = { other: 0, batch: 3, idle: 5 };
const SCHED_POLICY_NAMES: Record<number, string> = { 0: 'SCHED_OTHER', 1: 'SCHED_FIFO', 2: 'SCHED_RR', 3: 'SCHED_BATCH', 5: 'SCHED_IDLE', 6: 'SCHED_DEADLINE' };

/** ioprio_set(2)'s classes; 'none' is what a process has until someone sets one (its nice decides). */
const IOPRIO_CLASS_NUMBERS = { 'best-effort': 2, idle: 3 } as const;
const IOPRIO_CLASS_SHIFT = 13;
export const IOPRIO_LEVEL_RANGE = { min: 0, max: 7 };
/** The level a best-effort class gets when none is given: the kernel's and ionice's default. */
export const IOPRIO_DEFAULT_LEVEL = 4;

/** 'SCHED_IDLE' for 5; 'policy N' for a number the kernel may add later. */
export function schedPolicyName(policy: number): string {
  return SCHED_POLICY_NAMES[policy] ?? `policy ${policy}`;
}

/** 'SCHED_IDLE' for 'idle'. */
export function schedPolicyLabel(policy: SchedPolicy): string {
  return schedPolicyName(SCHED_POLICY_NUMBERS[policy]);
}

/** The kernel's ioprio value: class << 13 | level. */
export function encodeIoPriority(priority: IoPriority): number {
  return (IOPRIO_CLASS_NUMBERS[priority.class] << IOPRIO_CLASS_SHIFT) | (priority.level ?? 0);
}

/** 'best-effort:7' or 'idle': the form of the variable, of `procguard run` and of messages. */
export function formatIoPriority(priority: IoPriority): string {
  return priority.class === 'idle' ? 'idle' : `best-effort:${priority.level ?? IOPRIO_DEFAULT_LEVEL}`;
}

/** options.schedPolicy checked: a policy, null for 'inherit', undefined when not given. */
export function validateSchedPolicy(value: unknown, name = 'options.schedPolicy'): SchedPolicy | null | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidArgType(name, "one of 'other', 'batch', 'idle' or 'inherit'", value);
  if (value === 'inherit') return null;
  if (!Object.hasOwn(SCHED_POLICY_NUMBERS, value)) {
    throw invalidArgValue(name, value, "must be one of 'other', 'batch', 'idle' or 'inherit'");
  }
  return value as SchedPolicy;
}

/**
 * options.ioPriority checked and completed (a best-effort class gets its level): a priority,
 * null for 'inherit', undefined when not given. Only own properties count.
 */
export function validateIoPriority(value: unknown, name = 'options.ioPriority'): Required<IoPriority> | { class: 'idle' } | null | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === 'inherit') return null;
  if (typeof value === 'string') throw invalidArgValue(name, value, "must be an object { class, level } or 'inherit'");
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(name, "an object { class: 'best-effort' | 'idle', level?: 0..7 } or 'inherit'", value);
  }
  const own = { __proto__: null, ...(value as object) } as { class?: unknown; level?: unknown };
  if (own.class !== 'best-effort' && own.class !== 'idle') {
    throw invalidArgValue(`${name}.class`, own.class, "must be 'best-effort' or 'idle'");
  }
  if (own.class === 'idle') {
    // The kernel ignores a level in the idle class; accepting one would suggest it means something.
    if (own.level !== undefined) throw invalidArgValue(`${name}.level`, own.level, "must be absent for the 'idle' class, which has no levels");
    return { class: 'idle' };
  }
  if (own.level === undefined) return { class: 'best-effort', level: IOPRIO_DEFAULT_LEVEL };
  if (typeof own.level !== 'number') throw invalidArgType(`${name}.level`, 'of type number', own.level);
  const { min, max } = IOPRIO_LEVEL_RANGE;
  if (!Number.isInteger(own.level) || own.level < min || own.level > max) {
    throw outOfRange(`${name}.level`, `an integer >= ${min} && <= ${max} (0 is the highest priority)`, own.level);
  }
  return { class: 'best-effort', level: own.level };
}

/** The value of CODER_PROC_SCHED_POLICY ('idle', 'batch', 'other', 'SCHED_IDLE', 'inherit'); undefined when invalid. */
export function parseSchedPolicyVariable(raw: string): SchedPolicy | null | undefined {
  const word = raw.toLowerCase().replace(/^sched_/, ''); // no spaces, as the numeric variables
  if (word === 'inherit') return null;
  return Object.hasOwn(SCHED_POLICY_NUMBERS, word) ? (word as SchedPolicy) : undefined;
}
export const SCHED_POLICY_VARIABLE_ALLOWED = "must be 'other', 'batch', 'idle' or 'inherit'";

/** The value of CODER_PROC_IO_PRIORITY ('idle', 'best-effort', 'best-effort:7', 'inherit'); undefined when invalid. */
export function parseIoPriorityVariable(raw: string): IoPriority | null | undefined {
  const match = /^(best-effort|idle|inherit)(?::([0-7]))?$/i.exec(raw);
  if (!match) return undefined;
  const klass = match[1].toLowerCase();
  if (klass === 'inherit') return match[2] === undefined ? null : undefined;
  if (klass === 'idle') return match[2] === undefined ? { class: 'idle' } : undefined;
  return { class: 'best-effort', level: match[2] === undefined ? IOPRIO_DEFAULT_LEVEL : Number(match[2]) };
}
export const IO_PRIORITY_VARIABLE_ALLOWED = "must be 'best-effort', 'best-effort:N' (N from 0, highest, to 7), 'idle' or 'inherit'";
