// spawnSync(), execSync(), execFileSync(): Node's signatures, results and thrown errors, run
// on procguard's clone engine (native/spawn_sync.cc pumps the pipes, timeout and maxBuffer).
import type { SpawnSyncOptions, SpawnSyncReturns } from 'node:child_process';
import { codedError, errnoException, invalidArgType, invalidArgValue } from './errors';
import { loadNative } from './native';
import type { NativeStdio } from './native';
import { isPriorityStep, resolveChildPriority } from './priority';
import { appliedPriority, NOTHING_APPLIED, killSignalOf, normalizeSpawnArguments, strictFailureNote, validateTimeout, warnUnappliedOnce } from './spawn';
import { launchRequest, signalName } from './process-handle';
import type { ResourceUsage } from './spawn';
import { normalizeExecArgs, normalizeExecFileArgs, validateMaxBuffer } from './exec';
import type { AppliedPriority, GuardOptions } from './types';
import { Containment } from './cgroup/containment';
import type { ChildCgroup } from './cgroup/child-cgroup';
import type { OomKill } from './cgroup/oom-verdict';
import { nodeChildProcess } from './node-child-process';
import { cgroupDirOf, publishExit, publishSpawn } from './diagnostics';
import { ownOptions } from './own-options';
import { guardPolicyOf, syncGuardVerdict, syncWatchRequest } from './guard';

const MAX_BUFFER = 1024 * 1024;

export type GuardedSpawnSyncOptions = SpawnSyncOptions & GuardOptions;

export interface GuardedSpawnSyncReturns<T> extends SpawnSyncReturns<T> {
  priority: AppliedPriority;
  resourceUsage?: ResourceUsage;
  oomKill?: OomKill | null;
  cgroup: ChildCgroup | null;
}

/** One stdio entry of a sync spawn, as the native pump takes it. */
type SyncStdio = NativeStdio & { childReads?: boolean; childWrites?: boolean; input?: unknown };

function isArrayBufferView(value: unknown): value is ArrayBufferView {
  return ArrayBuffer.isView(value);
}

/** Node's getValidStdio(stdio, sync = true). */
function syncStdio(stdio: unknown): SyncStdio[] {
  let list: unknown[];
  if (typeof stdio === 'string') {
    switch (stdio) {
      case 'ignore': list = ['ignore', 'ignore', 'ignore']; break;
      case 'pipe': list = ['pipe', 'pipe', 'pipe']; break;
      case 'overlapped': list = ['overlapped', 'overlapped', 'overlapped']; break;
      case 'inherit': list = [0, 1, 2]; break;
      default: throw invalidArgValue('stdio', stdio);
    }
  } else if (Array.isArray(stdio)) {
    list = stdio.slice();
  } else {
    throw invalidArgValue('stdio', stdio);
  }
  while (list.length < 3) list.push(undefined);

  // As Node's reduce over the array: a hole is skipped (later entries move down), and an
  // entry's kind comes from its index in the array given.
  const entries: SyncStdio[] = [];
  list.forEach((entry, i) => entries.push(ownOptions(syncStdioEntry(entry, i))));
  return entries;
}

function syncStdioEntry(entry: unknown, i: number): SyncStdio {
  if (entry == null) entry = i < 3 ? 'pipe' : 'ignore';
  const pipe = { kind: 'pipe' as const, childReads: i === 0, childWrites: i !== 0 };
  if (entry === 'ignore') return { kind: 'ignore' };
  if (entry === 'pipe' || entry === 'overlapped' || (typeof entry === 'number' && entry < 0)) return pipe;
  if (entry === 'ipc') throw codedError(Error, 'ERR_IPC_SYNC_FORK', 'IPC cannot be used with synchronous forks');
  if (entry === 'inherit') return { kind: 'fd', fd: i };
  if (typeof entry === 'number') return { kind: 'fd', fd: entry };
  const stream = entry as { fd?: unknown; _handle?: { fd?: unknown }; handle?: { fd?: unknown } };
  if (typeof stream.fd === 'number') return { kind: 'fd', fd: stream.fd };
  const handleFd = stream._handle?.fd ?? stream.handle?.fd;
  if (typeof handleFd === 'number' && handleFd >= 0) return { kind: 'fd', fd: handleFd };
  // Data for the child on this fd: written, then end-of-file, whatever the index.
  if (isArrayBufferView(entry) || typeof entry === 'string') return { kind: 'pipe', childReads: true, childWrites: false, input: entry };
  throw invalidArgValue('stdio', entry);
}

