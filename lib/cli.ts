#!/usr/bin/env node
// The procguard command: `procguard <subcommand> [arguments]`, one entry per subcommand in `subcommands`.
import type { Status } from './types';
import { status } from './status';
import { demoCommand, demoUsage } from './demo';
import { runCommand, runUsage } from './run-command';

/** Where a subcommand writes; process.stdout/stderr unless a caller (a test) captures them. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export interface Subcommand {
  /** Its arguments as shown in the usage, e.g. '[--json]'. */
  args: string;
  /** One line for the usage. */
  summary: string;
  /** Runs with the arguments after its name and returns the exit code; throws UsageError for bad arguments. */
  run(args: string[], io: CliIo): number | Promise<number>;
}

/** Bad arguments to a subcommand: main() prints the message and the usage and exits with 2. */
export class UsageError extends Error {}

/** `procguard status [--json]`. */
const statusCommand: Subcommand = {
  args: '[--json]',
  summary: 'show whether priority management is on, why, and what a child would get',
  run(args, io) {
    let json = false;
    for (const arg of args) {
      if (arg === '--json') json = true;
      else throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    }
    const current = status();
    // undefined (an absent variable) would vanish from JSON; null keeps the key visible.
    io.out(json ? `${JSON.stringify(current, (_key, value) => (value === undefined ? null : value), 2)}\n` : formatStatus(current));
    return 0;
  },
};

/** Subcommands by name. Add an entry to add a subcommand. */
export const subcommands: Record<string, Subcommand> = {
  status: statusCommand,
  demo: { ...demoUsage, run: (args, io) => demoCommand(args, io) },
  run: { ...runUsage, run: (args, io) => runCommand(args, io) },
};

export function usage(): string {
  const names = Object.keys(subcommands);
  const width = Math.max(...names.map((name) => `${name} ${subcommands[name].args}`.length));
  const lines = names.map((name) => `  procguard ${`${name} ${subcommands[name].args}`.padEnd(width)}  ${subcommands[name].summary}`);
  return `usage:\n${lines.join('\n')}\n`;
}

function yesNo(value: boolean | null, unknown = 'unknown'): string {
  return value === null ? unknown : value ? 'yes' : 'no';
}

/** The status as aligned `key: value` lines, for a person. */
export function formatStatus(s: Status): string {
  const noAddon = 'unknown (needs the native addon)';
  const rows: [string, string][] = [
    ['enabled', `${s.enabled ? 'yes' : 'no'} (${s.reason})`],
    ['platform', s.platform],
    ['native addon', s.native ? 'loaded' : `not loaded (${s.nativeError ?? 'unknown error'})`],
    ['agent pid', String(s.agent.pid)],
    ['agent oom_score_adj', s.agent.oomScoreAdj === null ? 'unknown' : String(s.agent.oomScoreAdj)],
    ['agent nice', s.agent.nice === null ? 'unknown' : String(s.agent.nice)],
    ['agent dumpable', s.agent.dumpable === null ? noAddon : String(s.agent.dumpable)],
    ['CAP_SYS_NICE', yesNo(s.agent.capSysNice)],
    ['CAP_SYS_RESOURCE', yesNo(s.agent.capSysResource)],
    ['pidfd', yesNo(s.pidfd, noAddon)],
    ['env prefix', s.envPrefix],
  ];
  for (const [name, value] of Object.entries(s.env)) rows.push([name, value === undefined ? 'unset' : JSON.stringify(value)]);
  const defaults = s.childDefaults;
  if (defaults) {
    const [oomVariable, niceVariable] = [`${s.envPrefix}OOM_SCORE`, `${s.envPrefix}NICE_SCORE`];
    const whenOff = s.enabled ? '' : '; applied only when enabled';
    rows.push(['child oom_score_adj', `${defaults.oomScoreAdj} (${defaults.source.oomScoreAdj === 'env'
      ? `from ${oomVariable}` : `computed from the agent's ${s.agent.oomScoreAdj ?? 'unknown'}`}${whenOff})`]);
    rows.push(['child nice', `${defaults.nice} (${defaults.source.nice === 'env'
      ? `from ${niceVariable}` : `computed from the agent's ${s.agent.nice ?? 'unknown'}`}${whenOff})`]);
  } else {
    rows.push(['child defaults', `none (${s.platform} is not linux)`]);
  }
  const width = Math.max(...rows.map(([key]) => key.length)) + 1;
  return rows.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}\n`).join('');
}

const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Runs the subcommand named by argv[0]; resolves to the exit code (2 for a usage error). */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    io.out(usage());
    return 0;
  }
  if (name === undefined) {
    io.err(usage());
    return 2;
  }
  const subcommand = Object.hasOwn(subcommands, name) ? subcommands[name] : undefined;
  if (!subcommand) {
    io.err(`procguard: unknown subcommand ${JSON.stringify(name)}\n${usage()}`);
    return 2;
  }
  try {
    return await subcommand.run(rest, io);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`procguard ${name}: ${err.message}\n${usage()}`);
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: Error) => {
      process.stderr.write(`procguard: ${err.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
