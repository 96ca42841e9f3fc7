// The OOM verdict on a child that died: its own appetite ('cgroup-limit': its own cgroup hit its
// cap and the kernel killed in it) or pressure from elsewhere ('system': OOM-killed without its
// cap being the reason, i.e. the machine or an ancestor such as the agent's container ran out,
// worth retrying elsewhere). Information only: the exit code and signal are never rewritten.
// (../shared/reference/002: "OOM-killed but the cgroup limit was not hit" means system pressure.)
import * as fs from 'node:fs';
import { parseOomKills, readKernelLog } from '../kernel-log';
import type { KernelOomKill } from '../kernel-log';
import type { CgroupUsage } from './child-cgroup';

export interface OomKill {
  cause: 'cgroup-limit' | 'system';
  /** 'certain': the kernel's log names the child, or its own cgroup counted the kill; 'likely': the kernel counted an OOM kill while the child ran and the child died of SIGKILL. */
  confidence: 'certain' | 'likely';
  /** What the verdict rests on, one fact a line. */
  evidence: string[];
  /** The kernel's "Killed process" line for the child, when readable. */
  kernelLine?: string;
}

function readVmstatOomKill(): number | null {
  try {
    const match = /^oom_kill (\d+)$/m.exec(fs.readFileSync('/proc/vmstat', 'latin1'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

// The machine-wide oom_kill count, sampled at most once a second: reading /proc/vmstat at every
// spawn would cost more than the rest of the spawn's bookkeeping. A sample taken up to a second
// before a child started only widens the window, which is why such evidence says 'likely'.
let sample: { at: number; value: number | null } | undefined;

/** What a later verdict compares against; taken when a child starts. */
export interface OomBaseline {
  vmstatOomKill: number | null;
}

export function oomBaseline(): OomBaseline {
  const now = Date.now();
  if (!sample || now - sample.at > 1000) sample = { at: now, value: readVmstatOomKill() };
  return { vmstatOomKill: sample.value };
}

/**
 * The kernel's "Killed process" lines that can be about a child: only the newest of them, as many
 * as the OOM kills /proc/vmstat counted since the child started, so that an older kill of a
 * process that had the same pid (pids are reused) is never taken for the child's. The kernel
 * counts a kill before it logs it: reading the log first and the count after, every line read
 * is of a kill counted. `rise` null: the count is unknown here (every line is taken); `readable`
 * false: /dev/kmsg cannot be read. The whole ring buffer is read only when the count rose.
 */
function kernelKillsSince(baseline: OomBaseline): { readable: boolean; kills: KernelOomKill[]; rise: number | null } {
  const riseNow = (): number | null => {
    const now = readVmstatOomKill();
    return now !== null && baseline.vmstatOomKill !== null ? now - baseline.vmstatOomKill : null;
  };
  const before = riseNow();
  if (before !== null && before <= 0) return { readable: true, kills: [], rise: before };
  const records = readKernelLog();
  const rise = riseNow();
  if (!records) return { readable: false, kills: [], rise };
  const kills = parseOomKills(records);
  return { readable: true, kills: rise === null ? kills : kills.slice(-rise), rise };
}

/**
 * The verdict for a child that exited with `signal`, or null when it was not OOM-killed (or
 * there is no evidence that it was). `usage` is its own cgroup's counters, when it had one.
 */
export function oomVerdict(pid: number, signal: number, baseline: OomBaseline, usage?: CgroupUsage, memoryMax?: number): OomKill | null {
  const ownKills = usage?.memory_events_oom_kill;
  // Its own memory cgroup counts every OOM kill of its processes, whichever OOM killer chose them
  // (its cap's, an ancestor's, the machine's): none counted means none happened, whatever else
  // the machine's counters saw meanwhile.
  if (ownKills === 0) return null;
  const killedInCgroup = ownKills !== undefined && ownKills > 0;
  // The OOM killer sends SIGKILL, nothing else; a child that exited otherwise is only reported
  // when its own cgroup counted the kill of one of its processes (a shell whose command was killed).
  if (signal !== 9 && !killedInCgroup) return null;
  const evidence: string[] = [];
  const log = kernelKillsSince(baseline);
  const rise = log.rise;
  const kernel = log.kills.filter((kill) => kill.pid === pid).pop();
  if (kernel) evidence.push(`kernel log: ${kernel.line}`);

  if (killedInCgroup) {
    evidence.push(`its cgroup's memory.events oom_kill is ${ownKills}`);
    if (signal !== 9) evidence.push('the OOM killer ended a process in its cgroup, not the child itself (which then exited)');
    // oom_kill counts kills of its processes by any OOM killer; only "oom" (v2) or reaching the
    // limit (v1: failcnt, or a peak at the limit, since failcnt stays 0 when memsw is capped too)
    // says its own cap was the reason.
    const peakAtCap = memoryMax !== undefined && (usage!.memory_peak_bytes ?? 0) >= memoryMax * 0.99;
    const ownCap = usage!.memory_events_oom !== undefined ? usage!.memory_events_oom > 0 : memoryMax !== undefined && ((usage!.memory_events_max ?? 0) > 0 || peakAtCap);
    if (kernel?.scope === 'global' || !ownCap) {
      evidence.push(kernel?.scope === 'global' ? 'the kernel killed it in a machine-wide OOM' : 'its own cap was not reached (memory.events oom is 0)');
      return { cause: 'system', confidence: 'certain', evidence, kernelLine: kernel?.line };
    }
    if (usage!.memory_events_oom !== undefined) evidence.push(`its cgroup's memory.events oom is ${usage!.memory_events_oom}`);
    else evidence.push(`its cgroup reached memory.limit_in_bytes (${memoryMax} bytes; peak ${usage!.memory_peak_bytes})`);
    return { cause: 'cgroup-limit', confidence: 'certain', evidence, kernelLine: kernel?.line };
  }

  // No own memory cgroup: an OOM kill from outside, if there is evidence at all.
  if (kernel) {
    evidence.push(kernel.scope === 'memcg' ? "an ancestor cgroup (e.g. the agent's container) hit its limit" : 'the machine ran out of memory');
    return { cause: 'system', confidence: 'certain', evidence, kernelLine: kernel.line };
  }
  // A readable log that does not name it says it was not OOM-killed; only without the log is the
  // machine-wide count a hint.
  if (!log.readable && rise !== null && rise > 0) {
    evidence.push(`/proc/vmstat oom_kill rose by ${rise} while it ran, and it died of SIGKILL (the kernel log, which would name it, is not readable)`);
    return { cause: 'system', confidence: 'likely', evidence };
  }
  return null;
}
