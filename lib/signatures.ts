// The public types of procguard's child_process functions: Node's own overloads (@types/node's
// node:child_process), with procguard's GuardOptions (oomScoreAdj, nice, strict) accepted in every
// options object and `priority` (and `resourceUsage`) on what comes back. Types only: the values
// are the implementations in spawn.ts, exec.ts, fork.ts and spawn-sync.ts, exported by index.ts
// under these types.
import type {
  ChildProcessByStdio,
  ChildProcessWithoutNullStreams,
  ExecException,
  ExecFileException,
  ExecFileOptions,
  ExecFileOptionsWithBufferEncoding,
  ExecFileOptionsWithStringEncoding,
  ExecFileSyncOptions,
  ExecFileSyncOptionsWithBufferEncoding,
  ExecFileSyncOptionsWithStringEncoding,
  ExecOptions,
  ExecOptionsWithBufferEncoding,
  ExecOptionsWithStringEncoding,
  ExecSyncOptions,
  ExecSyncOptionsWithBufferEncoding,
  ExecSyncOptionsWithStringEncoding,
  ForkOptions,
  SpawnOptions,
  SpawnOptionsWithoutStdio,
  SpawnOptionsWithStdioTuple,
  SpawnSyncOptions,
  SpawnSyncOptionsWithBufferEncoding,
  SpawnSyncOptionsWithStringEncoding,
  StdioNull,
  StdioPipe,
  execSync as nodeExecSync,
} from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { GuardedChildProcess, ResourceUsage } from './spawn';
import type { GuardedSpawnSyncReturns } from './spawn-sync';
import type { AppliedPriority, GuardOptions } from './types';

/**
 * The Buffer type Node's declarations give for output (NonSharedBuffer in recent @types/node,
 * Buffer in older ones), read from them so that either works.
 */
export type OutputBuffer = Exclude<ReturnType<typeof nodeExecSync>, string>;

/** What procguard adds to every ChildProcess it returns. */
export interface Guarded {
  /** What procguard applied to this child (set once the spawn was attempted). */
  priority: AppliedPriority;
  /** Set at exit: what the child used. */
  resourceUsage?: ResourceUsage;
}

/** A promise of util.promisify(exec / execFile), with the child it started. */
export interface GuardedPromiseWithChild<T> extends Promise<T> {
  child: GuardedChildProcess;
}

export type GuardedExecOptions = ExecOptions & GuardOptions;
export type GuardedExecFileOptions = ExecFileOptions & GuardOptions;
export type GuardedExecSyncOptions = ExecSyncOptions & GuardOptions;
export type GuardedExecFileSyncOptions = ExecFileSyncOptions & GuardOptions;

type Tuple<I extends StdioNull | StdioPipe, O extends StdioNull | StdioPipe, E extends StdioNull | StdioPipe> = SpawnOptionsWithStdioTuple<I, O, E> & GuardOptions;
type ByStdio<I extends null | Writable, O extends null | Readable, E extends null | Readable> = ChildProcessByStdio<I, O, E> & Guarded;

