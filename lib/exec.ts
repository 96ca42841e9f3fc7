// exec() and execFile(): Node's callback API over procguard's spawn, with maxBuffer, encoding,
// timeout and util.promisify support, behaving as node:child_process's do.
import type { ExecException } from 'node:child_process';
import { promisify, getSystemErrorName } from 'node:util';
import { codedError, invalidArgType, invalidArgValue, outOfRange } from './errors';
import { killSignalOf, spawn, validateTimeout } from './spawn';
import { ownOptions } from './own-options';
import type { GuardedChildProcess } from './spawn';
import type { GuardOptions } from './types';

const MAX_BUFFER = 1024 * 1024;

type Output = string | Buffer;
type ExecCallback = (error: ExecException | null, stdout: Output, stderr: Output) => void;

export function validateMaxBuffer(maxBuffer: unknown): void {
  if (maxBuffer != null && !(typeof maxBuffer === 'number' && maxBuffer >= 0)) {
    throw outOfRange('options.maxBuffer', 'a positive number', maxBuffer);
  }
}

/** Node's normalizeExecArgs(): a shell command becomes execFile(command, { shell }). */
export function normalizeExecArgs(command: unknown, options: unknown, callback: unknown) {
  if (typeof command !== 'string') throw invalidArgType('command', 'of type string', command);
  if (command.includes('\u0000')) throw invalidArgValue('command', command, 'must be a string without null bytes');
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  const opts = ownOptions(options as Record<string, unknown>);
  opts.shell = typeof opts.shell === 'string' ? opts.shell : true;
  return { file: command, options: opts, callback };
}

