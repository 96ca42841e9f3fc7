// spawn(): Node's signature and validation, a real ChildProcess, and procguard's engine under it.
import { ChildProcess } from 'node:child_process';
import type { SpawnOptions } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { codedError, invalidArgType, invalidArgValue, outOfRange } from './errors';
import { isGuardVariable } from './env';
import { ownOptions } from './own-options';
import { loadNative } from './native';
import type { NativeExit, NativeSpawnResult } from './native';
import { GuardedProcessHandle, signalName } from './process-handle';
import { childProcessAround } from './child-object';
import { cgroupDirOf, publishExit, publishSpawn } from './diagnostics';
import type { PriorityPlan } from './process-handle';
import { isPriorityStep, priorityField, reportPriorityFailure, resolveChildPriority } from './priority';
import { warning } from './logger';
import type { AppliedPriority, GuardOptions } from './types';
import { Containment } from './cgroup/containment';
import type { ResourceUsage } from './cgroup/containment';
import type { ChildCgroup } from './cgroup/child-cgroup';
import type { OomKill } from './cgroup/oom-verdict';
import { guardPolicyOf, watchChild } from './guard';
import type { GuardKill, GuardPolicy } from './guard';
import { asyncEngine, warnRuntimeFallbackOnce } from './runtime/engine';
import { RuntimeChildProcess } from './runtime/child-process';
import { nodeChildProcess } from './node-child-process';

export type GuardedSpawnOptions = SpawnOptions & GuardOptions;

/** A ChildProcess started by procguard: Node's class, plus what procguard applied and measured. */
export interface GuardedChildProcess extends ChildProcess {
  priority: AppliedPriority;
  /** Set before 'exit': rusage from waitid, and the kernel's counters of its own cgroup when it had one. */
  resourceUsage?: ResourceUsage;
  /** Set before 'exit': null, or why the kernel's OOM killer (or procguard's guard) ended it. */
  oomKill?: OomKill | GuardKill | null;
  /** The child's own cgroup (options.cgroup), or null. */
  cgroup: ChildCgroup | null;
  /** Ends the child and every descendant (cgroup.kill, or freeze/signal/thaw; a /proc walk without a cgroup). */
  killTree(signal?: NodeJS.Signals | number): void;
}

export type { ResourceUsage };

/** Spawn options after Node's normalization. */
export interface NormalizedSpawn {
  file: string;
  /** argv, argv[0] first. */
  args: string[];
  envPairs: string[];
  cwd?: string;
  detached: boolean;
  options: Record<string, unknown>;
}

export function checkNoNullBytes(value: unknown, name: string): void {
  if (typeof value === 'string' && value.includes('\u0000')) {
    throw invalidArgValue(name, value, 'must be a string without null bytes');
  }
}

/** Node's getValidatedPath(): a string, Buffer or file URL, without null bytes. */
export function validatedPath(value: unknown, name: string): string {
  let path: unknown = value;
  if (value instanceof URL) path = fileURLToPath(value);
  else if (Buffer.isBuffer(value)) path = value.toString();
  else if (typeof value !== 'string') {
    throw invalidArgType(name, 'of type string or an instance of Buffer or URL', value);
  }
  if ((path as string).includes('\u0000')) {
    throw invalidArgValue(name, path, 'must be a string, Uint8Array, or URL without null bytes');
  }
  return path as string;
}

function isInt32(value: unknown): boolean {
  return typeof value === 'number' && value === (value | 0);
}

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
let shellArgsWarned = false;

/** Node 24 deprecates args with a shell (DEP0190), once per process: as the running Node does. */
function warnShellArgsOnce(): void {
  if (NODE_MAJOR < 24 || shellArgsWarned) return;
  shellArgsWarned = true;
  process.emitWarning(
    'Passing args to a child process with shell option true can lead to security ' +
      'vulnerabilities, as the arguments are not escaped, only concatenated.',
    'DeprecationWarning',
    'DEP0190',
  );
}

