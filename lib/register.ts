// install() / uninstall(): procguard's functions in place of node:child_process's for the whole
// process, so code and libraries (execa, zx, cross-spawn, tinyexec...) that call child_process
// themselves get protected children too. `import 'procguard/register'` calls install().
import childProcess = require('node:child_process');
import { syncBuiltinESMExports } from 'node:module';
import { exec, execFile } from './exec';
import { fork } from './fork';
import { nodeChildProcess } from './node-child-process';
import { spawn } from './spawn';
import { execFileSync, execSync, spawnSync } from './spawn-sync';

const replacements = { spawn, exec, execFile, fork, spawnSync, execSync, execFileSync };
type Name = keyof typeof replacements;
const names = Object.keys(replacements) as Name[];

/**
 * Whether node:child_process currently holds procguard's functions. Under Bun, named ESM
 * imports linked before install() ran keep Bun's own (status().runtime.register says what is
 * covered in each runtime; `bun --preload procguard/register` covers them all).
 */
export function isInstalled(): boolean {
  return names.every((name) => (childProcess as Record<Name, unknown>)[name] === replacements[name]);
}

/**
 * Replaces spawn, exec, execFile, fork and the sync functions of node:child_process (its
 * CommonJS exports and, through syncBuiltinESMExports(), its ESM named exports) with
 * procguard's. Idempotent.
 */
export function install(): void {
  const target = childProcess as Record<Name, unknown>;
  for (const name of names) target[name] = replacements[name];
  syncBuiltinESMExports();
}

/** Puts Node's own functions back, exactly the ones that were there before install(). */
export function uninstall(): void {
  const target = childProcess as Record<Name, unknown>;
  for (const name of names) target[name] = nodeChildProcess[name];
  syncBuiltinESMExports();
}
