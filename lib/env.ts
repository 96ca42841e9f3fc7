// The guard's variables: read from the agent's environment, kept out of every child's.
import { currentConfig } from './config';
import { warning } from './logger';

/** Whether `name` belongs to procguard (starts with the configured prefix) and so never reaches a child. */
export function isGuardVariable(name: string): boolean {
  return name.startsWith(currentConfig().envPrefix);
}

/**
 * A copy of `env` without the guard's variables, so a nested agent in a child does not
 * inherit this agent's settings. Other variables are kept as they are.
 */
export function stripGuardVariables(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const prefix = currentConfig().envPrefix;
  const stripped: Record<string, string | undefined> = {};
  for (const name of Object.keys(env)) {
    if (!name.startsWith(prefix)) stripped[name] = env[name];
  }
  return stripped;
}

export interface IntegerRange {
  min: number;
  max: number;
}

const INTEGER_PATTERN = /^[+-]?\d+$/; // as Go's strconv.Atoi in Coder's agent: no spaces

/** The last raw value seen per variable and what it parsed to; spawns re-read the env, not re-parse it. */
const parsed = new Map<string, { raw: string; value: unknown }>();
/** `name=value` pairs already warned about: one warning per distinct bad value. */
const warned = new Set<string>();

/**
 * The value of variable `name` of the agent's environment as `parse` reads it; undefined when
 * the variable is absent, or when `parse` rejects it (returns undefined): then one warning,
 * saying what is allowed (`allowed`), is logged for that value and the caller uses its default.
 */
export function readVariable<T>(name: string, parse: (raw: string) => T | undefined, allowed: string): T | undefined {
  const raw = process.env[name];
  if (raw === undefined) return undefined;
  const cached = parsed.get(name);
  if (cached && cached.raw === raw) return cached.value as T | undefined;

  const value = parse(raw);
  parsed.set(name, { raw, value });
  if (value === undefined && !warned.has(`${name}=${raw}`)) {
    warned.add(`${name}=${raw}`);
    warning('PROCGUARD_INVALID_VARIABLE', `ignoring ${name}=${JSON.stringify(raw)}: ${allowed}; using the default`);
  }
  return value;
}

/**
 * The integer in variable `name` of the agent's environment; undefined when the variable is
 * absent, or when its value is not an integer within `range` (then one warning is logged
 * for that value and the caller uses its default).
 */
export function readIntegerVariable(name: string, range: IntegerRange): number | undefined {
  return readVariable(name, (raw) => {
    if (!INTEGER_PATTERN.test(raw)) return undefined;
    const number = Number(raw);
    if (number < range.min || number > range.max) return undefined;
    return number === 0 ? 0 : number; // no -0
  }, `must be an integer from ${range.min} to ${range.max}`);
}
