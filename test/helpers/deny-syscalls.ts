// Builds test/helpers/deny-syscalls.c once per machine (next to the other prepared test files)
// and gives the command prefix that runs a program under it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./deny-syscalls.c', import.meta.url));
const BINARY = '/tmp/procguard-test/deny-syscalls';

/** The path of the compiled helper, built when missing or older than its source (needs cc, package gcc). */
export function denySyscallsBinary(): string {
  const built = fs.statSync(BINARY, { throwIfNoEntry: false });
  if (built && built.mtimeMs >= fs.statSync(SOURCE).mtimeMs) return BINARY;
  fs.mkdirSync(path.dirname(BINARY), { recursive: true });
  // Build under a private name, then rename: a concurrent test never runs half a binary.
  const temp = `${BINARY}.${process.pid}.tmp`;
  execFileSync('cc', ['-O2', '-o', temp, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
  fs.chmodSync(temp, 0o755);
  fs.renameSync(temp, BINARY);
  return BINARY;
}

/** `deny-syscalls ioprio_set --`: a shell command prefix. */
export function denySyscallsCommand(names: string[]): string {
  return `${denySyscallsBinary()} ${names.join(' ')} --`;
}
