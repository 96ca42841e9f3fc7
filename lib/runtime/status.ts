// status().runtime: which runtime this is and what procguard does there.
import type { RuntimeStatus } from '../types';
import { currentRuntime } from './detect';
import { asyncEngine } from './engine';

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
  const protectedFunctions = engine.kind === 'fallback' ? ['spawnSync', 'execSync', 'execFileSync'] : name === 'node' ? ALL : ALL.filter((f) => f !== 'fork');
  const unprotected: Record<string, string> = {};
  for (const fn of ALL) {
    if (protectedFunctions.includes(fn)) continue;
    unprotected[fn] = engine.kind === 'fallback'
      ? `${name}'s own child_process: ${engine.reason}`
      : `throws ERR_PROCGUARD_IPC_UNAVAILABLE: ${name}'s IPC channel cannot be given to a child procguard starts ('ipc' in stdio likewise)`;
  }
  return {
    name,
    version,
    exitWatcher: engine.kind === 'handle' ? 'libuv' : engine.kind === 'thread' ? 'thread' : 'none',
    protectedFunctions,
    unprotected,
    register: REGISTER_COVERS[name],
  };
}
