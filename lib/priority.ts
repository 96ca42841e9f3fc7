// What oom_score_adj and nice each child gets, and how a failure to apply them reads.
import type { ChildDefaults, GuardOptions, IoPriority, SchedPolicy } from './types';
import type { PriorityPlan } from './process-handle';
import { invalidArgType, invalidArgValue, outOfRange, errnoName } from './errors';
import { logStartupOnce, managementState, variableNames } from './config';
import { readIntegerVariable, readVariable, type IntegerRange } from './env';
import { warning } from './logger';
import { loadNative } from './native';
import { ownOptions } from './own-options';
import { readOwnNice, readOwnOomScoreAdj, readOwnSchedPolicy, recentOwnOomScoreAdj } from './self';
import {
  formatIoPriority,
  IO_PRIORITY_VARIABLE_ALLOWED,
  parseIoPriorityVariable,
  parseSchedPolicyVariable,
  SCHED_POLICY_NUMBERS,
  SCHED_POLICY_VARIABLE_ALLOWED,
  schedPolicyLabel,
  validateIoPriority,
  validateSchedPolicy,
} from './scheduling';

export const OOM_SCORE_ADJ_RANGE: IntegerRange = { min: -1000, max: 1000 };
export const NICE_RANGE: IntegerRange = { min: -20, max: 19 };

/**
 * The child's default oom_score_adj from the agent's, so the OOM killer picks a child
 * before the agent: a protected (negative) agent leaves children ordinary (0); otherwise
 * children sit near the top (998), or at the top when the agent is already there.
 */
export function computeChildOomScore(agentOomScoreAdj: number): number {
  if (agentOomScoreAdj < 0) return 0;
  if (agentOomScoreAdj >= 998) return 1000;
  return 998;
}

/** The child's default nice: 5 below the agent in CPU priority, within the kernel's 19. */
export function computeChildNice(agentNice: number): number {
  return Math.min(agentNice + 5, NICE_RANGE.max);
}

function oomScoreFromEnv(): number | undefined {
  return readIntegerVariable(variableNames().oomScore, OOM_SCORE_ADJ_RANGE);
}

function niceFromEnv(): number | undefined {
  return readIntegerVariable(variableNames().niceScore, NICE_RANGE);
}

/** The operator's class for children; null ('inherit') and undefined (unset, invalid) both leave it. */
function schedPolicyFromEnv(): SchedPolicy | null | undefined {
  return readVariable(variableNames().schedPolicy, parseSchedPolicyVariable, SCHED_POLICY_VARIABLE_ALLOWED);
}

function ioPriorityFromEnv(): IoPriority | null | undefined {
  return readVariable(variableNames().ioPriority, parseIoPriorityVariable, IO_PRIORITY_VARIABLE_ALLOWED);
}

/**
 * The priorities a child gets when management is on: the environment's values, else
 * computed from `agent` (default: the agent's current oom_score_adj and nice).
 */
export function childDefaults(agent?: { oomScoreAdj: number; nice: number }): ChildDefaults {
  if (agent) agent = ownOptions(agent);
  const envOom = oomScoreFromEnv();
  const envNice = niceFromEnv();
  // Unlike the numbers, class and IO priority have no computed default: Coder's agent changes neither.
  const envSched = schedPolicyFromEnv();
  const envIo = ioPriorityFromEnv();
  return {
    oomScoreAdj: envOom ?? computeChildOomScore(agent ? agent.oomScoreAdj : readOwnOomScoreAdj() ?? 0),
    nice: envNice ?? computeChildNice(agent ? agent.nice : readOwnNice() ?? 0),
    schedPolicy: envSched ?? null,
    ioPriority: envIo ?? null,
    source: {
      oomScoreAdj: envOom === undefined ? 'computed' : 'env',
      nice: envNice === undefined ? 'computed' : 'env',
      schedPolicy: envSched === undefined ? 'default' : 'env',
      ioPriority: envIo === undefined ? 'default' : 'env',
    },
  };
}

