// What every subcommand of the procguard command is: its usage line and its run function.

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
