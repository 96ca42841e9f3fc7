// The agent's own scheduling and OOM state, read from the kernel without the addon.
import * as fs from 'node:fs';
import * as os from 'node:os';

const CAP_SYS_NICE = 23;
const CAP_SYS_RESOURCE = 24;

const oomScoreAdjBuffer = Buffer.alloc(16);

let recent: { at: number; value: number | null } | undefined;

/** The agent's /proc/self/oom_score_adj, or null where it cannot be read (not Linux, no /proc). */
export function readOwnOomScoreAdj(): number | null {
  // open/read/close into a reused buffer: half the cost of readFileSync.
  let fd: number | undefined;
  let value: number | null = null;
  try {
    fd = fs.openSync('/proc/self/oom_score_adj', 'r');
    const length = fs.readSync(fd, oomScoreAdjBuffer, 0, oomScoreAdjBuffer.length, 0);
    const parsed = Number.parseInt(oomScoreAdjBuffer.toString('latin1', 0, length), 10);
    value = Number.isInteger(parsed) ? parsed : null;
  } catch {
    value = null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  recent = { at: Date.now(), value };
  return value;
}

/**
 * The agent's oom_score_adj for computing a child's default: read at most once a second, since
 * the read is a tenth of a spawn's own bookkeeping and the agent's score rarely changes. Any
 * readOwnOomScoreAdj() (protectSelf(), status()) refreshes it at once.
 */
export function recentOwnOomScoreAdj(): number | null {
  if (recent && Date.now() - recent.at < 1000) return recent.value;
  return readOwnOomScoreAdj();
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

/** The agent's scheduling policy number (sched(7): 0 SCHED_OTHER, 3 SCHED_BATCH, 5 SCHED_IDLE), or null. */
export function readOwnSchedPolicy(): number | null {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'latin1');
    // Fields after the command's closing parenthesis start at field 3; policy is field 41.
    const policy = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]);
    return Number.isInteger(policy) ? policy : null;
  } catch {
    return null;
  }
}
