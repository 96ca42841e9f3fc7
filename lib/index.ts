// procguard: node:child_process, with every child made the OOM killer's preferred victim
// and given a lower CPU priority before it runs a single instruction.
import './node-child-process'; // capture Node's originals before install() can replace them
export { spawn } from './spawn';
export type { GuardedChildProcess, GuardedSpawnOptions, ResourceUsage } from './spawn';
export { exec, execFile } from './exec';
export { spawnSync, execSync, execFileSync } from './spawn-sync';
export { fork } from './fork';
export { install, uninstall, isInstalled } from './register';
export type { GuardedForkOptions } from './fork';
export type { GuardedSpawnSyncOptions, GuardedSpawnSyncReturns } from './spawn-sync';
export { ChildProcess } from 'node:child_process';
export { configure } from './config';
export { childDefaults } from './priority';
export { status } from './status';
export { protectSelf } from './protect';
export type { ProtectResult } from './protect';
export type {
  AppliedPriority,
  ChildDefaults,
  Config,
  GuardOptions,
  Logger,
  PrioritySetting,
  Status,
} from './types';
