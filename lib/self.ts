// The agent's own scheduling and OOM state, read from the kernel without the addon.
import * as fs from 'node:fs';
import * as os from 'node:os';

const CAP_SYS_NICE = 23;
const CAP_SYS_RESOURCE = 24;

const oomScoreAdjBuffer = Buffer.alloc(16);

/** The agent's /proc/self/oom_score_adj, or null where it cannot be read (not Linux, no /proc). */
export function readOwnOomScoreAdj(): number | null {
  // Read on every spawn: open/read/close into a reused buffer costs half of readFileSync.
  let fd: number | undefined;
  try {
    fd = fs.openSync('/proc/self/oom_score_adj', 'r');
    const length = fs.readSync(fd, oomScoreAdjBuffer, 0, oomScoreAdjBuffer.length, 0);
    const value = Number.parseInt(oomScoreAdjBuffer.toString('latin1', 0, length), 10);
    return Number.isInteger(value) ? value : null;
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The agent's nice value (-20..19), or null where it cannot be read. */
export function readOwnNice(): number | null {
  try {
    // Unlike the raw getpriority syscall, os.getPriority returns the nice value itself.
    return os.getPriority(0);
  } catch {
    return null;
  }
}

/** CAP_SYS_NICE and CAP_SYS_RESOURCE in the agent's effective set, or null without /proc/self/status. */
export function readCapabilities(): { capSysNice: boolean; capSysResource: boolean } | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/status', 'latin1');
  } catch {
    return null;
  }
  const match = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  if (!match) return null;
  const effective = BigInt(`0x${match[1]}`);
  const has = (bit: number) => ((effective >> BigInt(bit)) & 1n) === 1n;
  return { capSysNice: has(CAP_SYS_NICE), capSysResource: has(CAP_SYS_RESOURCE) };
}
