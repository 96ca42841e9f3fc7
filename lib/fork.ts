// fork(): a Node child with an IPC channel, as node:child_process's. The channel itself is Node's
// own (a Pipe handle procguard's engine connects), so send(), 'message', disconnect() and handle
// passing behave exactly as in Node; the child has its oom_score_adj and nice before it runs.
import type { ForkOptions } from 'node:child_process';
import { codedError, invalidArgType, invalidArgValue } from './errors';
import { checkNoNullBytes, spawn, validatedPath } from './spawn';
import type { GuardedChildProcess } from './spawn';
import type { GuardOptions } from './types';
import { asyncEngine, warnRuntimeFallbackOnce } from './runtime/engine';
import { ipcUnavailable } from './runtime/child-process';
import { nodeChildProcess } from './node-child-process';

export type GuardedForkOptions = ForkOptions & GuardOptions;

/** Node's stdioStringToArray(). */
function stdioWithChannel(stdio: string): unknown[] {
  switch (stdio) {
    case 'ignore':
    case 'overlapped':
    case 'pipe':
      return [stdio, stdio, stdio, 'ipc'];
    case 'inherit':
      return [0, 1, 2, 'ipc'];
    default:
      throw invalidArgValue('stdio', stdio);
  }
}

export function fork(modulePath: string | URL, args?: readonly string[] | GuardedForkOptions, options?: GuardedForkOptions): GuardedChildProcess {
  // Bun, Deno: the IPC channel is the runtime's own, which procguard's engine cannot hand over.
  const engine = asyncEngine();
  if (engine.kind === 'thread') throw ipcUnavailable('fork()');
  if (engine.kind === 'fallback') {
    warnRuntimeFallbackOnce(engine.reason);
    return (nodeChildProcess.fork as (...a: unknown[]) => GuardedChildProcess)(modulePath, args, options);
  }
  const module = validatedPath(modulePath, 'modulePath');
  let argList: string[];
  if (args == null) argList = [];
  else if (typeof args === 'object' && !Array.isArray(args)) {
    options = args as GuardedForkOptions;
    argList = [];
  } else if (!Array.isArray(args)) {
    throw invalidArgType('args', 'an instance of Array', args);
  } else {
    argList = args.slice();
  }
  if (options != null && (typeof options !== 'object' || Array.isArray(options))) {
    throw invalidArgType('options', 'of type object', options);
  }
  const opts: Record<string, unknown> = { __proto__: null, ...options, shell: false };
  opts.execPath = opts.execPath || process.execPath;
  checkNoNullBytes(opts.execPath, 'options.execPath');

  let execArgv = (opts.execArgv as string[] | undefined) || process.execArgv;
  // By index and then spread, as Node does: a string is taken character by character and
  // anything else that is not iterable throws Node's own TypeError ("execArgv is not iterable").
  for (let i = 0; i < execArgv.length; i++) checkNoNullBytes(execArgv[i], `options.execArgv[${i}]`);
  const evalSource = (process as unknown as { _eval?: string })._eval;
  if (execArgv === process.execArgv && evalSource != null) {
    // Drop `-e <code>`, or every fork would run the parent's script again.
    const index = execArgv.lastIndexOf(evalSource);
    if (index > 0) {
      execArgv = execArgv.slice();
      execArgv.splice(index - 1, 2);
    }
  }

  if (typeof opts.stdio === 'string') opts.stdio = stdioWithChannel(opts.stdio);
  else if (!Array.isArray(opts.stdio)) opts.stdio = stdioWithChannel(opts.silent ? 'pipe' : 'inherit');
  else if (!opts.stdio.includes('ipc')) {
    throw codedError(Error, 'ERR_CHILD_PROCESS_IPC_REQUIRED', "Forked processes must have an IPC channel, missing value 'ipc' in options.stdio");
  }
  return spawn(opts.execPath as string, [...execArgv, module, ...argList], opts as GuardedForkOptions);
}