function toBuffer(input: unknown, i: number, encoding: unknown): Buffer {
  if (typeof input === 'string') {
    return Buffer.from(input, Buffer.isEncoding(encoding as string) ? (encoding as BufferEncoding) : 'utf8');
  }
  if (isArrayBufferView(input)) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  throw invalidArgType(`options.stdio[${i}]`, 'of type string or an instance of Buffer, TypedArray, or DataView', input);
}

/**
 * stdout and stderr of a result whose child never started, as the running Node gives them:
 * null up to Node 20 (`output && output[1]`), undefined from Node 22 (`output?.[1]`); seen on
 * 20.20, 22.23 and 24.22. A version check, not a probe: asking Node's own spawnSync would be a
 * spawn the caller can observe.
 */
const NEVER_STARTED_STDIO: null | undefined = Number(process.versions.node.split('.')[0]) >= 22 ? undefined : null;

/** spawnSync(command, args?, options?) as in node:child_process, with procguard's options. */
export function spawnSync(command: string, args?: readonly string[] | GuardedSpawnSyncOptions, options?: GuardedSpawnSyncOptions): GuardedSpawnSyncReturns<string | Buffer> {
  const normalized = normalizeSpawnArguments(command, args, options);
  const opts = { __proto__: null, maxBuffer: MAX_BUFFER, ...normalized.options } as Record<string, unknown>;
  validateTimeout(opts.timeout);
  validateMaxBuffer(opts.maxBuffer);
  const killSignal = killSignalOf(opts.killSignal);
  const stdio = syncStdio(opts.stdio || 'pipe');
  if (opts.input) stdio[0] = ownOptions({ ...stdio[0], input: opts.input });
  stdio.forEach((entry, i) => {
    if (entry.input != null) entry.input = toBuffer(entry.input, i, opts.encoding);
  });

  const { binding } = loadNative();
  const plan = resolveChildPriority(opts as GuardOptions);
  const containment = new Containment(opts.cgroup, !!binding);
  const guardPolicy = guardPolicyOf(opts.guard);
  if (!binding) {
    // Not Linux, or no addon: Node's own spawnSync, priority not applied.
    const result = nodeChildProcess.spawnSync(command, args as string[], options as SpawnSyncOptions) as GuardedSpawnSyncReturns<string | Buffer>;
    result.priority = { ...NOTHING_APPLIED, warnings: [] };
    warnUnappliedOnce(plan);
    return result;
  }

  let native: ReturnType<typeof binding.spawnSync>;
  try {
    // A refused launch hands back nothing to release: the sync engine closed its pipes.
    native = containment.launch((joinFiles?: string[]) => binding.spawnSync(ownOptions({
      ...launchRequest({ ...normalized, uid: opts.uid as number | undefined, gid: opts.gid as number | undefined }, plan, joinFiles),
      stdio,
      timeout: (opts.timeout as number | undefined) ?? 0,
      maxBuffer: opts.maxBuffer as number,
      killSignal: killSignal ?? 15,
      guardWatch: syncWatchRequest(guardPolicy, containment.cgroup),
    })), () => {});
  } catch (err) {
    containment.abandon(); // a throw after the cgroup was made leaves no cgroup behind
    throw err;
  }

  const command_ = [normalized.file, ...normalized.args.slice(1)].join(' ');
  const priority = appliedPriority(plan, native, command_);
  const encoding = opts.encoding;
  const decode = (b: Buffer | null): string | Buffer | null =>
    b && encoding && encoding !== 'buffer' ? b.toString(encoding as BufferEncoding) : b;

  const failed = native.errno !== 0;
  const output = failed ? null : (native.output ?? []).map(decode);
  const errno = failed ? native.errno : native.error ?? 0;
  const result: Record<string, unknown> = {};
  if (errno) {
    const err = errnoException(errno, `spawnSync ${normalized.file}`);
    err.path = normalized.file;
    err.spawnargs = normalized.args.slice(1);
    if (failed && plan.strict && isPriorityStep(native.failedStep)) {
      err.message += strictFailureNote(priority);
    }
    result.error = err;
  }
  const signal = !failed && native.signal ? signalName(native.signal) : null;
  result.status = failed || signal ? null : native.exitCode;
  result.signal = signal;
  result.output = output;
  result.pid = native.pid;
  result.stdout = output ? output[1] : NEVER_STARTED_STDIO;
  result.stderr = output ? output[2] : NEVER_STARTED_STDIO;
  // Not enumerable: the result's keys (and those execSync copies onto its error) stay Node's.
  const extra = (name: string, value: unknown) =>
    Object.defineProperty(result, name, { value, enumerable: false, writable: true, configurable: true });
  extra('priority', priority);
  extra('cgroup', containment.cgroup);
  if (failed) {
    containment.abandon();
  } else {
    const { resourceUsage, oomKill } = containment.finish(native.pid, {
      rusage: native.rusage!,
      wallMicros: native.wallMicros ?? 0,
      signal: native.signal ?? 0,
    }, true);
    extra('resourceUsage', resourceUsage);
    extra('oomKill', syncGuardVerdict(native.guardId, native.pid, guardPolicy) ?? oomKill);
    const spawnargs = normalized.args;
    const cgroup = cgroupDirOf(containment.cgroup);
    // A sync child starts and ends within this call: both events, in order, once it is reaped.
    publishSpawn(() => ({ pid: native.pid, file: normalized.file, spawnargs, sync: true, priority, cgroup }));
    publishExit(() => ({
      pid: native.pid, file: normalized.file, spawnargs, sync: true,
      code: native.signal ? null : native.exitCode ?? null,
      signal: native.signal ? (signalName(native.signal) as NodeJS.Signals) : null,
      resourceUsage, oomKill, cgroup,
    }));
  }
  return result as unknown as GuardedSpawnSyncReturns<string | Buffer>;
}

