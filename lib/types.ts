// Public types of procguard beyond those of node:child_process.
import type { CgroupOptions } from './cgroup/spec';
import type { EnvironmentStatus } from './environment';
import type { GuardStatus } from './guard/status';

export type { CgroupOptions, EnvironmentStatus, GuardStatus };

/** A per-spawn priority setting: a number, or 'inherit' to leave the child as the agent is. */
export type PrioritySetting = number | 'inherit';

/** A CPU scheduling class for a child: SCHED_OTHER (the default class), SCHED_BATCH, SCHED_IDLE. */
export type SchedPolicy = 'other' | 'batch' | 'idle';

/** An IO priority class for a child; a best-effort level runs from 0 (highest) to 7 (default 4). */
export interface IoPriority {
  class: 'best-effort' | 'idle';
  level?: number;
}

/** Options procguard adds to every spawn function. */
export interface GuardOptions {
  /** oom_score_adj for this child (-1000..1000) or 'inherit'. Overrides everything, even when management is off. */
  oomScoreAdj?: PrioritySetting;
  /** nice value for this child (-20..19) or 'inherit'. Overrides everything, even when management is off. */
  nice?: PrioritySetting;
  /** CPU scheduling class for this child, or 'inherit'. Overrides everything, even when management is off. */
  schedPolicy?: SchedPolicy | 'inherit';
  /** IO priority for this child (ioprio_set), or 'inherit'. Overrides everything, even when management is off. */
  ioPriority?: IoPriority | 'inherit';
  /** When true, a priority step that fails makes the spawn fail and the command never runs. */
  strict?: boolean;
  /** The child's own cgroup: a hard memory cap without swap, pids, cpu weight; joined before exec. */
  cgroup?: CgroupOptions;
  /** How eligible this child is as the guard's victim (guard()): 'prefer', 'normal' (default), 'avoid', 'never'. */
  guard?: 'prefer' | 'normal' | 'avoid' | 'never';
}

/** What was actually applied to one child, set on `child.priority`. */
export interface AppliedPriority {
  /** The oom_score_adj the child runs with, or null when it was left as inherited. */
  oomScoreAdj: number | null;
  /** The nice value the child runs with, or null when it was left as inherited. */
  nice: number | null;
  /** The scheduling class the child was put in, or null when it was left as inherited. */
  schedPolicy: SchedPolicy | null;
  /** The IO priority the child was given, or null when it was left as inherited. */
  ioPriority: IoPriority | null;
  /** One line per step that failed, as also sent to the logger. */
  warnings: string[];
}

/** The defaults a child gets when priority management is enabled. */
export interface ChildDefaults {
  oomScoreAdj: number;
  nice: number;
  /** null: the child keeps the agent's class (the default, as in Coder's agent). */
  schedPolicy: SchedPolicy | null;
  /** null: the child keeps the agent's IO priority (the default, as in Coder's agent). */
  ioPriority: IoPriority | null;
  /** Where each came from. */
  source: {
    oomScoreAdj: 'env' | 'computed';
    nice: 'env' | 'computed';
    schedPolicy: 'env' | 'default';
    ioPriority: 'env' | 'default';
  };
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  /** `code`: the stable PROCGUARD_* code of the cause, as given to process.emitWarning. */
  warn(message: string, fields?: Record<string, unknown>, code?: string): void;
}

export interface Config {
  /** true/false forces management on/off; undefined follows the environment (CODER_PROC_PRIO_MGMT present). */
  enabled?: boolean;
  /** Prefix of the variables read from the agent's environment and stripped from every child's. Default 'CODER_PROC_'. */
  envPrefix?: string;
  /**
   * Also receives procguard's messages. Default: none (information goes to
   * util.debuglog('procguard'), warnings to process.emitWarning, whatever the logger).
   */
  logger?: Logger;
  /** The cgroup v2 directory children's own cgroups are made in. Default: the agent's own cgroup. */
  cgroupParent?: string;
}

export interface Status {
  enabled: boolean;
  /** Why management is on or off, e.g. 'CODER_PROC_PRIO_MGMT is set', 'configure({ enabled: false })'. */
  reason: string;
  platform: NodeJS.Platform;
  /** Whether the native engine is loaded; when false, `nativeError` says why. */
  native: boolean;
  nativeError?: string;
  agent: {
    pid: number;
    oomScoreAdj: number | null;
    nice: number | null;
    /** The agent's own scheduling class (e.g. 'SCHED_OTHER'), from /proc/self/stat. */
    schedPolicy: string | null;
    dumpable: number | null;
    capSysNice: boolean | null;
    capSysResource: boolean | null;
  };
  pidfd: boolean | null;
  envPrefix: string;
  /** The variables read, as found in the environment (undefined when absent). */
  env: Record<string, string | undefined>;
  childDefaults: ChildDefaults | null;
  /** The guard (guard(), CODER_PROC_GUARD): what it watches here and why, and its last actions. */
  guard: GuardStatus;
  /** Where the agent runs (cgroups, limits above it, systemd, Kubernetes) and what follows; null off Linux or without /proc. */
  environment: EnvironmentStatus | null;
  /** Why `environment` is null, when it is. */
  environmentError?: string;
  /** The JavaScript runtime (Node, Bun, Deno) and what procguard does in it. */
  runtime: RuntimeStatus;
}

export interface RuntimeStatus {
  name: 'node' | 'bun' | 'deno';
  version: string;
  /**
   * How async children's exits are seen: 'libuv' (a pidfd on Node's loop), 'thread' (one native
   * thread waiting on pidfds, for runtimes whose libuv is not real), 'none' (the runtime's own
   * child_process runs them: see `unprotected`).
   */
  exitWatcher: 'libuv' | 'thread' | 'none';
  /** The functions whose children get procguard's priorities, cgroups, usage and verdicts here. */
  protectedFunctions: string[];
  /** The others, each with what happens instead. */
  unprotected: Record<string, string>;
  /** What install() and procguard/register reach in this runtime. */
  register: string;
}
