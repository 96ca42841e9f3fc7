#!/usr/bin/env node
// The procguard command: `procguard <subcommand> [arguments]`, one entry per subcommand in `subcommands`.
import { demoCommand, demoUsage } from './demo';
import { runCommand, runUsage } from './run';
import { statusCommand } from './status';
import { UsageError } from './subcommand';
import type { CliIo, Subcommand } from './subcommand';

export { UsageError };
export type { CliIo, Subcommand };

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