/** A per-spawn setting checked: a number in range, 'inherit' (null), or absent (undefined). */
function validateSetting(name: string, value: unknown, range: IntegerRange): number | null | undefined {
  if (value === undefined || value === null) return undefined; // as Node treats unset spawn options
  if (value === 'inherit') return null;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw outOfRange(name, `an integer >= ${range.min} && <= ${range.max}`, value);
    if (value < range.min || value > range.max) throw outOfRange(name, `>= ${range.min} && <= ${range.max}`, value);
    return value;
  }
  if (typeof value === 'string') throw invalidArgValue(name, value, "must be a number or 'inherit'");
  throw invalidArgType(name, "of type number or the string 'inherit'", value);
}

/**
 * The priorities to apply to one child: a per-spawn value wins (even with management off),
 * then, with management on, the defaults; undefined means the child keeps the agent's.
 * Throws for invalid options before anything is spawned.
 */
export function resolveChildPriority(options: GuardOptions): PriorityPlan {
  const settings = validateGuardOptions(options);
  logStartupOnce();
  // Management (and the addon behind it) is only consulted when a default is needed.
  const needsDefault = settings.oomScoreAdj === undefined || settings.nice === undefined ||
    settings.schedPolicy === undefined || settings.ioPriority === undefined;
  return applyDefaults(settings, needsDefault && managementState().enabled);
}

interface CheckedSettings {
  /** number: set it; null: 'inherit'; undefined: not given. */
  oomScoreAdj: number | null | undefined;
  nice: number | null | undefined;
  schedPolicy: SchedPolicy | null | undefined;
  ioPriority: IoPriority | null | undefined;
  strict: boolean;
}

function validateGuardOptions(options: GuardOptions): CheckedSettings {
  const given = ownOptions(options);
  const oomScoreAdj = validateSetting('options.oomScoreAdj', given.oomScoreAdj, OOM_SCORE_ADJ_RANGE);
  const nice = validateSetting('options.nice', given.nice, NICE_RANGE);
  const schedPolicy = validateSchedPolicy(given.schedPolicy);
  const ioPriority = validateIoPriority(given.ioPriority);
  const strict = given.strict;
  if (strict != null && typeof strict !== 'boolean') throw invalidArgType('options.strict', 'of type boolean', strict); // null: unset, as Node's options
  return { oomScoreAdj, nice, schedPolicy, ioPriority, strict: strict === true };
}

function applyDefaults(settings: CheckedSettings, managed: boolean): PriorityPlan {
  // Null prototype: the plan's unset fields must stay unset whatever Object.prototype holds.
  const resolved: PriorityPlan = ownOptions({ strict: settings.strict });
  if (typeof settings.oomScoreAdj === 'number') resolved.oomScoreAdj = settings.oomScoreAdj;
  else if (settings.oomScoreAdj === undefined && managed) {
    resolved.oomScoreAdj = oomScoreFromEnv() ?? computeChildOomScore(recentOwnOomScoreAdj() ?? 0);
  }
  if (typeof settings.nice === 'number') resolved.nice = settings.nice;
  else if (settings.nice === undefined && managed) resolved.nice = niceFromEnv() ?? computeChildNice(readOwnNice() ?? 0);
  const schedPolicy = settings.schedPolicy === undefined && managed ? schedPolicyFromEnv() : settings.schedPolicy;
  if (schedPolicy) resolved.schedPolicy = schedPolicy;
  const ioPriority = settings.ioPriority === undefined && managed ? ioPriorityFromEnv() : settings.ioPriority;
  if (ioPriority) resolved.ioPriority = ioPriority;
  return resolved;
}

/**
 * resolveChildPriority() with management taken as on or off rather than looked up: for
 * tests, where the native addon (which management needs) may not be loaded.
 */
export function resolveChildPriorityWith(options: GuardOptions, managementEnabled: boolean): PriorityPlan {
  return applyDefaults(validateGuardOptions(options), managementEnabled);
}

function agentDumpable(): number | null {
  try {
    return loadNative().binding?.selfInfo().dumpable ?? null;
  } catch {
    return null;
  }
}

/** The child set-up steps whose failure is a warning (fatal under strict), as the addon names them. */
export type PriorityStep = 'setpriority' | 'oom_score_adj' | 'sched_setscheduler' | 'ioprio_set';

