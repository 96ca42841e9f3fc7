// status().runtime: which runtime this is and what procguard does there.
import type { RuntimeStatus } from '../types';
import { currentRuntime } from './detect';
import { asyncEngine } from './engine';
import { loadNative } from '../native';

const ALL = ['spawn', 'exec', 'execFile', 'fork', 'spawnSync', 'execSync', 'execFileSync'];

/** What install() (procguard/register) reaches in each runtime, as measured. */
const REGISTER_COVERS: Record<string, string> = {
  node: "require('node:child_process') and every import of node:child_process (named, namespace, default)",
  deno: "require('node:child_process') and every import of node:child_process (named, namespace, default)",
  bun:
    "require('node:child_process'), its default import, import() after install(), and named imports in modules " +
    'loaded after it (bun --preload procguard/register, or bunfig.toml preload); not named imports linked before install() ran',
};

export function runtimeStatus(): RuntimeStatus {
  const { name, version } = currentRuntime();
  const engine = asyncEngine();
  const { binding, error } = loadNative();
  const unprotected: Record<string, string> = {};
  for (const fn of ALL) {
    if (!binding) unprotected[fn] = `${name}'s own child_process: the native addon is not loaded (${error ?? 'unknown'})`;
    else if (engine.kind === 'fallback' && !fn.endsWith('Sync')) unprotected[fn] = `${name}'s own child_process: ${engine.reason}`;
    else if (engine.kind === 'thread' && fn === 'fork') {
      unprotected[fn] = `throws ERR_PROCGUARD_IPC_UNAVAILABLE: ${name}'s IPC channel cannot be given to a child procguard starts ('ipc' in stdio likewise)`;
    }
  }
  const protectedFunctions = ALL.filter((fn) => !(fn in unprotected));
  return {
    name,
    version,
    exitWatcher: engine.kind === 'handle' ? 'libuv' : engine.kind === 'thread' ? 'thread' : 'none',
    protectedFunctions,
    unprotected,
    register: REGISTER_COVERS[name],
  };
}
