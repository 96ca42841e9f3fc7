// Errors shaped like Node's own (same class, code, message and `name [CODE]` stack line),
// so callers that test `err.code` behave the same with procguard as with node:child_process.
import { getSystemErrorName, inspect, promisify } from 'node:util';

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;

function nodeError<T extends Error>(Base: ErrorClass, code: string, message: string): T {
  const err = new Base(message) as T & { code: string };
  // Node shows the code in the name while the stack is captured, then restores it.
  Object.defineProperty(err, 'name', { value: `${Base.name} [${code}]`, configurable: true, writable: true, enumerable: false });
  void err.stack;
  delete (err as { name?: string }).name;
  // String(err) is `RangeError [ERR_OUT_OF_RANGE]: ...`, as Node defines it on each of its errors.
  Object.defineProperty(err, 'toString', {
    value(this: Error) {
      return `${this.name} [${code}]: ${this.message}`;
    },
    configurable: true,
    writable: true,
    enumerable: false,
  });
  err.code = code;
  return err;
}

/**
 * ` Received ...` as the running Node words it for `value`: taken from one of Node's own
 * ERR_INVALID_ARG_TYPE errors (util.promisify validates its argument first, with no effect
 * for a non-function), so it follows the Node version (e.g. where a truncated string keeps
 * its closing quote).
 */
function receivedByNode(value: unknown): string | undefined {
  try {
    promisify(value as never);
  } catch (err) {
    const match = /\. Received ([^]*)$/.exec((err as Error).message);
    if (match) return ` Received ${match[1]}`;
  }
  return undefined;
}

/** Node's description of a received value, as in its ERR_INVALID_ARG_TYPE messages. */
export function describeReceived(value: unknown): string {
  if (typeof value === 'function') return ` Received function ${(value as { name?: string }).name || '<anonymous>'}`;
  const byNode = receivedByNode(value);
  if (byNode !== undefined) return byNode;
  if (value == null) return ` Received ${value}`;
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

/** 1234567 -> '1_234_567', as Node shows large numbers it received. */
function withSeparators(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+$)/g, '_');
}

/** ERR_OUT_OF_RANGE: `The value of "name" is out of range. It must be <range>. Received <value>` */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  let received: string;
  if (Number.isInteger(value) && Math.abs(value as number) > 2 ** 32) received = withSeparators(String(value));
  else if (typeof value === 'bigint') {
    received = String(value);
    if (value > 2n ** 32n || value < -(2n ** 32n)) received = withSeparators(received);
    received += 'n';
  } else received = inspect(value);
  return nodeError<RangeError>(RangeError, 'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${received}`);
}

/** Any other Node-style coded error. */
export function codedError(Base: ErrorClass, code: string, message: string): Error {
  return nodeError(Base, code, message);
}

/**
 * The symbolic name of an errno, e.g. 2 -> 'ENOENT', as Node names it (util.getSystemErrorName:
 * 11 is EAGAIN, not its alias EWOULDBLOCK; 95 is ENOTSUP; one libuv does not know is
 * `Unknown system error -N`, as in Node's own errors).
 */
export function errnoName(errno: number): string {
  return getSystemErrorName(-Math.abs(errno));
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
