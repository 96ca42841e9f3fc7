// Runs a script under Node, Bun or Deno (Bun and Deno from the npm registry, installed into
// .cache/runtimes by scripts/runtimes.js), with exactly the given environment.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from './run-node';

export type RuntimeName = 'node' | 'bun' | 'deno';
export const RUNTIMES: RuntimeName[] = ['node', 'bun', 'deno'];

const require = createRequire(import.meta.url);
let installed: Record<'bun' | 'deno', { path: string; version: string }> | undefined;

/** Installs Bun and Deno once (a failure is the test's failure: CI reaches the npm registry). */
export function runtimeBinaries(): Record<'bun' | 'deno', { path: string; version: string }> {
  installed ??= (require(path.join(REPO, 'scripts', 'runtimes.js')) as { runtimes(): typeof installed }).runtimes();
  return installed!;
}

export interface RuntimeRun {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface RuntimeRunOptions {
  env?: Record<string, string>;
  args?: string[];
  /** Arguments to the runtime before the script (bun --preload, deno run flags, node --import). */
  runtimeArgs?: string[];
  cwd?: string;
  timeoutMs?: number;
}

/** The command line that runs `file` under `runtime`. */
export function commandFor(runtime: RuntimeName, file: string, options: RuntimeRunOptions = {}): string[] {
  const extra = options.runtimeArgs ?? [];
  const args = options.args ?? [];
  if (runtime === 'node') return [process.execPath, ...extra, file, ...args];
  const { path: bin } = runtimeBinaries()[runtime];
  if (runtime === 'bun') return [bin, ...extra, file, ...args];
  return [bin, 'run', '-A', '--quiet', ...extra, file, ...args];
}

export function runIn(runtime: RuntimeName, file: string, options: RuntimeRunOptions = {}): RuntimeRun {
  const [bin, ...argv] = commandFor(runtime, file, options);
  const r = spawnSync(bin, argv, {
    cwd: options.cwd ?? REPO,
    env: {
      PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin',
      HOME: process.env.HOME || '/root',
      DENO_DIR: path.join(REPO, '.cache', 'deno'),
      DENO_NO_UPDATE_CHECK: '1',
      NO_COLOR: '1',
      ...(options.env ?? {}),
    },
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Writes `source` to a fresh file named `name` and runs it. */
export function runSource(runtime: RuntimeName, name: string, source: string, options: RuntimeRunOptions = {}): RuntimeRun {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-runtime-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, source);
    return runIn(runtime, file, options);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The JSON after `marker` on stdout; fails with the whole run when there is none. */
export function markedJson<T = any>(run: RuntimeRun, marker: string): T {
  const line = run.stdout.split('\n').find((l) => l.startsWith(`${marker} `));
  if (!line) throw new Error(`no ${marker} line (status ${run.status}, signal ${run.signal})\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return JSON.parse(line.slice(marker.length + 1)) as T;
}