/** spawn(): node:child_process's overloads. */
export interface SpawnFunction {
  (command: string, options?: SpawnOptionsWithoutStdio & GuardOptions): ChildProcessWithoutNullStreams & Guarded;
  (command: string, options: Tuple<StdioPipe, StdioPipe, StdioPipe>): ByStdio<Writable, Readable, Readable>;
  (command: string, options: Tuple<StdioPipe, StdioPipe, StdioNull>): ByStdio<Writable, Readable, null>;
  (command: string, options: Tuple<StdioPipe, StdioNull, StdioPipe>): ByStdio<Writable, null, Readable>;
  (command: string, options: Tuple<StdioNull, StdioPipe, StdioPipe>): ByStdio<null, Readable, Readable>;
  (command: string, options: Tuple<StdioPipe, StdioNull, StdioNull>): ByStdio<Writable, null, null>;
  (command: string, options: Tuple<StdioNull, StdioPipe, StdioNull>): ByStdio<null, Readable, null>;
  (command: string, options: Tuple<StdioNull, StdioNull, StdioPipe>): ByStdio<null, null, Readable>;
  (command: string, options: Tuple<StdioNull, StdioNull, StdioNull>): ByStdio<null, null, null>;
  (command: string, options: SpawnOptions & GuardOptions): GuardedChildProcess;
  (command: string, args?: readonly string[], options?: SpawnOptionsWithoutStdio & GuardOptions): ChildProcessWithoutNullStreams & Guarded;
  (command: string, args: readonly string[], options: Tuple<StdioPipe, StdioPipe, StdioPipe>): ByStdio<Writable, Readable, Readable>;
  (command: string, args: readonly string[], options: Tuple<StdioPipe, StdioPipe, StdioNull>): ByStdio<Writable, Readable, null>;
  (command: string, args: readonly string[], options: Tuple<StdioPipe, StdioNull, StdioPipe>): ByStdio<Writable, null, Readable>;
  (command: string, args: readonly string[], options: Tuple<StdioNull, StdioPipe, StdioPipe>): ByStdio<null, Readable, Readable>;
  (command: string, args: readonly string[], options: Tuple<StdioPipe, StdioNull, StdioNull>): ByStdio<Writable, null, null>;
  (command: string, args: readonly string[], options: Tuple<StdioNull, StdioPipe, StdioNull>): ByStdio<null, Readable, null>;
  (command: string, args: readonly string[], options: Tuple<StdioNull, StdioNull, StdioPipe>): ByStdio<null, null, Readable>;
  (command: string, args: readonly string[], options: Tuple<StdioNull, StdioNull, StdioNull>): ByStdio<null, null, null>;
  (command: string, args: readonly string[], options: SpawnOptions & GuardOptions): GuardedChildProcess;
}

type Both<T> = { stdout: T; stderr: T };

/** util.promisify(exec). */
export interface ExecPromisified {
  (command: string): GuardedPromiseWithChild<Both<string>>;
  (command: string, options: ExecOptionsWithBufferEncoding & GuardOptions): GuardedPromiseWithChild<Both<OutputBuffer>>;
  (command: string, options: ExecOptionsWithStringEncoding & GuardOptions): GuardedPromiseWithChild<Both<string>>;
  (command: string, options: GuardedExecOptions | undefined | null): GuardedPromiseWithChild<Both<string | OutputBuffer>>;
}

/** exec(): node:child_process's overloads; util.promisify(exec) resolves { stdout, stderr }. */
export interface ExecFunction {
  (command: string, callback?: (error: ExecException | null, stdout: string, stderr: string) => void): GuardedChildProcess;
  (command: string, options: ExecOptionsWithBufferEncoding & GuardOptions, callback?: (error: ExecException | null, stdout: OutputBuffer, stderr: OutputBuffer) => void): GuardedChildProcess;
  (command: string, options: ExecOptionsWithStringEncoding & GuardOptions, callback?: (error: ExecException | null, stdout: string, stderr: string) => void): GuardedChildProcess;
  (command: string, options: GuardedExecOptions | undefined | null, callback?: (error: ExecException | null, stdout: string | OutputBuffer, stderr: string | OutputBuffer) => void): GuardedChildProcess;
  __promisify__: ExecPromisified;
}

type Args = readonly string[] | undefined | null;

/** util.promisify(execFile). */
export interface ExecFilePromisified {
  (file: string): GuardedPromiseWithChild<Both<string>>;
  (file: string, args: Args): GuardedPromiseWithChild<Both<string>>;
  (file: string, options: ExecFileOptionsWithBufferEncoding & GuardOptions): GuardedPromiseWithChild<Both<OutputBuffer>>;
  (file: string, args: Args, options: ExecFileOptionsWithBufferEncoding & GuardOptions): GuardedPromiseWithChild<Both<OutputBuffer>>;
  (file: string, options: ExecFileOptionsWithStringEncoding & GuardOptions): GuardedPromiseWithChild<Both<string>>;
  (file: string, args: Args, options: ExecFileOptionsWithStringEncoding & GuardOptions): GuardedPromiseWithChild<Both<string>>;
  (file: string, options: GuardedExecFileOptions | undefined | null): GuardedPromiseWithChild<Both<string | OutputBuffer>>;
  (file: string, args: Args, options: GuardedExecFileOptions | undefined | null): GuardedPromiseWithChild<Both<string | OutputBuffer>>;
}

