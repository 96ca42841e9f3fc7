// The native thread's records, worded for people: the events' fields and a kill's evidence.
import { constants as osConstants } from 'node:os';
import { errnoName } from '../errors';
import { formatBytes } from './watch-plan';
import type { WatchPlan } from './watch-plan';
import type { GuardPolicy } from './policy';

export type GuardTrigger = 'headroom' | 'memory.high stall' | 'MemAvailable' | 'child cap';

/** A record as guardDrain() returns it (native/guard/guard_napi.cc RecordObject). */
export interface NativeGuardRecord {
  seq: number;
  kind: 'pressure' | 'reclaim' | 'kill' | 'no-victim' | 'relief';
  trigger: GuardTrigger;
  scope: number;
  atMicros: number;
  detectedMicros: number;
  dryRun: boolean;
  values: number[];
  childId: number;
  pid: number;
  signal: number;
  level: number;
  childBytes: number;
  weight: number;
  treeSize: number;
  errno: number;
  mreleaseErrno: number;
  escalation: boolean;
  decidedMicros: number;
  signaledMicros: number;
}

/** child.oomKill when the guard ended the child. Exit code and signal stay what they were. */
export interface GuardKill {
  cause: 'procguard-guard';
  trigger: Exclude<GuardTrigger, 'child cap'>;
  /** The last signal the guard sent to it. */
  signal: NodeJS.Signals;
  evidence: string[];
}

export interface GuardPressureEvent {
  type: 'pressure';
  /** 'start': the condition began; 'end': it is over; 'no-victim': nothing the guard may kill. */
  state: 'start' | 'end' | 'no-victim';
  trigger: GuardTrigger;
  level: 'soft' | 'hard' | 'calm';
  cgroup: string | null;
  condition: string;
  dryRun: boolean;
}

export interface GuardReclaimEvent {
  type: 'reclaim';
  trigger: GuardTrigger;
  cgroup: string | null;
  pid: number | null;
  beforeBytes: number;
  afterBytes: number;
  fileCacheBytes: number;
  error: string | null;
  dryRun: boolean;
}

export interface GuardKillEvent {
  type: 'kill';
  trigger: GuardTrigger;
  pid: number;
  signal: NodeJS.Signals;
  /** SIGKILL after the grace period (or the hard threshold) following a SIGTERM. */
  escalation: boolean;
  dryRun: boolean;
  policy: GuardPolicy | null;
  /** Memory charged to the child (its cgroup's usage, else RSS + swap of its tree) at the choice. */
  childBytes: number;
  /** Processes of its tree signalled. */
  processes: number;
  /** From the condition's detection to the signal. */
  reactionMs: number;
  /** From the decision (grace over, hard threshold) to the held pidfds signalled. */
  signalMs: number;
  /** When the condition was seen, and when the signal went: CLOCK_MONOTONIC ms, the clock of process.hrtime(). */
  detectedAtMs: number;
  signaledAtMs: number;
  mrelease: string;
  condition: string;
  evidence: string[];
}

export type GuardEvent = GuardPressureEvent | GuardReclaimEvent | GuardKillEvent;

const signalNames: Record<number, NodeJS.Signals> = {};
for (const [name, n] of Object.entries(osConstants.signals)) signalNames[n as number] = name as NodeJS.Signals;

const ms = (micros: number) => Math.round(micros / 100) / 10;

function scopeDir(plan: WatchPlan, record: NativeGuardRecord): string | null {
  return record.scope >= 0 ? plan.scopes[record.scope]?.dir ?? null : null;
}

