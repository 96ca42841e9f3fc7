// Errors shaped like Node's own (same class, code, message and `name [CODE]` stack line),
// so callers that test `err.code` behave the same with procguard as with node:child_process.
import { inspect } from 'node:util';
import * as os from 'node:os';

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;

function nodeError<T extends Error>(Base: ErrorClass, code: string, message: string): T {
  const err = new Base(message) as T & { code: string };
  // Node shows the code in the name while the stack is captured, then restores it.
  Object.defineProperty(err, 'name', { value: `${Base.name} [${code}]`, configurable: true, writable: true, enumerable: false });
  void err.stack;
  delete (err as { name?: string }).name;
  err.code = code;
  return err;
}

/** Node's description of a received value, as in its ERR_INVALID_ARG_TYPE messages. */
export function describeReceived(value: unknown): string {
  if (value == null) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${(value as { name?: string }).name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor as { name?: string } | undefined;
    if (ctor && ctor.name) return ` Received an instance of ${ctor.name}`;
    return ` Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

/** ERR_INVALID_ARG_TYPE: `The "name" argument must be of type string. Received ...` */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  const kind = name.includes('.') ? 'property' : 'argument';
  return nodeError<TypeError>(TypeError, 'ERR_INVALID_ARG_TYPE',
    `The "${name}" ${kind} must be ${expected}.${describeReceived(value)}`);
}

/** ERR_INVALID_ARG_VALUE: `The argument 'name' is invalid. Received ...` */
export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): TypeError {
  const kind = name.includes('.') ? 'property' : 'argument';
  let shown = inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return nodeError<TypeError>(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${kind} '${name}' ${reason}. Received ${shown}`);
}

/** ERR_OUT_OF_RANGE: `The value of "name" is out of range. It must be <range>. Received <value>` */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return nodeError<RangeError>(RangeError, 'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`);
}

/** Any other Node-style coded error. */
export function codedError(Base: ErrorClass, code: string, message: string): Error {
  return nodeError(Base, code, message);
}

const errnoNames: Record<number, string> = {};
for (const [name, num] of Object.entries(os.constants.errno)) errnoNames[num as number] = name;

/** The symbolic name of a positive errno, e.g. 2 -> 'ENOENT'. */
export function errnoName(errno: number): string {
  return errnoNames[Math.abs(errno)] ?? `Unknown system error ${-Math.abs(errno)}`;
}

export interface ErrnoError extends Error {
  errno: number;
  code: string;
  syscall: string;
  path?: string;
  spawnargs?: string[];
}

/** An error shaped like Node's ErrnoException: `spawn ls ENOENT`, errno negative, code, syscall. */
export function errnoException(errno: number, syscall: string): ErrnoError {
  const code = errnoName(errno);
  const err = new Error(`${syscall} ${code}`) as ErrnoError;
  err.errno = -Math.abs(errno);
  err.code = code;
  err.syscall = syscall;
  return err;
}
