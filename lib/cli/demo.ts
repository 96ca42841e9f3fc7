// `procguard demo`: the memory-cgroup scenario on the user's own machine. An agent holding
// memory spawns a child that grows until their memory cgroup is full, once with
// node:child_process and once with procguard, and the report says whom the kernel killed.
import { MemoryCgroupUnavailableError, createMemoryCgroup } from '../pressure/memory-cgroup';
import { findMemoryHierarchy } from '../pressure/cgroup-hierarchy';
import { MB, MemoryScenarioOutcome, runMemoryScenario } from '../pressure/scenario';
import type { SpawnModuleName } from '../pressure/protocol';
import type { CliIo } from './subcommand';

export interface DemoOptions {
  /** The memory cgroup's limit (default 400 MB). */
  limitBytes?: number;
  /** What the agent holds (default 250 MB): more than the child reaches before the limit. */
  agentHoldBytes?: number;
  /** Told what is happening while the demo runs. */
  onProgress?: (message: string) => void;
}

export interface DemoRun {
  spawnModule: SpawnModuleName;
  outcome: MemoryScenarioOutcome;
}

export type DemoReport =
  | {
      ran: true;
      cgroupVersion: 1 | 2;
      limitBytes: number;
      agentHoldBytes: number;
      withoutProcguard: DemoRun;
      withProcguard: DemoRun;
      /** With procguard the child was killed and the agent lived, and without it the agent was killed. */
      procguardProtectedTheAgent: boolean;
    }
  | { ran: false; reason: string; needs: string[] };

const NEEDS = [
  'Linux with the memory cgroup controller (cgroup v1 or v2)',
  'permission to create a memory cgroup: run as root (e.g. `sudo npx procguard demo`), or, on cgroup v2, ' +
    'from a delegated subtree with the memory controller enabled (systemd delegates one to each user manager: ' +
    '`systemd-run --user --scope npx procguard demo`)',
];