/** Node's normalizeSpawnArguments(), with procguard's variables left out of the environment. */
export function normalizeSpawnArguments(file: unknown, args: unknown, options: unknown): NormalizedSpawn {
  if (typeof file !== 'string') throw invalidArgType('file', 'of type string', file);
  checkNoNullBytes(file, 'file');
  if (file.length === 0) throw invalidArgValue('file', file, 'cannot be empty');

  let argList: string[];
  if (Array.isArray(args)) argList = args.slice();
  else if (args == null) argList = [];
  else if (typeof args !== 'object') throw invalidArgType('args', 'of type object', args);
  else {
    options = args;
    argList = [];
  }
  argList.forEach((arg, i) => checkNoNullBytes(arg, `args[${i}]`));

  if (options === undefined) options = {};
  else if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  const opts = ownOptions(options as Record<string, unknown>);

  const cwd = opts.cwd != null ? validatedPath(opts.cwd, 'options.cwd') : undefined;
  if (opts.detached != null && typeof opts.detached !== 'boolean') {
    throw invalidArgType('options.detached', 'of type boolean', opts.detached);
  }
  if (opts.uid != null && !isInt32(opts.uid)) throw invalidArgType('options.uid', 'int32', opts.uid);
  if (opts.gid != null && !isInt32(opts.gid)) throw invalidArgType('options.gid', 'int32', opts.gid);
  if (opts.shell != null && typeof opts.shell !== 'boolean' && typeof opts.shell !== 'string') {
    throw invalidArgType('options.shell', 'one of type boolean or string', opts.shell);
  }
  if (opts.argv0 != null) {
    if (typeof opts.argv0 !== 'string') throw invalidArgType('options.argv0', 'of type string', opts.argv0);
    checkNoNullBytes(opts.argv0, 'options.argv0');
  }
  if (opts.windowsHide != null && typeof opts.windowsHide !== 'boolean') {
    throw invalidArgType('options.windowsHide', 'of type boolean', opts.windowsHide);
  }
  if (opts.windowsVerbatimArguments != null && typeof opts.windowsVerbatimArguments !== 'boolean') {
    throw invalidArgType('options.windowsVerbatimArguments', 'of type boolean', opts.windowsVerbatimArguments);
  }

  let command = file;
  if (opts.shell) {
    checkNoNullBytes(opts.shell, 'options.shell');
    if (argList.length > 0) warnShellArgsOnce();
    const line = [file, ...argList].join(' ');
    command = typeof opts.shell === 'string' ? opts.shell : '/bin/sh';
    argList = ['-c', line];
  }
  argList.unshift(typeof opts.argv0 === 'string' ? opts.argv0 : command);

  const env = (opts.env || process.env) as Record<string, unknown>;
  if (process.env.NODE_V8_COVERAGE && !Object.prototype.hasOwnProperty.call(opts.env || {}, 'NODE_V8_COVERAGE')) {
    env.NODE_V8_COVERAGE = process.env.NODE_V8_COVERAGE;
  }
  const envPairs: string[] = [];
  // for...in on purpose: Node passes inherited (prototype) values too.
  for (const key in env) {
    const value = env[key];
    if (value === undefined || isGuardVariable(key)) continue;
    checkNoNullBytes(key, `options.env['${key}']`);
    checkNoNullBytes(value, `options.env['${key}']`);
    envPairs.push(`${key}=${value}`);
  }

  return { file: command, args: argList.map(String), envPairs, cwd, detached: !!opts.detached, options: opts };
}

const signalNumbers = osConstants.signals as Record<string, number>;
const validSignalNumbers = new Set(Object.values(signalNumbers));

/** Node's convertToValidSignal(): a known name or number, else ERR_UNKNOWN_SIGNAL. */
export function toSignalNumber(signal: unknown): number {
  if (typeof signal === 'number' && validSignalNumbers.has(signal)) return signal;
  if (typeof signal === 'string') {
    const number = signalNumbers[signal.toUpperCase()];
    if (number !== undefined) return number;
  }
  throw codedError(TypeError, 'ERR_UNKNOWN_SIGNAL', `Unknown signal: ${signal}`);
}