type FileCallback<T> = (error: ExecFileException | null, stdout: T, stderr: T) => void;

/** execFile(): node:child_process's overloads; util.promisify(execFile) resolves { stdout, stderr }. */
export interface ExecFileFunction {
  (file: string, callback?: FileCallback<string>): GuardedChildProcess;
  (file: string, args: Args, callback?: FileCallback<string>): GuardedChildProcess;
  (file: string, options: ExecFileOptionsWithBufferEncoding & GuardOptions, callback?: FileCallback<OutputBuffer>): GuardedChildProcess;
  (file: string, args: Args, options: ExecFileOptionsWithBufferEncoding & GuardOptions, callback?: FileCallback<OutputBuffer>): GuardedChildProcess;
  (file: string, options: ExecFileOptionsWithStringEncoding & GuardOptions, callback?: FileCallback<string>): GuardedChildProcess;
  (file: string, args: Args, options: ExecFileOptionsWithStringEncoding & GuardOptions, callback?: FileCallback<string>): GuardedChildProcess;
  (file: string, options: GuardedExecFileOptions | undefined | null, callback: FileCallback<string | OutputBuffer> | undefined | null): GuardedChildProcess;
  (file: string, args: Args, options: GuardedExecFileOptions | undefined | null, callback: FileCallback<string | OutputBuffer> | undefined | null): GuardedChildProcess;
  __promisify__: ExecFilePromisified;
}

/** fork(): node:child_process's overloads. */
export interface ForkFunction {
  (modulePath: string | URL, options?: ForkOptions & GuardOptions): GuardedChildProcess;
  (modulePath: string | URL, args?: readonly string[], options?: ForkOptions & GuardOptions): GuardedChildProcess;
}

type SyncReturns<T> = GuardedSpawnSyncReturns<T>;

/** spawnSync(): node:child_process's overloads; the result also has `priority`. */
export interface SpawnSyncFunction {
  (command: string): SyncReturns<OutputBuffer>;
  (command: string, options: SpawnSyncOptionsWithStringEncoding & GuardOptions): SyncReturns<string>;
  (command: string, options: SpawnSyncOptionsWithBufferEncoding & GuardOptions): SyncReturns<OutputBuffer>;
  (command: string, options?: SpawnSyncOptions & GuardOptions): SyncReturns<string | OutputBuffer>;
  (command: string, args: readonly string[]): SyncReturns<OutputBuffer>;
  (command: string, args: readonly string[], options: SpawnSyncOptionsWithStringEncoding & GuardOptions): SyncReturns<string>;
  (command: string, args: readonly string[], options: SpawnSyncOptionsWithBufferEncoding & GuardOptions): SyncReturns<OutputBuffer>;
  (command: string, args?: readonly string[], options?: SpawnSyncOptions & GuardOptions): SyncReturns<string | OutputBuffer>;
}

/** execSync(): node:child_process's overloads. */
export interface ExecSyncFunction {
  (command: string): OutputBuffer;
  (command: string, options: ExecSyncOptionsWithStringEncoding & GuardOptions): string;
  (command: string, options: ExecSyncOptionsWithBufferEncoding & GuardOptions): OutputBuffer;
  (command: string, options?: GuardedExecSyncOptions): string | OutputBuffer;
}

/** execFileSync(): node:child_process's overloads. */
export interface ExecFileSyncFunction {
  (file: string): OutputBuffer;
  (file: string, options: ExecFileSyncOptionsWithStringEncoding & GuardOptions): string;
  (file: string, options: ExecFileSyncOptionsWithBufferEncoding & GuardOptions): OutputBuffer;
  (file: string, options?: GuardedExecFileSyncOptions): string | OutputBuffer;
  (file: string, args: readonly string[]): OutputBuffer;
  (file: string, args: readonly string[], options: ExecFileSyncOptionsWithStringEncoding & GuardOptions): string;
  (file: string, args: readonly string[], options: ExecFileSyncOptionsWithBufferEncoding & GuardOptions): OutputBuffer;
  (file: string, args?: readonly string[], options?: GuardedExecFileSyncOptions): string | OutputBuffer;
}
