// Runs test/fixtures/agent.cjs as a separate process set up as the test asks (its own oom_score_adj
// and nice set before node starts, uid, node binary, environment), through node:child_process,
// and returns what it printed.
import { spawn as nodeSpawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { denySyscallsCommand } from './deny-syscalls';

export const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));
export const AGENT = path.join(FIXTURES, 'agent.cjs');
const PREFIX = 'AGENT_RESULT ';

export interface SpawnSpec {
  command: string;
  args?: string[];
  options?: Record<string, unknown>;
  /** Read the child's /proc entries once it runs (default true). */
  read?: boolean;
  /** Let the child exit by itself instead of killing it after the read. */
  waitExit?: boolean;
  /** A path whose existence is reported after the child closed. */
  marker?: string;
}

export interface AgentPlan {
  configure?: Record<string, unknown>;
  captureLogs?: boolean;
  worker?: boolean;
  esm?: boolean;
  spawns?: SpawnSpec[];
}

export interface ProcView {
  oomScoreAdj: number;
  nice: number;
  session: number;
  environ: Record<string, string>;
  uid: string;
  gid: string;
  sigIgn: string;
  sigBlk: string;
  capEff: string;
  procOwner: number;
  /** sched(7) policy number from /proc/<pid>/sched: 0 SCHED_OTHER, 3 SCHED_BATCH, 5 SCHED_IDLE. */
  schedPolicy: number;
  /** `ionice -p <pid>`: 'none: prio 0', 'best-effort: prio 7', 'idle'. */
  ioPriority: string;
}

export interface SpawnOutcome {
  events: string[];
  pid?: number;
  thrown?: Record<string, unknown>;
  error?: Record<string, unknown>;
  started?: 'spawn' | 'error' | 'timeout';
  priority?: {
    oomScoreAdj: number | null;
    nice: number | null;
    schedPolicy: string | null;
    ioPriority: { class: string; level?: number } | null;
    warnings: string[];
  } | null;
  priorityAfterClose?: unknown;
  proc?: ProcView;
  exitCode?: number | null;
  signalCode?: string | null;
  stdout?: string;
  stderr?: string;
  markerExists?: boolean;
}

export interface LogLine {
  level: 'info' | 'warn';
  message: string;
  fields?: Record<string, unknown>;
  code?: string;
}

export interface AgentResult {
  self: ProcView & { pid: number; uid: number; nice: number; inWorker: boolean };
  childDefaults: Record<string, unknown>;
  statusBefore: Record<string, any>;
  statusAfter: Record<string, any>;
  spawns: SpawnOutcome[];
  logs: LogLine[];
  /** The agent's children left in state Z after every child closed. */
  zombies: number[];
  fatal?: Record<string, unknown>;
  stack?: string;
}

export interface AgentLaunch {
  /** Written to the agent's /proc/self/oom_score_adj by a shell before it execs node. */
  oomScoreAdj?: number;
  /** When true, a refused oom_score_adj write is tolerated (the agent then keeps the launcher's). */
  oomMayFail?: boolean;
  /** The agent's absolute nice value (set with nice(1) before node starts). */
  nice?: number;
  /** The agent's own scheduling class, set with chrt(1) before node starts. */
  schedPolicy?: 'batch' | 'idle';
  /** Run the agent under a seccomp filter that makes these system calls fail with EPERM (test/helpers/deny-syscalls.c). */
  denySyscalls?: string[];
  /** Run the agent in a mount namespace of its own without these mounts (e.g. a cgroup v1 hierarchy). */
  unmount?: string[];
  /** Run the agent as this uid/gid. */
  uid?: number;
  gid?: number;
  /** The node binary (default: this one). */
  node?: string;
  /** The agent's whole environment besides PATH (the test's own is NOT inherited). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface AgentRun {
  result: AgentResult;
  stderr: string;
  code: number | null;
}

export async function runAgent(plan: AgentPlan, launch: AgentLaunch = {}): Promise<AgentRun> {
  const node = launch.node ?? process.execPath;
  const steps: string[] = [];
  for (const mount of launch.unmount ?? []) steps.push(`umount ${mount} || exit 96`);
  if (launch.oomScoreAdj !== undefined) {
    steps.push(
      launch.oomMayFail
        ? `echo ${launch.oomScoreAdj} > /proc/self/oom_score_adj 2>/dev/null || true`
        : `echo ${launch.oomScoreAdj} > /proc/self/oom_score_adj || exit 97`,
    );
  }
  const relativeNice = launch.nice === undefined ? 0 : launch.nice - os.getPriority();
  const wrappers: string[] = [];
  if (launch.denySyscalls?.length) wrappers.push(denySyscallsCommand(launch.denySyscalls));
  if (launch.schedPolicy) wrappers.push(`chrt --${launch.schedPolicy} 0`);
  steps.push(`exec ${wrappers.join(' ')}${wrappers.length ? ' ' : ''}nice -n ${relativeNice} "$0" "$@"`);
  const env: Record<string, string> = { PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin', ...(launch.env ?? {}) };
  const shell = ['/bin/sh', '-c', steps.join('; '), node, AGENT, JSON.stringify(plan)];
  // A private mount namespace, so that the unmounts are the agent's alone.
  const argv = launch.unmount?.length ? ['unshare', '--mount', '--propagation', 'private', ...shell] : shell;
  const child = nodeSpawn(argv[0], argv.slice(1), {
    env,
    cwd: '/tmp',
    uid: launch.uid,
    gid: launch.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timeoutMs = launch.timeoutMs ?? 30000;
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agent did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const line = stdout.split('\n').find((l) => l.startsWith(PREFIX));
  if (!line) throw new Error(`agent printed no result (exit ${code})\nstdout: ${stdout}\nstderr: ${stderr}`);
  const result = JSON.parse(line.slice(PREFIX.length)) as AgentResult;
  if (result.fatal) throw new Error(`agent failed: ${JSON.stringify(result.fatal)}\n${result.stack}\nstderr: ${stderr}`);
  return { result, stderr, code };
}

/** A spawn plan of one `sleep 30` child whose /proc entries are read, then killed. */
export function oneSleeper(options: Record<string, unknown> = {}, extra: Partial<AgentPlan> = {}): AgentPlan {
  return { ...extra, spawns: [{ command: 'sleep', args: ['30'], options }] };
}

/** The single spawn of a run, asserting it ran and was read. */
export function onlyChild(run: AgentRun): SpawnOutcome & { proc: ProcView } {
  const s = run.result.spawns[0];
  if (!s || s.started !== 'spawn' || !s.proc) {
    throw new Error(`the child did not run: ${JSON.stringify(s)}\nagent stderr: ${run.stderr}`);
  }
  return s as SpawnOutcome & { proc: ProcView };
}

/** procguard's warning lines, from the capturing logger and the agent's stderr together. */
export function warnings(run: AgentRun): string[] {
  const fromLogger = run.result.logs.filter((l) => l.level === 'warn').map((l) => `${l.message} ${JSON.stringify(l.fields ?? {})}`);
  const fromStderr = run.stderr.split('\n').filter((l) => l.trim() !== '');
  return [...fromLogger, ...fromStderr];
}
