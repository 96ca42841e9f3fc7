// `procguard run [--memory-max 2G] [--oom-score-adj N] [--nice N] [--sched-policy idle] -- cmd args...`: runs a command
// the way /usr/bin/time -v would, then prints its resource usage and the OOM verdict, and exits
// with the command's status (128 + the signal's number when a signal ended it, as shells do).
import { constants as osConstants } from 'node:os';
import { spawn } from '../spawn';
import type { GuardedChildProcess } from '../spawn';
import type { GuardOptions } from '../types';
import type { CliIo } from './subcommand';
import { guard as startGuard } from '../guard';
import {
  formatIoPriority,
  IO_PRIORITY_VARIABLE_ALLOWED,
  parseIoPriorityVariable,
  parseSchedPolicyVariable,
  SCHED_POLICY_VARIABLE_ALLOWED,
  schedPolicyLabel,
} from '../scheduling';


export const runUsage = {
  args: '[--memory-max SIZE] [--memory-swap-max SIZE] [--pids-max N] [--cpu-weight N] [--io-weight N] [--oom-score-adj N] [--nice N] ' +
    '[--sched-policy other|batch|idle] [--io-priority best-effort[:0-7]|idle] [--strict] [--guard] -- command [args...]',
  summary: 'run a command in its own capped cgroup, then print its resource usage and OOM verdict',
};

class RunUsageError extends Error {}

function parseRunArgs(argv: string[]): { command: string; args: string[]; options: GuardOptions; guard: boolean } {
  const options: GuardOptions = {};
  let guard = false;
  const cgroup: Record<string, unknown> = {};
  let i = 0;
  const value = (flag: string): string => {
    const v = argv[++i];
    if (v === undefined) throw new RunUsageError(`${flag} needs a value`);
    return v;
  };
  const integer = (flag: string): number => {
    const v = value(flag);
    if (!/^-?\d+$/.test(v)) throw new RunUsageError(`${flag} takes an integer, not ${JSON.stringify(v)}`);
    return Number(v);
  };
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '--memory-max') cgroup.memoryMax = value(arg);
    else if (arg === '--memory-swap-max') cgroup.memorySwapMax = value(arg);
    else if (arg === '--pids-max') cgroup.pidsMax = integer(arg);
    else if (arg === '--cpu-weight') cgroup.cpuWeight = integer(arg);
    else if (arg === '--io-weight') cgroup.ioWeight = integer(arg);
    else if (arg === '--oom-score-adj') options.oomScoreAdj = integer(arg);
    else if (arg === '--nice') options.nice = integer(arg);
    else if (arg === '--sched-policy') {
      const v = value(arg);
      const policy = parseSchedPolicyVariable(v);
      if (policy === undefined) throw new RunUsageError(`${arg} ${SCHED_POLICY_VARIABLE_ALLOWED}, not ${JSON.stringify(v)}`);
      options.schedPolicy = policy ?? 'inherit';
    } else if (arg === '--io-priority') {
      const v = value(arg);
      const priority = parseIoPriorityVariable(v);
      if (priority === undefined) throw new RunUsageError(`${arg} ${IO_PRIORITY_VARIABLE_ALLOWED}, not ${JSON.stringify(v)}`);
      options.ioPriority = priority ?? 'inherit';
    }
    else if (arg === '--strict') options.strict = true;
    else if (arg === '--guard') guard = true;
    else if (arg.startsWith('-')) throw new RunUsageError(`unknown option ${JSON.stringify(arg)}`);
    else break; // the command, without a '--'
  }
  const [command, ...args] = argv.slice(i);
  if (!command) throw new RunUsageError('no command given');
  if (Object.keys(cgroup).length) options.cgroup = cgroup;
  return { command, args, options, guard };
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 10).toFixed(0)} KiB`;
}

/** The report printed when the command ends. */
export function formatRunReport(child: GuardedChildProcess, code: number | null, signal: NodeJS.Signals | null): string {
  const u = child.resourceUsage;
  const lines = [`procguard run: ${child.spawnargs.join(' ')}`];
  lines.push(`  exit: ${signal ? `killed by ${signal}` : `status ${code}`}`);
  const p = child.priority;
  const policy = p.schedPolicy ? schedPolicyLabel(p.schedPolicy) : 'inherited';
  lines.push(`  priority: oom_score_adj ${p.oomScoreAdj ?? 'inherited'}, nice ${p.nice ?? 'inherited'}, ` +
    `scheduling policy ${policy}, IO priority ${p.ioPriority ? formatIoPriority(p.ioPriority) : 'inherited'}`);
  for (const warning of child.priority.warnings) lines.push(`  warning: ${warning}`);
  if (u) {
    lines.push(`  wall time: ${(u.wallMicros / 1e6).toFixed(3)} s, user ${(u.userCpuMicros / 1e6).toFixed(3)} s, system ${(u.systemCpuMicros / 1e6).toFixed(3)} s`);
    lines.push(`  max RSS: ${formatBytes(u.maxRssBytes)}${u.memory_peak_bytes !== undefined ? `, cgroup memory.peak: ${formatBytes(u.memory_peak_bytes)}` : ''}`);
    lines.push(`  page faults: ${u.majorPageFaults} major, ${u.minorPageFaults} minor; context switches: ${u.voluntaryContextSwitches} voluntary, ${u.involuntaryContextSwitches} involuntary`);
    const kernel = Object.entries(u).filter(([key]) => /^(memory_events|psi|cpu_usage)/.test(key));
    if (kernel.length) lines.push(`  cgroup: ${kernel.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  if (child.cgroup) lines.push(`  cgroup: ${child.cgroup.dirs.join(', ')}`);
  const oom = child.oomKill;
  if (oom?.cause === 'procguard-guard') {
    lines.push(`  killed by procguard's guard (${oom.trigger}), before the kernel's OOM killer had to act`);
    for (const fact of oom.evidence) lines.push(`    - ${fact}`);
  } else if (oom) {
    lines.push(`  OOM-killed: ${oom.cause === 'cgroup-limit' ? 'its own memory cap (the command\'s own appetite)' : 'system memory pressure, not its own cap (worth retrying elsewhere)'} [${oom.confidence}]`);
    for (const fact of oom.evidence) lines.push(`    - ${fact}`);
  } else {
    lines.push('  OOM-killed: no');
  }
  return `${lines.join('\n')}\n`;
}

export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseRunArgs(argv);
  } catch (err) {
    if (err instanceof RunUsageError) {
      io.err(`procguard run: ${err.message}\nusage: procguard run ${runUsage.args}\n`);
      return 2;
    }
    throw err;
  }
  let child: GuardedChildProcess;
  try {
    // The guard watches this process's memory (its cgroup, the machine) and acts on the command.
    if (parsed.guard) startGuard();
    child = spawn(parsed.command, parsed.args, { ...parsed.options, stdio: 'inherit' });
  } catch (err) {
    io.err(`procguard run: ${(err as Error).message}\n`);
    return 2;
  }
  // The command gets the signals a terminal or a supervisor sends to us.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const forwarded: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  for (const signal of forwarded) process.on(signal, forward);
  return new Promise((resolve) => {
    child.on('error', (err) => {
      io.err(`procguard run: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      for (const s of forwarded) process.off(s, forward);
      io.err(formatRunReport(child, code, signal));
      resolve(signal ? 128 + (osConstants.signals[signal] ?? 0) : code ?? 1);
    });
  });
}
