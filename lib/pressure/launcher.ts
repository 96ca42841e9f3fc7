// Starts a program inside a cgroup from its very first instruction: a shell writes its own pid
// into the cgroup's procs file, then execs the program, so the program and every child it
// makes are inside. It also resets oom_score_adj to 0, the agent's state the scenarios assume.

export interface LaunchCommand {
  command: string;
  args: string[];
}

const LAUNCHER_SCRIPT = [
  'procs_file=$1; shift',
  'if [ -n "$procs_file" ]; then echo $$ > "$procs_file" || exit 97; fi',
  // Best effort: lowering needs privilege; the agent reports the value it really has.
  'echo 0 > /proc/self/oom_score_adj 2>/dev/null',
  'exec "$@"',
].join('\n');

/** The command that runs `argv` inside the cgroup whose procs file is given (or in none). */
export function launchInCgroup(procsFile: string | null, argv: string[]): LaunchCommand {
  return { command: '/bin/sh', args: ['-c', LAUNCHER_SCRIPT, 'pg-launcher', procsFile ?? '', ...argv] };
}