/** Node's sanitizeKillSignal(). */
export function killSignalOf(killSignal: unknown): number | undefined {
  if (typeof killSignal === 'string' || typeof killSignal === 'number') return toSignalNumber(killSignal);
  if (killSignal != null) throw invalidArgType('options.killSignal', 'one of type string or number', killSignal);
  return undefined;
}

export function validateTimeout(timeout: unknown): void {
  if (timeout != null && !(Number.isInteger(timeout) && (timeout as number) >= 0)) {
    throw outOfRange('timeout', 'an unsigned integer', timeout);
  }
}

export function validateAbortSignal(signal: unknown, name: string): void {
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw invalidArgType(name, 'an instance of AbortSignal', signal);
  }
}

/** Node's AbortError: same class name, name, code and message. */
class AbortError extends Error {
  code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** What the child was given, and a warning line per priority step the kernel refused. */
export function appliedPriority(plan: PriorityPlan, outcome: Pick<NativeSpawnResult, 'warnings' | 'failedStep' | 'errno'> | undefined, command: string): AppliedPriority {
  const applied: AppliedPriority = {
    oomScoreAdj: plan.oomScoreAdj ?? null,
    nice: plan.nice ?? null,
    schedPolicy: plan.schedPolicy ?? null,
    ioPriority: plan.ioPriority ?? null,
    warnings: [],
  };
  if (!outcome) return applied;
  const failures = [...outcome.warnings];
  if (isPriorityStep(outcome.failedStep)) failures.push({ step: outcome.failedStep, errno: outcome.errno });
  for (const { step, errno } of failures) {
    const field = priorityField(step);
    applied.warnings.push(reportPriorityFailure(step, errno, plan[field]!, command));
    // Not applied: the child kept what it inherited.
    applied[field] = null;
  }
  return applied;
}

/**
 * Starts a child through procguard's engine and returns Node's own ChildProcess for it, or
 * throws what Node throws. Used by spawn(), exec() and execFile().
 */
export function spawnGuarded(normalized: NormalizedSpawn, guard: GuardOptions): GuardedChildProcess {
  const { binding } = loadNative();
  const plan = resolveChildPriority(guard);
  const guardPolicy = guardPolicyOf(normalized.options.guard);
  const containment = new Containment(normalized.options.cgroup, !!binding);
  const command = [normalized.file, ...normalized.args.slice(1)].join(' ');
  if (binding && asyncEngine().kind === 'thread') {
    // Bun, Deno: no handle to swap under their ChildProcess; procguard's own, over their streams.
    const child = new RuntimeChildProcess() as RuntimeChildProcess & GuardedChildProcess;
    describeContainment(child, containment);
    child.beforeExit = (exit) => finishContained(child, containment, exit);
    let outcome: NativeSpawnResult | undefined;
    try {
      outcome = child.launch(binding, normalized, plan, containment);
    } finally {
      settlePriority(child, plan, outcome, command, containment);
      watchByGuard(child, outcome, guardPolicy, containment);
    }
    return child;
  }
  let child: GuardedChildProcess;
  if (!binding) {
    // Not Linux, or no addon: fall back to Node's own handle, priority not applied.
    child = new ChildProcess() as GuardedChildProcess;
    describeContainment(child, containment);
    child.priority = { ...NOTHING_APPLIED, warnings: [] };
    warnUnappliedOnce(plan);
  } else {
    const handle = new GuardedProcessHandle(binding, plan, containment);
    child = childProcessAround(handle) as GuardedChildProcess;
    describeContainment(child, containment);
    handle.beforeExit = (exit) => finishContained(child, containment, exit);
  }

  // Read before the spawn: Node drops its _handle when the spawn throws.
  const handle = (child as unknown as { _handle: GuardedProcessHandle | null })._handle;
  try {
    // Node's ChildProcess#spawn reads stdio, serialization and more: own properties only.
    (child as unknown as { spawn(o: object): number }).spawn({
      __proto__: null,
      ...normalized.options,
      file: normalized.file,
      args: normalized.args,
      envPairs: normalized.envPairs,
      cwd: normalized.cwd,
      detached: normalized.detached,
    });
  } catch (error) {
    if (binding) settlePriority(child, plan, handle?.outcome, command, containment, error);
    throw error;
  }
  if (binding) {
    settlePriority(child, plan, handle?.outcome, command, containment);
    watchByGuard(child, handle?.outcome, guardPolicy, containment);
  }
  return child;
}

function describeContainment(child: GuardedChildProcess, containment: Containment): void {
  child.cgroup = containment.cgroup;
  child.killTree = (signal) => containment.killTree(child.pid, signal);
}

/** Before 'exit': the child's rusage, its cgroup's counters and the OOM verdict. */
function finishContained(child: GuardedChildProcess, containment: Containment, exit: NativeExit): void {
  const { resourceUsage, oomKill } = containment.finish(child.pid!, exit);
  child.resourceUsage = resourceUsage;
  child.oomKill = guardVerdicts.get(child)?.() ?? oomKill;
  publishExit(() => ({
    pid: child.pid!,
    file: child.spawnfile,
    spawnargs: child.spawnargs,
    sync: false,
    code: exit.signal ? null : exit.exitCode,
    signal: exit.signal ? (signalName(exit.signal) as NodeJS.Signals) : null,
    resourceUsage,
    oomKill: child.oomKill ?? null,
    cgroup: cgroupDirOf(containment.cgroup),
    child,
  }));
}

/** Per running child: the guard's verdict at its exit (the guard's own registry holds the rest). */
const guardVerdicts = new WeakMap<GuardedChildProcess, () => GuardKill | null>();

/** A child that runs is the guard's to watch, when the guard runs (lib/guard/). */
function watchByGuard(child: GuardedChildProcess, outcome: NativeSpawnResult | undefined, policy: GuardPolicy, containment: Containment): void {
  if (outcome && outcome.errno === 0) guardVerdicts.set(child, watchChild(outcome.pid, policy, containment.cgroup));
}

/** After the launch, whatever its outcome: what was applied, strict's reason, no cgroup left for a child that never ran. */
function settlePriority(
  child: GuardedChildProcess,
  plan: PriorityPlan,
  outcome: NativeSpawnResult | undefined,
  command: string,
  containment: Containment,
  thrown?: unknown,
): void {
  child.priority = appliedPriority(plan, outcome, command);
  child.cgroup = containment.cgroup; // none any more when the kernel refused the join under required: false
  if (plan.strict && outcome && isPriorityStep(outcome.failedStep)) {
    // Node throws, rather than emits, a spawn error other than EACCES, EAGAIN, EMFILE, ENFILE and
    // ENOENT: a strict EPERM (sched_setscheduler, ioprio_set) is explained on the thrown error.
    if (thrown instanceof Error) explainStrictError(thrown, child.priority, outcome);
    else explainStrictFailure(child, outcome);
  }
  if (!outcome || outcome.errno !== 0) containment.abandon();
  else publishSpawn(() => ({
    pid: child.pid!,
    file: child.spawnfile,
    spawnargs: child.spawnargs,
    sync: false,
    priority: child.priority!,
    cgroup: cgroupDirOf(containment.cgroup),
    child,
  }));
}

let unappliedWarned = false;

/** child.priority when the engine applied nothing (no addon): every setting left as inherited. */
export const NOTHING_APPLIED: Readonly<Omit<AppliedPriority, 'warnings'>> = Object.freeze({
  oomScoreAdj: null, nice: null, schedPolicy: null, ioPriority: null,
});

/** Without the engine a per-spawn oomScoreAdj, nice, schedPolicy or ioPriority cannot be applied: say so, once. */
export function warnUnappliedOnce(plan: PriorityPlan): void {
  const asked = plan.oomScoreAdj !== undefined || plan.nice !== undefined || plan.schedPolicy !== undefined || plan.ioPriority !== undefined;
  if (unappliedWarned || !asked) return;
  unappliedWarned = true;
  warning('PROCGUARD_NATIVE_UNAVAILABLE', 'oomScoreAdj, nice, schedPolicy and ioPriority are not applied: the native engine is not loaded', {
    reason: loadNative().error ?? 'unknown',
  });
}

/** The sentence added to a spawn error when strict stopped the command. */
export function strictFailureNote(priority: AppliedPriority): string {
  return ` (strict: ${priority.warnings.join('; ')}; the command did not run)`;
}

/** The error of a spawn strict stopped: which priority step, and what was applied. */
function explainStrictError(error: Error, priority: AppliedPriority, outcome: NativeSpawnResult): void {
  const err = error as Error & { step?: string; priority?: AppliedPriority };
  err.message += strictFailureNote(priority);
  err.step = outcome.failedStep;
  err.priority = priority;
}

/** Under strict, the 'error' Node emits says which priority step stopped the command. */
function explainStrictFailure(child: GuardedChildProcess, outcome: NativeSpawnResult): void {
  const emit = child.emit;
  child.emit = function (this: GuardedChildProcess, event: string | symbol, ...rest: unknown[]): boolean {
    if (event === 'error' && rest[0] instanceof Error) {
      child.emit = emit;
      explainStrictError(rest[0], child.priority, outcome);
    }
    return emit.apply(this, [event, ...rest] as Parameters<typeof emit>);
  } as typeof child.emit;
}

/** Kills the child on options.timeout and on options.signal, as Node's spawn() does. */
export function attachTimeoutAndAbort(child: ChildProcess, timeout: number | undefined, signal: AbortSignal | undefined, killSignal: number | undefined): void {
  if (timeout !== undefined && timeout > 0) {
    let timer: NodeJS.Timeout | null = setTimeout(() => {
      if (!timer) return;
      try {
        child.kill(killSignal);
      } catch (err) {
        child.emit('error', err);
      }
      timer = null;
    }, timeout);
    child.once('exit', () => {
      if (timer) clearTimeout(timer);
      timer = null;
    });
  }
  if (signal) {
    const onAbort = () => {
      try {
        if (child.kill(killSignal)) child.emit('error', new AbortError(undefined, { cause: signal.reason }));
      } catch (err) {
        child.emit('error', err);
      }
    };
    if (signal.aborted) process.nextTick(onAbort);
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      child.once('exit', () => signal.removeEventListener('abort', onAbort));
    }
  }
}

