// procguard: node:child_process, with every child made the OOM killer's preferred victim
// and given a lower CPU priority before it runs a single instruction.
import './node-child-process'; // capture Node's originals before install() can replace them
import { spawn as spawnImpl } from './spawn';
import { exec as execImpl, execFile as execFileImpl } from './exec';
import { spawnSync as spawnSyncImpl, execSync as execSyncImpl, execFileSync as execFileSyncImpl } from './spawn-sync';
import { fork as forkImpl } from './fork';
import type {
  ExecFileFunction,
  ExecFileSyncFunction,
  ExecFunction,
  ExecSyncFunction,
  ForkFunction,
  SpawnFunction,
  SpawnSyncFunction,
} from './signatures';

// The implementations, typed with node:child_process's overloads (lib/signatures.ts).
export const spawn: SpawnFunction = spawnImpl as unknown as SpawnFunction;
export const exec: ExecFunction = execImpl as unknown as ExecFunction;
export const execFile: ExecFileFunction = execFileImpl as unknown as ExecFileFunction;
export const fork: ForkFunction = forkImpl as unknown as ForkFunction;
export const spawnSync: SpawnSyncFunction = spawnSyncImpl as unknown as SpawnSyncFunction;
export const execSync: ExecSyncFunction = execSyncImpl as unknown as ExecSyncFunction;
export const execFileSync: ExecFileSyncFunction = execFileSyncImpl as unknown as ExecFileSyncFunction;
export type { GuardedChildProcess, GuardedSpawnOptions, ResourceUsage } from './spawn';
export type {
  ExecFileFunction,
  ExecFilePromisified,
  ExecFileSyncFunction,
  ExecFunction,
  ExecPromisified,
  ExecSyncFunction,
  ForkFunction,
  Guarded,
  GuardedExecFileOptions,
  GuardedExecFileSyncOptions,
  GuardedExecOptions,
  GuardedExecSyncOptions,
  GuardedPromiseWithChild,
  OutputBuffer,
  SpawnFunction,
  SpawnSyncFunction,
} from './signatures';
export { install, uninstall, isInstalled } from './register';
export type { GuardedForkOptions } from './fork';
export type { GuardedSpawnSyncOptions, GuardedSpawnSyncReturns } from './spawn-sync';
export { ChildProcess } from 'node:child_process';
export { configure } from './config';
export { childDefaults } from './priority';
export { status } from './status';
export { protectSelf } from './protect';
export { guard } from './guard';
export type {
  GuardEvent,
  GuardKill,
  GuardKillEvent,
  GuardPolicy,
  GuardPressureEvent,
  GuardReclaimEvent,
  GuardTrigger,
  MemoryGuard,
  MemoryGuardOptions,
} from './guard';
export type { ProtectResult } from './protect';
export type { ExitMessage, SpawnMessage } from './diagnostics';
export type {
  AppliedPriority,
  ChildDefaults,
  Config,
  EnvironmentStatus,
  GuardOptions,
  IoPriority,
  Logger,
  PrioritySetting,
  RuntimeStatus,
  SchedPolicy,
  Status,
} from './types';