/** The condition of a record, one sentence with the kernel's names. */
export function describeCondition(plan: WatchPlan, r: NativeGuardRecord): string {
  const [a, b, c, d, e, f] = r.values;
  switch (r.trigger) {
    case 'headroom': {
      const scope = plan.scopes[r.scope];
      const [usageName, limitName] = scope?.version === 1 ? ['memory.usage_in_bytes', 'memory.limit_in_bytes'] : ['memory.current', 'memory.max'];
      return `${scopeDir(plan, r)}: ${usageName} ${formatBytes(a)} of ${limitName} ${formatBytes(b)}, headroom ${formatBytes(b - a)} (SIGTERM below ${formatBytes(c)}, SIGKILL below ${formatBytes(d)})`;
    }
    case 'memory.high stall':
      return `${scopeDir(plan, r)}: memory.current ${formatBytes(a)} above memory.high ${formatBytes(c)} (memory.max ${formatBytes(b)}), memory.events high ${d} and rising, memory.pressure full ${(e / 10).toFixed(1)}% some ${(f / 10).toFixed(1)}% over the window`;
    case 'MemAvailable':
      return `MemAvailable ${formatBytes(a)} of MemTotal ${formatBytes(b)} (${((100 * a) / b).toFixed(1)}%; SIGTERM at ${formatBytes(e)}, SIGKILL at ${formatBytes(f)})${d > 0 ? `, SwapFree ${formatBytes(c)} of ${formatBytes(d)}` : ', no swap'}`;
    case 'child cap':
      return `the child's own cgroup: usage ${formatBytes(a)} of its cap ${formatBytes(b)} (reclaim below ${formatBytes(c)} of headroom)`;
  }
}

function mreleaseText(errno: number): string {
  if (errno === -1) return 'not tried';
  if (errno === 0) return 'released';
  // The process had already exited and given its memory back by the time it was asked.
  if (errnoName(errno) === 'ESRCH') return 'not needed (already exited)';
  return errnoName(errno);
}

export function killEvent(plan: WatchPlan, r: NativeGuardRecord, policy: GuardPolicy | null): GuardKillEvent {
  const signal = signalNames[r.signal] ?? 'SIGTERM';
  const condition = describeCondition(plan, r);
  const reactionMs = ms((r.signaledMicros || r.atMicros) - (r.detectedMicros || r.atMicros));
  const evidence = [
    `${r.trigger}: ${condition}`,
    `the heaviest eligible child: ${formatBytes(r.childBytes)} charged, guard '${policy ?? 'normal'}' (weight ${r.weight})`,
  ];
  if (r.dryRun) evidence.push(`dry run: ${signal} not sent`);
  else if (r.escalation) evidence.push(`SIGKILL to ${r.treeSize} process(es) ${r.level === 2 ? 'at the hard threshold' : 'after the grace period'}, following SIGTERM`);
  else evidence.push(`${signal} to ${r.treeSize} process(es) ${ms(r.signaledMicros - r.detectedMicros)} ms after the condition was seen${r.level === 2 ? ' (hard threshold: no grace)' : ''}`);
  if (r.errno) evidence.push(`the signal failed: ${errnoName(r.errno)}`);
  if (signal === 'SIGKILL' && !r.dryRun) evidence.push(`process_mrelease: ${mreleaseText(r.mreleaseErrno)}`);
  return {
    type: 'kill',
    trigger: r.trigger,
    pid: r.pid,
    signal,
    escalation: r.escalation,
    dryRun: r.dryRun,
    policy,
    childBytes: r.childBytes,
    processes: r.treeSize,
    reactionMs,
    signalMs: r.decidedMicros ? ms(r.signaledMicros - r.decidedMicros) : 0,
    detectedAtMs: ms(r.detectedMicros),
    signaledAtMs: ms(r.signaledMicros || r.atMicros),
    mrelease: mreleaseText(r.mreleaseErrno),
    condition,
    evidence,
  };
}

export function reclaimEvent(plan: WatchPlan, r: NativeGuardRecord): GuardReclaimEvent {
  return {
    type: 'reclaim',
    trigger: r.trigger,
    cgroup: r.childId ? null : scopeDir(plan, r),
    pid: r.childId ? r.pid : null,
    beforeBytes: r.values[6],
    afterBytes: r.values[7],
    fileCacheBytes: r.childBytes,
    error: r.errno ? errnoName(r.errno) : null,
    dryRun: r.dryRun,
  };
}

export function pressureEvent(plan: WatchPlan, r: NativeGuardRecord): GuardPressureEvent {
  const state = r.kind === 'relief' ? 'end' : r.kind === 'no-victim' ? 'no-victim' : 'start';
  return {
    type: 'pressure',
    state,
    trigger: r.trigger,
    level: state === 'end' ? 'calm' : r.level === 2 ? 'hard' : 'soft',
    cgroup: scopeDir(plan, r),
    condition: describeCondition(plan, r),
    dryRun: r.dryRun,
  };
}
