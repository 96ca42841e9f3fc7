// Node-style checks of one option's value, shared by every options reader (the cgroup spec,
// the guard): the error names the option, the value and what is allowed, as Node's validators do.
import { invalidArgType, outOfRange } from './errors';

/** An integer within [min, max], else ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE naming `name`. */
export function integerIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) throw outOfRange(name, `an integer >= ${min} && <= ${max}`, value);
  return value;
}

/** A boolean, or `fallback` when the option is absent. */
export function booleanOr(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}
