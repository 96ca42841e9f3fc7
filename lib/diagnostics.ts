// node:diagnostics_channel events, Node's own convention for instrumentation (no dependency):
// a metrics or tracing library subscribes by name and sees every child procguard starts and
// every exit with its resource usage and OOM verdict. Nothing is built unless someone listens.
//
//   procguard:spawn  a child started (the engine reported its pid)
//   procguard:exit   a child exited, after its usage and verdict were read, before 'exit' is emitted
import * as diagnosticsChannel from 'node:diagnostics_channel';
import type { ChildProcess } from 'node:child_process';
import type { ChildCgroup } from './cgroup/child-cgroup';
import type { ResourceUsage } from './cgroup/containment';
import type { OomKill } from './cgroup/oom-verdict';
import type { GuardKill } from './guard/events';
import type { AppliedPriority } from './types';

export interface SpawnMessage {
  pid: number;
  /** The command as given (options.file after the shell, for exec: '/bin/sh'). */
  file: string;
  /** Its arguments, argv[0] included, as child.spawnargs. */
  spawnargs: string[];
  /** true for spawnSync, execSync, execFileSync. */
  sync: boolean;
  /** What the child was given. */
  priority: AppliedPriority;
  /** The child's own cgroup directory (v2, else the v1 memory one), null without one. */
  cgroup: string | null;
  /** The ChildProcess (async spawns only). */
  child?: ChildProcess;
}

export interface ExitMessage {
  pid: number;
  file: string;
  spawnargs: string[];
  sync: boolean;
  /** The exit status, null when a signal ended it. */
  code: number | null;
  /** The signal's name ('SIGKILL'), null when it exited. */
  signal: NodeJS.Signals | null;
  resourceUsage: ResourceUsage;
  /** null, or why the kernel's OOM killer ended it ({ cause: 'cgroup-limit' | 'system', confidence, evidence }), or procguard's guard ({ cause: 'procguard-guard', trigger, evidence }; its actions on 'procguard:guard'). */
  oomKill: OomKill | GuardKill | null;
  cgroup: string | null;
  child?: ChildProcess;
}

export const spawnChannel = diagnosticsChannel.channel('procguard:spawn');
export const exitChannel = diagnosticsChannel.channel('procguard:exit');

/** The directory a metrics reader would look at. */
export function cgroupDirOf(cgroup: ChildCgroup | null | undefined): string | null {
  return cgroup ? cgroup.v2Dir ?? cgroup.memory?.dir ?? cgroup.dirs[0] ?? null : null;
}

/** Builds the message only when someone listens. */
export function publishSpawn(build: () => SpawnMessage): void {
  if (spawnChannel.hasSubscribers) spawnChannel.publish(build());
}

export function publishExit(build: () => ExitMessage): void {
  if (exitChannel.hasSubscribers) exitChannel.publish(build());
}
