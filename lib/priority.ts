// What oom_score_adj and nice each child gets, and how a failure to apply them reads.
import type { ChildDefaults, GuardOptions } from './types';
import { invalidArgType, invalidArgValue, outOfRange, errnoName } from './errors';
import { logStartupOnce, managementState, variableNames } from './config';
import { readIntegerVariable, type IntegerRange } from './env';
import { warning } from './logger';
import { loadNative } from './native';
import { readOwnNice, readOwnOomScoreAdj, recentOwnOomScoreAdj } from './self';

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

/**
 * The priorities a child gets when management is on: the environment's values, else
 * computed from `agent` (default: the agent's current oom_score_adj and nice).
 */
export function childDefaults(agent?: { oomScoreAdj: number; nice: number }): ChildDefaults {
  const envOom = oomScoreFromEnv();
  const envNice = niceFromEnv();
  return {
    oomScoreAdj: envOom ?? computeChildOomScore(agent ? agent.oomScoreAdj : readOwnOomScoreAdj() ?? 0),
    nice: envNice ?? computeChildNice(agent ? agent.nice : readOwnNice() ?? 0),
    source: { oomScoreAdj: envOom === undefined ? 'computed' : 'env', nice: envNice === undefined ? 'computed' : 'env' },
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
export function resolveChildPriority(options: GuardOptions): { oomScoreAdj?: number; nice?: number; strict: boolean } {
  const settings = validateGuardOptions(options);
  logStartupOnce();
  // Management (and the addon behind it) is only consulted when a default is needed.
  const needsDefault = settings.oomScoreAdj === undefined || settings.nice === undefined;
  return applyDefaults(settings, needsDefault && managementState().enabled);
}

interface CheckedSettings {
  /** number: set it; null: 'inherit'; undefined: not given. */
  oomScoreAdj: number | null | undefined;
  nice: number | null | undefined;
  strict: boolean;
}

function validateGuardOptions(options: GuardOptions): CheckedSettings {
  const given = (options ?? {}) as GuardOptions;
  const oomScoreAdj = validateSetting('options.oomScoreAdj', given.oomScoreAdj, OOM_SCORE_ADJ_RANGE);
  const nice = validateSetting('options.nice', given.nice, NICE_RANGE);
  const strict = given.strict;
  if (strict !== undefined && typeof strict !== 'boolean') throw invalidArgType('options.strict', 'of type boolean', strict);
  return { oomScoreAdj, nice, strict: strict === true };
}

function applyDefaults(settings: CheckedSettings, managed: boolean): { oomScoreAdj?: number; nice?: number; strict: boolean } {
  const resolved: { oomScoreAdj?: number; nice?: number; strict: boolean } = { strict: settings.strict };
  if (typeof settings.oomScoreAdj === 'number') resolved.oomScoreAdj = settings.oomScoreAdj;
  else if (settings.oomScoreAdj === undefined && managed) {
    resolved.oomScoreAdj = oomScoreFromEnv() ?? computeChildOomScore(recentOwnOomScoreAdj() ?? 0);
  }
  if (typeof settings.nice === 'number') resolved.nice = settings.nice;
  else if (settings.nice === undefined && managed) resolved.nice = niceFromEnv() ?? computeChildNice(readOwnNice() ?? 0);
  return resolved;
}

/**
 * resolveChildPriority() with management taken as on or off rather than looked up: for
 * tests, where the native addon (which management needs) may not be loaded.
 */
export function resolveChildPriorityWith(
  options: GuardOptions,
  managementEnabled: boolean,
): { oomScoreAdj?: number; nice?: number; strict: boolean } {
  return applyDefaults(validateGuardOptions(options), managementEnabled);
}

function agentDumpable(): number | null {
  try {
    return loadNative().binding?.selfInfo().dumpable ?? null;
  } catch {
    return null;
  }
}

/** Why the kernel may have refused a priority step, for a person fixing it; '' when there is nothing to add. */
export function failureHint(step: 'setpriority' | 'oom_score_adj', errno: number): string {
  const code = errnoName(errno);
  if (code === 'EROFS') return '/proc is mounted read-only';
  if (code === 'ENOENT') return '/proc is not mounted';
  if (step === 'setpriority') {
    return code === 'EACCES' || code === 'EPERM' ? "lowering nice below the agent's needs CAP_SYS_NICE" : '';
  }
  if (code !== 'EACCES' && code !== 'EPERM') return '';
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

/** What was refused and why: `oom score to -1000: EACCES; going below ...`. */
function refusal(step: 'setpriority' | 'oom_score_adj', errno: number, value: number): { what: string; why: string } {
  const what = `${step === 'setpriority' ? 'niceness' : 'oom score'} to ${value}`;
  const hint = failureHint(step, errno);
  return { what, why: `${errnoName(errno)}${hint ? `; ${hint}` : ''}` };
}

/**
 * The warning line for a priority step that failed (errno positive, as the addon gives it),
 * e.g. `failed to adjust oom score to -1000 for "sleep 10": EACCES; going below ...`.
 */
export function describePriorityFailure(
  step: 'setpriority' | 'oom_score_adj',
  errno: number,
  value: number,
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
  step: 'setpriority' | 'oom_score_adj',
  errno: number,
  value: number,
  command: string,
): string {
  const { what, why } = refusal(step, errno, value);
  warning('PROCGUARD_PRIORITY_NOT_APPLIED', `failed to adjust ${what} for children: ${why}`);
  return describePriorityFailure(step, errno, value, command);
}
