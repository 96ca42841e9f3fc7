// Runs a small node program in a process of its own (node -e), from the repository root so that
// require('procguard') / import 'procguard' resolve to dist/ as they do for a user; optionally as
// another user, at another nice value, with exactly the given environment. Used where what is
// observed belongs to the whole process (its stderr, its own priority, its environment) and so
// cannot be the test runner's.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface NodeRun {
  status: number | null;
  signal: string | null;
  stdout: string;
  /** All of it: procguard says nothing there unless the user must act. */
  stderr: string;
}

export interface RunOptions {
  /** Variables besides PATH (the test's own environment is not inherited). */
  env?: Record<string, string>;
  uid?: number;
  gid?: number;
  /** Absolute nice value of the node process (set with nice(1) before node starts). */
  nice?: number;
  /** Extra node options before -e (e.g. --import, --require). */
  nodeArgs?: string[];
  /** Arguments after the script: process.argv[1...]. */
  args?: string[];
  /** Run a file instead of -e. */
  file?: string;
  input?: string;
  timeoutMs?: number;
  node?: string;
}

export function runNode(script: string, options: RunOptions = {}): NodeRun {
  const node = options.node ?? process.execPath;
  const main = options.file ? [options.file] : ['-e', script];
  const argv = [...(options.nodeArgs ?? []), ...main, ...(options.args ?? [])];
  const env = { PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin', ...(options.env ?? {}) };
  let file = node;
  let args = argv;
  if (options.nice !== undefined) {
    // $0 = node, $1 = the increment from this process's nice
    file = '/bin/sh';
    args = ['-c', 'n="$1"; shift; exec nice -n "$n" "$0" "$@"', node, String(options.nice - os.getPriority()), ...argv];
  }
  const r = spawnSync(file, args, {
    cwd: REPO,
    env,
    uid: options.uid,
    gid: options.gid,
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 30000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The last line of stdout, parsed as JSON; fails with the run's output when it is not. */
export function lastJson<T = any>(run: NodeRun): T {
  const line = run.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`no JSON result (status ${run.status}, signal ${run.signal})\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
}

/**
 * Runs the same script with `cp` bound to node:child_process, then to procguard (as
 * process.argv[1]); returns both runs.
 */
export function inBoth(script: string, options: RunOptions = {}): { node: NodeRun; procguard: NodeRun } {
  const body = `const cp = require(process.argv[1]);\n${script}`;
  return {
    node: runNode(body, { ...options, args: ['node:child_process', ...(options.args ?? [])] }),
    procguard: runNode(body, { ...options, args: ['procguard', ...(options.args ?? [])] }),
  };
}