export function normalizeExecFileArgs(file: unknown, args: unknown, options: unknown, callback: unknown) {
  if (Array.isArray(args)) args = args.slice();
  else if (args != null && typeof args === 'object') {
    callback = options;
    options = args;
    args = null;
  } else if (typeof args === 'function') {
    callback = args;
    options = null;
    args = null;
  }
  if (args == null) args = [];
  if (typeof options === 'function') callback = options;
  else if (options != null && (typeof options !== 'object' || Array.isArray(options))) {
    throw invalidArgType('options', 'of type object', options);
  }
  options = ownOptions(options == null || typeof options === 'function' ? null : options as object);
  if (callback != null && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
  const argv0 = (options as Record<string, unknown>).argv0;
  if (argv0 != null) {
    if (typeof argv0 !== 'string') throw invalidArgType('options.argv0', 'of type string', argv0);
    if (argv0.includes('\u0000')) throw invalidArgValue('options.argv0', argv0, 'must be a string without null bytes');
  }
  return { file: file as string, args: args as string[], options: options as Record<string, unknown>, callback: callback as ExecCallback | undefined };
}

export function execFile(file: string, ...rest: unknown[]): GuardedChildProcess {
  const normalized = normalizeExecFileArgs(file, rest[0], rest[1], rest[2]);
  const { args, callback } = normalized;
  const options: Record<string, unknown> = {
    __proto__: null,
    encoding: 'utf8',
    timeout: 0,
    maxBuffer: MAX_BUFFER,
    killSignal: 'SIGTERM',
    cwd: null,
    env: null,
    shell: false,
    ...normalized.options,
  };
  validateTimeout(options.timeout);
  validateMaxBuffer(options.maxBuffer);
  const killSignal = killSignalOf(options.killSignal);
  const maxBuffer = options.maxBuffer as number;

  const child = spawn(normalized.file, args, {
    cwd: options.cwd as string | undefined,
    env: options.env as NodeJS.ProcessEnv | undefined,
    gid: options.gid as number | undefined,
    uid: options.uid as number | undefined,
    shell: options.shell as boolean | string,
    signal: options.signal as AbortSignal | undefined,
    // Node's execFile validates argv0 but never passes it on: $0 stays the file.
    windowsHide: !!options.windowsHide,
    windowsVerbatimArguments: !!options.windowsVerbatimArguments,
    oomScoreAdj: options.oomScoreAdj as number | 'inherit' | undefined,
    nice: options.nice as number | 'inherit' | undefined,
    schedPolicy: options.schedPolicy as GuardOptions['schedPolicy'],
    ioPriority: options.ioPriority as GuardOptions['ioPriority'],
    strict: options.strict as boolean | undefined,
    cgroup: options.cgroup as GuardOptions['cgroup'],
  });

  const encoding = options.encoding !== 'buffer' && Buffer.isEncoding(options.encoding as string)
    ? (options.encoding as BufferEncoding) : null;
  const stdoutChunks: Output[] = [];
  const stderrChunks: Output[] = [];
  let stdoutLength = 0;
  let stderrLength = 0;
  let killed = false;
  let exited = false;
  let timer: NodeJS.Timeout | null = null;
  let failure: (Error & Record<string, unknown>) | null = null;

  function joined(chunks: Output[], stream: NodeJS.ReadableStream | null): Output {
    const streamEncoding = stream && (stream as unknown as { readableEncoding: string | null }).readableEncoding;
    return encoding || streamEncoding ? chunks.join('') : Buffer.concat(chunks as Buffer[]);
  }

  function onExit(code?: number | null, signal?: NodeJS.Signals | null): void {
    if (exited) return;
    exited = true;
    if (timer) clearTimeout(timer);
    timer = null;
    if (!callback) return;
    const stdout = joined(stdoutChunks, child.stdout);
    const stderr = joined(stderrChunks, child.stderr);
    if (!failure && code === 0 && signal === null) {
      callback(null, stdout, stderr);
      return;
    }
    let cmd = normalized.file;
    if (args.length) cmd += ` ${args.join(' ')}`;
    const err = (failure ?? Object.assign(new Error(`Command failed: ${cmd}\n${stderr}`), {
      code: (code as number) < 0 ? getSystemErrorName(code as number) : code,
      killed: child.killed || killed,
      signal,
    })) as Error & Record<string, unknown>;
    err.cmd = cmd;
    callback(err as ExecException, stdout, stderr);
  }

  function onError(err: Error): void {
    failure = err as Error & Record<string, unknown>;
    child.stdout?.destroy();
    child.stderr?.destroy();
    onExit();
  }

  function kill(): void {
    child.stdout?.destroy();
    child.stderr?.destroy();
    killed = true;
    try {
      child.kill(killSignal);
    } catch (err) {
      failure = err as Error & Record<string, unknown>;
      onExit();
    }
  }

  if ((options.timeout as number) > 0) {
    timer = setTimeout(() => {
      kill();
      timer = null;
    }, options.timeout as number);
  }

  function collect(stream: NodeJS.ReadableStream | null, chunks: Output[], name: 'stdout' | 'stderr'): void {
    if (!stream) return;
    if (encoding) stream.setEncoding(encoding);
    stream.on('data', (chunk: Output) => {
      if (maxBuffer === Infinity) {
        chunks.push(chunk);
        return;
      }
      const streamEncoding = (stream as unknown as { readableEncoding: BufferEncoding | null }).readableEncoding;
      const length = streamEncoding ? Buffer.byteLength(chunk as string, streamEncoding) : chunk.length;
      const total = (name === 'stdout' ? (stdoutLength += length) : (stderrLength += length));
      if (total > maxBuffer) {
        const keep = maxBuffer - (total - length);
        chunks.push(chunk.slice(0, keep));
        failure = codedError(RangeError, 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER', `${name} maxBuffer length exceeded`) as Error & Record<string, unknown>;
        kill();
      } else {
        chunks.push(chunk);
      }
    });
  }
  collect(child.stdout, stdoutChunks, 'stdout');
  collect(child.stderr, stderrChunks, 'stderr');

  child.addListener('close', onExit);
  child.addListener('error', onError);
  return child;
}

export function exec(command: string, ...rest: unknown[]): GuardedChildProcess {
  const normalized = normalizeExecArgs(command, rest[0], rest[1]);
  return execFile(normalized.file, normalized.options, normalized.callback);
}

/**
 * util.promisify(exec) resolves { stdout, stderr } and exposes the child as `promise.child`.
 * The call happens outside the promise, as in Node: a bad argument throws, it does not reject.
 */
function promiseVariant(run: (...args: unknown[]) => GuardedChildProcess) {
  return (...args: unknown[]) => {
    let resolve!: (value: { stdout: Output; stderr: Output }) => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    }) as Promise<{ stdout: Output; stderr: Output }> & { child: GuardedChildProcess };
    promise.child = run(...args, (err: (Error & Record<string, unknown>) | null, stdout: Output, stderr: Output) => {
      if (err !== null) {
        err.stdout = stdout;
        err.stderr = stderr;
        reject(err);
      } else {
        resolve({ stdout, stderr });
      }
    });
    return promise;
  };
}

Object.defineProperty(exec, promisify.custom, { enumerable: false, value: promiseVariant(exec as (...a: unknown[]) => GuardedChildProcess) });
Object.defineProperty(execFile, promisify.custom, { enumerable: false, value: promiseVariant(execFile as (...a: unknown[]) => GuardedChildProcess) });
