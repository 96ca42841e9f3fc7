// The kernel's own account of OOM kills, read from /dev/kmsg (the OOM verdict and the pressure tests):
// "Memory cgroup out of memory: Killed process 123 (pg-balloon) total-vm:..." (a cgroup limit)
// "Out of memory: Killed process 123 (pg-agent) total-vm:..." (the whole machine).
import * as fs from 'node:fs';

export interface KernelLogRecord {
  seq: number;
  text: string;
}

export interface KernelOomKill {
  seq: number;
  pid: number;
  comm: string;
  /** 'memcg': a cgroup hit its limit; 'global': the machine ran out of memory. */
  scope: 'memcg' | 'global';
  line: string;
}

/** Every record in the kernel's ring buffer; null when /dev/kmsg cannot be read (no permission, container). */
export function readKernelLog(): KernelLogRecord[] | null {
  let fd: number;
  try {
    fd = fs.openSync('/dev/kmsg', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  const records: KernelLogRecord[] = [];
  const buffer = Buffer.alloc(16384);
  try {
    for (;;) {
      let length: number;
      try {
        length = fs.readSync(fd, buffer, 0, buffer.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // the record we were at was overwritten; go on with the next
        if (code === 'EAGAIN') break; // the end of the buffer
        throw err;
      }
      if (length === 0) break;
      // "prio,seq,usec,flags;message\n" followed by " KEY=value" continuation lines.
      const record = buffer.toString('utf8', 0, length);
      const semicolon = record.indexOf(';');
      const seq = Number(record.slice(0, semicolon).split(',')[1]);
      records.push({ seq, text: record.slice(semicolon + 1).split('\n')[0] });
    }
  } finally {
    fs.closeSync(fd);
  }
  return records;
}

/** The sequence number of the newest kernel log record, to read only what comes after; null when unreadable. */
export function kernelLogCursor(): number | null {
  const records = readKernelLog();
  if (!records) return null;
  return records.length ? records[records.length - 1].seq : -1;
}

const KILLED_PROCESS = /(Memory cgroup out of memory|Out of memory(?: \([^)]*\))?): Killed process (\d+) \((.*?)\)/;

/** Parses the "Killed process" lines among log lines. */
export function parseOomKills(records: KernelLogRecord[]): KernelOomKill[] {
  const kills: KernelOomKill[] = [];
  for (const record of records) {
    const match = KILLED_PROCESS.exec(record.text);
    if (!match) continue;
    kills.push({ seq: record.seq, pid: Number(match[2]), comm: match[3], scope: match[1].startsWith('Memory cgroup') ? 'memcg' : 'global', line: record.text });
  }
  return kills;
}

/** The OOM kills the kernel logged after `cursor`; null when the log cannot be read. */
export function readOomKillsSince(cursor: number | null): KernelOomKill[] | null {
  if (cursor === null) return null;
  const records = readKernelLog();
  return records ? parseOomKills(records.filter((record) => record.seq > cursor)) : null;
}