/** Runs the scenario without and with procguard, or says what the machine lacks. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const limitBytes = options.limitBytes ?? 400 * MB;
  const agentHoldBytes = options.agentHoldBytes ?? 250 * MB;
  const progress = options.onProgress ?? (() => undefined);
  const hierarchy = findMemoryHierarchy();
  if ('error' in hierarchy) return { ran: false, reason: hierarchy.error, needs: NEEDS };
  try {
    await createMemoryCgroup({ limitBytes, name: 'procguard-demo-probe' }).remove();
  } catch (err) {
    if (err instanceof MemoryCgroupUnavailableError) return { ran: false, reason: err.message, needs: NEEDS };
    throw err;
  }

  const run = async (spawnModule: SpawnModuleName): Promise<DemoRun> => {
    progress(`running the agent with ${spawnModule === 'procguard' ? 'procguard' : 'node:child_process (without procguard)'}...`);
    return { spawnModule, outcome: await runMemoryScenario({ spawnModule, cgroupLimitBytes: limitBytes, agentHoldBytes }) };
  };
  const withoutProcguard = await run('node:child_process');
  const withProcguard = await run('procguard');
  return {
    ran: true,
    cgroupVersion: hierarchy.version,
    limitBytes,
    agentHoldBytes,
    withoutProcguard,
    withProcguard,
    procguardProtectedTheAgent: withoutProcguard.outcome.victim === 'agent' && withProcguard.outcome.victim === 'child',
  };
}

function megabytes(bytes: number): string {
  return `${Math.round(bytes / MB)} MB`;
}

function seconds(ms: number | null): string {
  return ms === null ? 'unknown time' : `${(ms / 1000).toFixed(1)} s`;
}

function describeRun(title: string, { outcome }: DemoRun): string[] {
  const { agent, child } = outcome;
  const lines = [`${title}:`];
  if (outcome.victim === 'agent') {
    lines.push(`  killed: the AGENT (pid ${agent.pid}, ${agent.signal}), ${seconds(outcome.timings.untilKillMs)} after its child started`);
    if (child && outcome.kernelKills?.some((kill) => kill.pid === child.pid)) lines.push(`  and then its orphaned child too (pid ${child.pid})`);
  } else if (outcome.victim === 'child') {
    lines.push(`  killed: the CHILD (pid ${child?.pid}, ${child?.exit?.signal}), ${seconds(outcome.timings.untilKillMs)} after it started`);
    lines.push(`  the agent survived and saw its child exit with signal ${child?.exit?.signal}`);
  } else {
    const why = outcome.timedOut ? 'the run timed out' : `the agent exited with ${agent.signal ?? `code ${agent.exitCode}`}`;
    lines.push(`  killed: nobody by the OOM killer (${why})`);
  }
  if (child) lines.push(`  the child ran with oom_score_adj ${child.oomScoreAdj} and nice ${child.nice} (the agent: ${agent.oomScoreAdj} and ${agent.nice})`);
  const counter = outcome.oomKillCount;
  lines.push(`  kernel oom_kill counter of the cgroup: ${counter ? `${counter.before} -> ${counter.after}` : 'not reported by this kernel'}`);
  for (const kill of outcome.kernelKills ?? []) lines.push(`  kernel log: ${kill.line.replace(/ total-vm:.*/, '')}`);
  for (const error of agent.errors) lines.push(`  agent error: ${error}`);
  return lines;
}

/** The report as plain text for a terminal. */
export function formatDemoReport(report: DemoReport): string {
  if (!report.ran) {
    return [`procguard demo cannot run here: ${report.reason}`, 'It needs:', ...report.needs.map((need) => `  - ${need}`), ''].join('\n');
  }
  const lines = [
    `procguard demo: an agent holding ${megabytes(report.agentHoldBytes)} starts a child that allocates memory until their`,
    `${megabytes(report.limitBytes)} memory cgroup (cgroup v${report.cgroupVersion}) is full and the kernel's OOM killer picks a victim.`,
    '',
    ...describeRun('Without procguard (node:child_process)', report.withoutProcguard),
    '',
    ...describeRun('With procguard', report.withProcguard),
    '',
    report.procguardProtectedTheAgent
      ? 'Result: without procguard the kernel killed the agent; with procguard it killed the child and the agent lived.'
      : 'Result: the runs did not go as expected (see above): procguard did not demonstrably protect the agent here.',
    '',
  ];
  return lines.join('\n');
}

/** How `procguard demo` is listed in the CLI usage. */
export const demoUsage = { args: '[--json] [--limit-mb N] [--agent-mb N]', summary: 'show, under a real memory cgroup limit, who the OOM killer picks with and without procguard' };

/**
 * `procguard demo [--json] [--limit-mb N] [--agent-mb N]`. Exit code: 0 procguard protected
 * the agent, 1 the demo ran but it did not, 2 the demo cannot run here or bad arguments.
 */
export async function demoCommand(argv: string[], io: CliIo): Promise<number> {
  let json = false;
  let limitMb = 400;
  let agentMb = 250;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') json = true;
    else if (arg === '--limit-mb' || arg === '--agent-mb') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value <= 0) {
        io.err(`procguard demo: ${arg} needs a positive whole number of MB\n`);
        return 2;
      }
      if (arg === '--limit-mb') limitMb = value;
      else agentMb = value;
    } else {
      io.err(`procguard demo: unknown argument ${JSON.stringify(arg)}\nusage: procguard demo ${demoUsage.args}\n`);
      return 2;
    }
  }
  // The child needs room to grow (its own Node runtime alone is ~40 MB) yet must stay smaller than the agent.
  if (agentMb < 100 || limitMb < agentMb + 100 || limitMb > agentMb * 2) {
    io.err('procguard demo: choose --agent-mb >= 100 and --limit-mb between agent + 100 and 2 x agent, so the agent is the bigger process when the limit is hit\n');
    return 2;
  }
  const report = await runDemo({ limitBytes: limitMb * MB, agentHoldBytes: agentMb * MB, onProgress: json ? undefined : (message) => io.err(`${message}\n`) });
  io.out(json ? `${JSON.stringify(report, null, 2)}\n` : formatDemoReport(report));
  if (!report.ran) return 2;
  return report.procguardProtectedTheAgent ? 0 : 1;
}
