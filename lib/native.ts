// The contract with the C++ addon in native/, and its lazy loading.
// The addon only applies numbers; every decision is made in TypeScript.
import { packageRoot } from './package-root';
import { requireAddonLiterally } from './runtime/embedded-addon';

/** One entry of the child's fd table, by child fd number. */
export type NativeStdio =
  | { kind: 'pipe' } // a socketpair: the child gets one end, the parent the other
  | { kind: 'fd'; fd: number } // an fd of the agent, dup2'd to this number
  | { kind: 'ignore' }; // fds 0-2: /dev/null; others: closed

export interface NativeRusage {
  userCpuMicros: number;
  systemCpuMicros: number;
  maxRssBytes: number;
  minorPageFaults: number;
  majorPageFaults: number;
  voluntaryContextSwitches: number;
  involuntaryContextSwitches: number;
}

export interface NativeExit {
  /** Exit status when the child exited, else -1. */
  exitCode: number;
  /** Signal number when the child was killed by a signal, else 0. */
  signal: number;
  rusage: NativeRusage;
  /** CLOCK_MONOTONIC microseconds between the clone and the reap. */
  wallMicros: number;
}

export interface NativeSpawnRequest {
  /** The file as given; searched in `searchPath` when it contains no '/'. */
  file: string;
  /** The child's argv; argv[0] is argv0. */
  argv: string[];
  /** The child's environment as 'KEY=value' strings. */
  envp: string[];
  /** The PATH used for the lookup (the child environment's PATH, else '/usr/bin:/bin'). */
  searchPath: string;
  cwd?: string;
  detached: boolean;
  uid?: number;
  gid?: number;
  stdio: NativeStdio[];
  /** undefined: leave the inherited nice. */
  nice?: number;
  /** undefined: leave the inherited oom_score_adj. */
  oomScoreAdj?: number;
  /** sched(7) policy number (SCHED_OTHER 0, SCHED_BATCH 3, SCHED_IDLE 5); undefined: leave the inherited. */
  schedPolicy?: number;
  /** ioprio_set(2) value, class << 13 | level; undefined: leave the inherited. */
  ioPriority?: number;
  /** A failed priority step is fatal: the child exits before exec. */
  strict: boolean;
  /** cgroup.procs files the child joins before exec (its own cgroups, one per hierarchy). */
  cgroupProcs?: string[];
  /** Called once, from the event loop, when the child has been reaped. */
  onExit: (exit: NativeExit) => void;
}

export interface NativeChild {
  /** Sends a signal through the pidfd; returns 0 or a negative errno (-ESRCH once reaped). */
  kill(signal: number): number;
  ref(): void;
  unref(): void;
}

export type NativeStep =
  | 'socketpair'
  | 'pipe'
  | 'clone'
  | 'sigaction'
  | 'setsid'
  | 'cgroup'
  | 'setpriority'
  | 'oom_score_adj'
  | 'chdir'
  | 'dup2'
  | 'sched_setscheduler'
  | 'ioprio_set'
  | 'setgroups'
  | 'setgid'
  | 'setuid'
  | 'execve';

export interface NativeSpawnResult {
  /** The child's pid; 0 when the spawn failed. */
  pid: number;
  /** 0, or the positive errno of the step that made the spawn fail (no child is left behind). */
  errno: number;
  failedStep?: NativeStep;
  /** Priority steps that failed without being fatal. */
  warnings: { step: 'setpriority' | 'oom_score_adj' | 'sched_setscheduler' | 'ioprio_set'; errno: number }[];
  /** Parent-side fd per stdio index for pipe entries, -1 elsewhere; also after a failure (all -1 when they could not all be made). The caller opens or closes them. */
  pipes: number[];
  /** Present when a child is running. */
  child?: NativeChild;
  /** True when the child was made with its own address space (non-dumpable agent, uid/gid change). */
  ownAddressSpace: boolean;
}

export interface NativeSelfInfo {
  /** prctl(PR_GET_DUMPABLE) of the agent. */
  dumpable: number;
  /** Whether the kernel gives pidfds (pidfd_open / CLONE_PIDFD). */
  pidfd: boolean;
}

/** A sync spawn: the same request without onExit, plus the pump's settings. */
export interface NativeSpawnSyncRequest extends Omit<NativeSpawnRequest, 'onExit' | 'stdio'> {
  /** 'pipe' entries say which way data flows and may carry input for the child. */
  stdio: (NativeStdio & { childReads?: boolean; childWrites?: boolean; input?: unknown })[];
  /** Milliseconds; 0: none. */
  timeout: number;
  /** Bytes of output in all, Infinity for no limit. */
  maxBuffer: number;
  killSignal: number;
  /** When the guard runs: what the pump registers the child with (see lib/guard). */
  guardWatch?: Record<string, unknown>;
}

export interface NativeSpawnSyncResult extends NativeSpawnResult, Partial<Omit<NativeExit, 'rusage'>> {
  rusage?: NativeRusage;
  /** Per stdio index: what the child wrote to a pipe, else null. Absent when the spawn failed. */
  output?: (Buffer | null)[];
  /** 0, or ETIMEDOUT / ENOBUFS / a pipe's errno (positive), as Node's SyncProcessRunner reports. */
  error?: number;
  /** The guard's id for the child, when the pump registered it. */
  guardId?: number;
}

export interface NativeBinding {
  spawn(request: NativeSpawnRequest): NativeSpawnResult;
  spawnSync(request: NativeSpawnSyncRequest): NativeSpawnSyncResult;
  selfInfo(): NativeSelfInfo;
  /** Writes the agent's own /proc/self/oom_score_adj; returns 0 or a positive errno. */
  setOwnOomScoreAdj(value: number): number;
  /** An extended attribute's value; null when absent; a positive errno when unreadable. */
  getXattr(file: string, name: string): string | null | number;
  /** Forces the fallback exit watcher (no pidfd); for tests of old kernels. */
  setPidfdDisabled(disabled: boolean): void;
  /**
   * Exits of children started from now on are noticed by one native thread (pidfds in epoll)
   * and delivered through a thread-safe function, not by libuv: for Bun and Deno, whose libuv is
   * not real. Returns '' or why the thread could not start.
   */
  startExitThread(): string;
  /** Each file's text (its first 4 KiB), null when it cannot be read; one call for many small files. */
  readFiles(paths: string[]): (string | null)[];
}

let loaded: { binding: NativeBinding | null; error?: string } | undefined;

/** The addon, loaded at first use; null (with the reason) off Linux or when it cannot load. */
export function loadNative(): { binding: NativeBinding | null; error?: string } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    loaded = { binding: null, error: `not available on ${process.platform} (linux-only)` };
    return loaded;
  }
  try {
    const literal = requireAddonLiterally() as NativeBinding | null; // Bun, compiled executables included
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const build = require('node-gyp-build') as (dir: string) => NativeBinding;
    loaded = { binding: literal ?? build(packageRoot()) };
  } catch (err) {
    loaded = { binding: null, error: (err as Error).message.split('\n')[0] };
  }
  return loaded;
}
