// A process handle with the interface of Node's internal ProcessWrap (spawn, kill, ref, unref,
// close, pid, onexit), backed by procguard's native engine.
//
// Node's own ChildProcess class drives it: procguard swaps the handle of a real ChildProcess
// for this one, so stdio sockets, IPC channels, events and their order, and kill() semantics
// are Node's own code, not an imitation of it.
import { closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { ownOptions } from './own-options';
import type { IoPriority, SchedPolicy } from './types';
import { encodeIoPriority, SCHED_POLICY_NUMBERS } from './scheduling';
import type { NativeBinding, NativeChild, NativeExit, NativeStdio, NativeSpawnRequest, NativeSpawnResult } from './native';
import type { Containment } from './cgroup/containment';

/** The priority numbers for one child, already decided by the TypeScript side. */
export interface PriorityPlan {
  oomScoreAdj?: number;
  nice?: number;
  schedPolicy?: SchedPolicy;
  ioPriority?: IoPriority;
  strict: boolean;
}

/** A stdio entry as Node's getValidStdio() prepares it for ProcessWrap.spawn(). */
interface NodeStdioEntry {
  type: 'pipe' | 'overlapped' | 'ignore' | 'inherit' | 'fd' | 'wrap';
  fd?: number;
  ipc?: boolean;
  handle?: { open(fd: number): number; fd?: number };
}

/** The options object Node's ChildProcess.prototype.spawn() hands to its handle. */
export interface NodeSpawnOptions {
  file: string;
  args: string[];
  envPairs: string[];
  cwd?: string;
  detached?: boolean;
  uid?: number;
  gid?: number;
  stdio: NodeStdioEntry[];
}

const signalNames: Record<number, string> = {};
for (const [name, num] of Object.entries(osConstants.signals)) signalNames[num as number] = name;

/** 9 -> 'SIGKILL'. */
export function signalName(signal: number): string {
  return signalNames[signal] ?? '';
}

const DEFAULT_SEARCH_PATH = '/usr/bin:/bin'; // what libuv and execvp use when PATH is unset

// The spawn errors Node's ChildProcess emits as 'error' and still makes the child's streams for
// (EMFILE and ENFILE it emits without streams; any other it throws).
const { EACCES, EAGAIN, ENOENT } = osConstants.errno;
const EMITTED_SPAWN_ERRORS = new Set([EACCES, EAGAIN, ENOENT]);

export class GuardedProcessHandle {
  pid?: number;
  /** Set by Node's ChildProcess constructor (copied over from the handle it replaced). */
  onexit?: (exitCode: number, signalCode: string) => void;
  /** Called with the raw exit before onexit, so the caller can attach data first. */
  beforeExit?: (exit: NativeExit) => void;
  outcome?: NativeSpawnResult;

  private child?: NativeChild;
  private refed = true;

  constructor(
    private readonly binding: NativeBinding,
    private readonly priority: PriorityPlan,
    private readonly containment: Pick<Containment, 'launch'>,
  ) {}

  /**
   * ProcessWrap.spawn(): 0 or a negative errno, exactly as libuv's uv_spawn reports. Node up to
   * 22 passes one options object; Node 24 passes (file, args, cwd, envPairs, stdio, flags, uid, gid).
   */
  spawn(...call: unknown[]): number {
    const options = typeof call[0] === 'string' ? fromPositional(call) : (call[0] as NodeSpawnOptions);
    const stdio: NativeStdio[] = options.stdio.map((entry, i) => toNativeStdio(entry, i));
    // The engine reads what it is given through the prototype chain too: own properties only.
    const result = this.containment.launch((joinFiles?: string[]) => this.binding.spawn(ownOptions({
      // An empty cwd is no cwd for the async spawn, as in Node's ProcessWrap (spawnSync fails with ENOENT).
      ...launchRequest(ownOptions({ ...options, cwd: options.cwd || undefined }), this.priority, joinFiles),
      stdio,
      onExit: (exit: NativeExit) => this.exited(exit),
    })), closePipes);
    this.outcome = result;
    // Our end of each socketpair becomes the Pipe handle Node created for that entry. As with
    // libuv, this happens for a failed spawn too, when Node goes on to make the child's streams
    // (an error it emits): they read EOF and close. Where Node stops or throws, nobody would
    // read them: they are closed here.
    const nodeMakesStreams = result.errno === 0 || EMITTED_SPAWN_ERRORS.has(result.errno);
    options.stdio.forEach((entry, i) => {
      const fd = result.pipes[i];
      if (fd < 0) return;
      if (!nodeMakesStreams || !entry.handle) {
        closeSync(fd);
        return;
      }
      const err = entry.handle.open(fd);
      if (err) throw new Error(`procguard: cannot open the stdio pipe for fd ${i} (${err})`);
    });
    if (result.errno !== 0) return -result.errno;
    this.child = result.child;
    this.pid = result.pid;
    return 0;
  }

  private exited(exit: NativeExit): void {
    this.child = undefined;
    this.beforeExit?.(exit);
    // libuv reports a signal death as status 0 plus the signal's name.
    this.onexit?.(exit.signal ? 0 : exit.exitCode, exit.signal ? signalName(exit.signal) : '');
  }

  kill(signal: number): number {
    if (!this.child) return -osConstants.errno.ESRCH;
    return this.child.kill(signal);
  }

  ref(): void {
    this.refed = true;
    this.child?.ref();
  }

  unref(): void {
    this.refed = false;
    this.child?.unref();
  }

  hasRef(): boolean {
    return this.refed && !!this.child;
  }

  /** Node closes its handle at exit; ours has nothing left to release by then. */
  close(): void {}
}

const PROCESS_FLAG_DETACHED = 1; // process_wrap's kProcessFlagDetached

function fromPositional([file, args, cwd, envPairs, stdio, flags, uid, gid]: unknown[]): NodeSpawnOptions {
  // Node 24 passes null for an unset id; a number, even -1, is the caller's (EINVAL, as libuv).
  const id = (value: unknown) => (typeof value === 'number' ? value : undefined);
  return {
    file: file as string,
    args: (args as string[] | undefined) ?? [],
    cwd: (cwd as string | undefined) ?? undefined,
    envPairs: (envPairs as string[] | undefined) ?? [],
    stdio: stdio as NodeStdioEntry[],
    detached: ((flags as number) & PROCESS_FLAG_DETACHED) !== 0,
    uid: id(uid),
    gid: id(gid),
  };
}

function toNativeStdio(entry: NodeStdioEntry, i: number): NativeStdio {
  return ownOptions(stdioEntry(entry, i));
}

function stdioEntry(entry: NodeStdioEntry, i: number): NativeStdio {
  switch (entry.type) {
    case 'pipe':
    case 'overlapped':
      return { kind: 'pipe' };
    case 'ignore':
      return { kind: 'ignore' };
    case 'inherit':
      return { kind: 'fd', fd: entry.fd ?? i };
    case 'fd':
      return { kind: 'fd', fd: entry.fd as number };
    case 'wrap': {
      // A stream (socket, pipe) whose handle owns an fd: the child gets that fd.
      const fd = entry.handle?.fd;
      if (typeof fd !== 'number' || fd < 0) throw new Error(`procguard: stdio[${i}] is a stream without a file descriptor`);
      return { kind: 'fd', fd };
    }
    default:
      throw new Error(`procguard: unsupported stdio type '${(entry as NodeStdioEntry).type}' at index ${i}`);
  }
}

/** Closes the parent's pipe ends a launch handed back, for a launch nobody will read from. */
export function closePipes(outcome: Pick<NativeSpawnResult, 'pipes'>): void {
  for (const fd of outcome.pipes) if (fd >= 0) closeSync(fd);
}

/** What the async and the sync spawn both tell the engine: the command, its process, its priority, its cgroups. */
export function launchRequest(
  options: Pick<NodeSpawnOptions, 'file' | 'args' | 'envPairs' | 'cwd' | 'detached' | 'uid' | 'gid'>,
  priority: PriorityPlan,
  cgroupProcs: string[] | undefined,
): Omit<NativeSpawnRequest, 'stdio' | 'onExit'> {
  return {
    file: options.file,
    argv: options.args,
    envp: options.envPairs,
    searchPath: searchPathOf(options.envPairs),
    cwd: options.cwd ?? undefined,
    detached: !!options.detached,
    uid: options.uid ?? undefined,
    gid: options.gid ?? undefined,
    nice: priority.nice,
    oomScoreAdj: priority.oomScoreAdj,
    schedPolicy: priority.schedPolicy && SCHED_POLICY_NUMBERS[priority.schedPolicy],
    ioPriority: priority.ioPriority && encodeIoPriority(priority.ioPriority),
    strict: priority.strict,
    cgroupProcs,
  };
}

/** The PATH the command is looked up in: the child's own, as libuv does. */
function searchPathOf(envPairs: string[]): string {
  for (const pair of envPairs) if (pair.startsWith('PATH=')) return pair.slice(5);
  return DEFAULT_SEARCH_PATH;
}