/** Node's checkExecSyncError(): the error execSync/execFileSync throw, or undefined. */
function execSyncError(ret: Record<string, unknown>, args: string[] | undefined, cmd?: string): Error | undefined {
  let err: Error;
  if (ret.error) err = Object.assign(ret.error as Error, ret);
  else if (ret.status === 0) return undefined;
  else {
    let message = `Command failed: ${cmd || (args ?? []).join(' ')}`;
    const stderr = ret.stderr as Buffer | string | null;
    if (stderr && stderr.length > 0) message += `\n${stderr.toString()}`;
    err = Object.assign(new Error(message), ret);
  }
  // What procguard adds stays on the thrown error too (not enumerable, as on the result).
  for (const name of ['priority', 'resourceUsage', 'oomKill', 'cgroup']) {
    if (name in ret) Object.defineProperty(err, name, { value: ret[name], enumerable: false, writable: true, configurable: true });
  }
  return err;
}

export function execFileSync(file: string, ...rest: unknown[]): string | Buffer {
  const { args, options } = normalizeExecFileArgs(file, rest[0], rest[1], undefined);
  const inheritStderr = !options.stdio;
  const ret = spawnSync(file, args, options as GuardedSpawnSyncOptions);
  if (inheritStderr && ret.stderr) process.stderr.write(ret.stderr);
  const err = execSyncError(ret as unknown as Record<string, unknown>, [(options.argv0 as string) || file, ...args]);
  if (err) throw err;
  return ret.stdout;
}

export function execSync(command: string, options?: unknown): string | Buffer {
  const normalized = normalizeExecArgs(command, options, null);
  const inheritStderr = !normalized.options.stdio;
  const ret = spawnSync(normalized.file, normalized.options as GuardedSpawnSyncOptions);
  if (inheritStderr && ret.stderr) process.stderr.write(ret.stderr);
  const err = execSyncError(ret as unknown as Record<string, unknown>, undefined, command);
  if (err) throw err;
  return ret.stdout;
}