const PRIORITY_STEPS: Record<PriorityStep, { what: string; field: 'nice' | 'oomScoreAdj' | 'schedPolicy' | 'ioPriority' }> = {
  setpriority: { what: 'niceness', field: 'nice' },
  oom_score_adj: { what: 'oom score', field: 'oomScoreAdj' },
  sched_setscheduler: { what: 'scheduling policy', field: 'schedPolicy' },
  ioprio_set: { what: 'IO priority', field: 'ioPriority' },
};

export function isPriorityStep(step: unknown): step is PriorityStep {
  return typeof step === 'string' && Object.hasOwn(PRIORITY_STEPS, step);
}

/** The field of child.priority a step sets. */
export function priorityField(step: PriorityStep): 'nice' | 'oomScoreAdj' | 'schedPolicy' | 'ioPriority' {
  return PRIORITY_STEPS[step].field;
}

/** Why the kernel may have refused a priority step, for a person fixing it; '' when there is nothing to add. */
export function failureHint(step: PriorityStep, errno: number): string {
  const code = errnoName(errno);
  if (code === 'EROFS') return '/proc is mounted read-only';
  if (code === 'ENOENT') return '/proc is not mounted';
  const refused = code === 'EACCES' || code === 'EPERM';
  if (step === 'setpriority') {
    return refused ? "lowering nice below the agent's needs CAP_SYS_NICE" : '';
  }
  if (step === 'sched_setscheduler') {
    if (!refused) return '';
    const own = readOwnSchedPolicy();
    return own === SCHED_POLICY_NUMBERS.idle
      ? `the agent runs under SCHED_IDLE, which its children inherit, and leaving it needs CAP_SYS_NICE or an RLIMIT_NICE that allows the child's nice`
      : 'a seccomp filter or security module refused sched_setscheduler';
  }
  if (step === 'ioprio_set') {
    // best-effort and idle need no privilege for one's own process.
    return refused ? 'a seccomp filter or security module refused ioprio_set' : '';
  }
  if (!refused) return '';
  const floor = "going below the agent's floor (oom_score_adj_min) needs CAP_SYS_RESOURCE";
  return agentDumpable() === 0
    ? `the agent is not dumpable (PR_GET_DUMPABLE is 0), so /proc/self/oom_score_adj may not be writable; or ${floor}`
    : floor;
}

/** How a command is shown in a warning: quoted, one line, bounded. */
function showCommand(command: string): string {
  const shown = command.length > 200 ? `${command.slice(0, 197)}...` : command;
  return JSON.stringify(shown);
}

/** A priority value as a warning shows it: 998, SCHED_IDLE, best-effort:7. */
function showValue(step: PriorityStep, value: number | SchedPolicy | IoPriority): string {
  if (step === 'sched_setscheduler') return schedPolicyLabel(value as SchedPolicy);
  if (step === 'ioprio_set') return formatIoPriority(value as IoPriority);
  return String(value);
}

/** What was refused and why: `oom score to -1000: EACCES; going below ...`. */
function refusal(step: PriorityStep, errno: number, value: number | SchedPolicy | IoPriority): { what: string; why: string } {
  const what = `${PRIORITY_STEPS[step].what} to ${showValue(step, value)}`;
  const hint = failureHint(step, errno);
  return { what, why: `${errnoName(errno)}${hint ? `; ${hint}` : ''}` };
}

/**
 * The warning line for a priority step that failed (errno positive, as the addon gives it),
 * e.g. `failed to adjust oom score to -1000 for "sleep 10": EACCES; going below ...`.
 */
export function describePriorityFailure(
  step: PriorityStep,
  errno: number,
  value: number | SchedPolicy | IoPriority,
  command: string,
): string {
  const { what, why } = refusal(step, errno, value);
  return `failed to adjust ${what} for ${showCommand(command)}: ${why}`;
}

/**
 * describePriorityFailure(), returned for the child's `priority.warnings`; warned once per
 * step, value and errno (not per command: a refused setting is refused for every spawn).
 */
export function reportPriorityFailure(
  step: PriorityStep,
  errno: number,
  value: number | SchedPolicy | IoPriority,
  command: string,
): string {
  const { what, why } = refusal(step, errno, value);
  warning('PROCGUARD_PRIORITY_NOT_APPLIED', `failed to adjust ${what} for children: ${why}`);
  return describePriorityFailure(step, errno, value, command);
}
