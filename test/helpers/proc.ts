// Reading what the kernel says about a process, and small event helpers.
import * as fs from 'node:fs';
import type { EventEmitter } from 'node:events';

/** The fields after the last ')' of /proc/<pid>/stat; index 0 is field 3 (state). */
function statFields(pid: number | 'self'): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).trim().split(' ');
}

/** Field n (1-based, as in proc(5)) of /proc/<pid>/stat, n >= 3. */
export function statField(pid: number | 'self', n: number): string {
  return statFields(pid)[n - 3];
}

export function readState(pid: number): string {
  return statField(pid, 3);
}

export function readPpid(pid: number): number {
  return Number(statField(pid, 4));
}

export function readSession(pid: number): number {
  return Number(statField(pid, 6));
}

export function readNice(pid: number | 'self'): number {
  return Number(statField(pid, 19));
}

export function readOomScoreAdj(pid: number | 'self'): number {
  return Number(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim());
}

export function readEnviron(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    if (!entry) continue;
    const eq = entry.indexOf('=');
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** /proc/<pid>/status as a map of its lines (e.g. Uid, SigIgn, SigBlk). */
export function readStatus(pid: number | 'self'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return out;
}

/** The fd numbers open in a process. */
export function listFds(pid: number | 'self'): number[] {
  return fs
    .readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The pids whose parent is `parent` (default: this process), with their state letter. */
export function childrenOf(parent: number = process.pid): { pid: number; state: string; comm: string }[] {
  const out: { pid: number; state: string; comm: string }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent) {
        out.push({ pid: Number(name), state: fields[0], comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
      }
    } catch {
      // exited while we looked
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    return readState(pid) !== 'Z';
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true or `ms` pass; returns the last result. */
export async function waitFor(check: () => boolean, ms = 5000, step = 20): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > end) return false;
    await sleep(step);
  }
}

export interface Recording {
  /** Event names in the order they were emitted. */
  events: string[];
  /** Arguments per event name (last emission). */
  args: Record<string, unknown[]>;
  /** Counts per event name. */
  counts: Record<string, number>;
  /** Resolves at 'close', or rejects after the timeout. */
  closed: Promise<void>;
}

/** Records the ChildProcess events of `child` in order. */
export function record(child: EventEmitter, timeoutMs = 20000): Recording {
  const rec: Recording = { events: [], args: {}, counts: {}, closed: undefined as unknown as Promise<void> };
  for (const name of ['spawn', 'error', 'exit', 'close', 'disconnect', 'message']) {
    child.on(name, (...args: unknown[]) => {
      rec.events.push(name);
      rec.args[name] = args;
      rec.counts[name] = (rec.counts[name] ?? 0) + 1;
    });
  }
  rec.closed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'close' within ${timeoutMs} ms; events so far: ${rec.events.join(',')}`)), timeoutMs);
    child.once('close', () => {
      clearTimeout(timer);
      // let listeners registered after ours and same-tick events land
      setImmediate(resolve);
    });
  });
  return rec;
}

/** Resolves with the first of the given events of `emitter` (name and args), or rejects after the timeout. */
export function firstOf(emitter: EventEmitter, names: string[], timeoutMs = 10000): Promise<{ name: string; args: unknown[] }> {
  return new Promise((resolve, reject) => {
    const handlers: [string, (...a: unknown[]) => void][] = [];
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`none of ${names.join('/')} within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      for (const [n, h] of handlers) emitter.off(n, h);
    };
    for (const name of names) {
      const h = (...args: unknown[]) => {
        cleanup();
        resolve({ name, args });
      };
      handlers.push([name, h]);
      emitter.on(name, h);
    }
  });
}

/** The enumerable fields of an error plus name/message/code, for comparisons. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { notAnError: String(err) };
  const e = err as Error & Record<string, unknown>;
  return { ...e, name: e.name, message: e.message, code: e.code, constructor: e.constructor.name };
}

/** The fds open in a process and what each refers to (readlink of /proc/<pid>/fd/N). */
export function fdTable(pid: number | 'self'): Record<number, string> {
  const table: Record<number, string> = {};
  for (const fd of listFds(pid)) {
    try {
      table[fd] = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      // closed meanwhile
    }
  }
  return table;
}

/**
 * Compares a child's fd table with the fds it should have: `missing` are expected but absent,
 * `extra` (with what they refer to) are not expected.
 */
export function unexpectedFds(table: Record<number, string>, expected: number[]): { missing: number[]; extra: Record<number, string> } {
  // Strict: procguard closes every fd it was not asked to pass, even ones the agent itself
  // inherited without close-on-exec (node would pass those on; see the README's differences).
  const fds = Object.keys(table).map(Number);
  const extra: Record<number, string> = {};
  for (const fd of fds) if (!expected.includes(fd)) extra[fd] = table[fd];
  return { missing: expected.filter((fd) => !fds.includes(fd)), extra };
}

/**
 * Waits until `sleep` child `pid` sits in its (clock_)nanosleep: its start-up (the dynamic loader,
 * locale files) has opened and closed its own files, so its fd table is what it was given.
 */
export async function waitUntilSleeping(pid: number, ms = 5000): Promise<void> {
  const NANOSLEEP = [35, 230]; // x86_64 nanosleep, clock_nanosleep
  const ok = await waitFor(() => {
    try {
      return NANOSLEEP.includes(Number(fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0]));
    } catch {
      return false;
    }
  }, ms, 5);
  if (!ok) throw new Error(`process ${pid} did not reach its sleep within ${ms} ms`);
}
