// How an async spawn is carried out in this runtime:
//   'handle'   Node: procguard's handle under Node's own ChildProcess, exits on the libuv loop;
//   'thread'   Bun, Deno: RuntimeChildProcess over the runtime's streams, exits from the exit thread;
//   'fallback' the runtime's own child_process, unprotected, with one PROCGUARD_RUNTIME_FALLBACK warning.
import { loadNative } from '../native';
import { warning } from '../logger';
import { currentRuntime } from './detect';

export type AsyncEngine = { kind: 'handle' } | { kind: 'thread' } | { kind: 'fallback'; reason: string };

let engine: AsyncEngine | undefined;

export function asyncEngine(): AsyncEngine {
  if (engine) return engine;
  const { binding, error } = loadNative();
  if (currentRuntime().name === 'node') engine = { kind: 'handle' };
  else if (!binding) engine = { kind: 'fallback', reason: `the native addon is not loaded (${error ?? 'unknown'})` };
  else {
    // Before the first async child: no child may be watched by anything else.
    const failure = binding.startExitThread();
    engine = failure ? { kind: 'fallback', reason: `the exit watcher thread cannot start (${failure})` } : { kind: 'thread' };
  }
  return engine;
}

let fallbackWarned = false;

/** Said once per process: every async child from now on is the runtime's own, unprotected. */
export function warnRuntimeFallbackOnce(reason: string): void {
  if (fallbackWarned) return;
  fallbackWarned = true;
  const { label } = currentRuntime();
  warning(
    'PROCGUARD_RUNTIME_FALLBACK',
    `spawn, exec and execFile use ${label}'s own child_process: ${reason}; their children get no oomScoreAdj, nice or cgroup`,
    { runtime: label },
  );
}