/** spawn(command, args?, options?) as in node:child_process, with procguard's options. */
export function spawn(command: string, args?: readonly string[] | GuardedSpawnOptions, options?: GuardedSpawnOptions): GuardedChildProcess {
  const engine = asyncEngine();
  if (engine.kind === 'fallback') return runtimeFallbackSpawn(engine.reason, command, args, options);
  const normalized = normalizeSpawnArguments(command, args, options);
  const opts = normalized.options;
  validateTimeout(opts.timeout);
  validateAbortSignal(opts.signal, 'options.signal');
  const killSignal = killSignalOf(opts.killSignal);
  const child = spawnGuarded(normalized, opts as GuardOptions);
  attachTimeoutAndAbort(child, opts.timeout as number | undefined, opts.signal as AbortSignal | undefined, killSignal);
  return child;
}

/** Bun or Deno where procguard's engine cannot run: the runtime's own spawn, said once. */
function runtimeFallbackSpawn(reason: string, command: string, args?: readonly string[] | GuardedSpawnOptions, options?: GuardedSpawnOptions): GuardedChildProcess {
  warnRuntimeFallbackOnce(reason);
  const child = (nodeChildProcess.spawn as (...a: unknown[]) => GuardedChildProcess)(command, args, options);
  child.priority = { ...NOTHING_APPLIED, warnings: [] };
  child.cgroup = null;
  child.killTree = (signal) => {
    child.kill(signal);
  };
  return child;
}
