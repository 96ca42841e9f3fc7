// guard(): the agent's watcher of memory trouble, for the whole process. The watching and the
// killing happen on the addon's native thread (native/guard/), which works while this thread is
// stalled; here are the decisions that JavaScript can make ahead of time (what to watch, the
// thresholds, each child's weight), the registry of children, and the telling afterwards:
// events, one log line per action, diagnostics_channel 'procguard:guard', child.oomKill.
import * as diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { codedError } from '../errors';
import { currentConfig } from '../config';
import { info, warning } from '../logger';
import { loadNative } from '../native';
import type { NativeBinding } from '../native';
import { killEvent, pressureEvent, reclaimEvent } from './events';
import type { GuardEvent, GuardKill, GuardKillEvent, NativeGuardRecord } from './events';
import { guardSettingsOf, sameSettings } from './options';
import type { GuardSettings, MemoryGuardOptions } from './options';
import { POLICY_WEIGHTS } from './policy';
import type { GuardPolicy } from './policy';
import { childCgroupFiles, planWatch } from './watch-plan';
import type { WatchPlan } from './watch-plan';

/** Where every action of the guard is published (besides the emitter's events). */
export const guardChannel = diagnosticsChannel.channel('procguard:guard');

interface GuardNative {
  guardStart(config: object, onRecords: () => void): { started?: boolean; locked?: boolean; psiTriggers?: number; psiErrno?: number; errno?: number };
  guardConfigure(config: object): void;
  guardStop(): void;
  guardWatchChild(child: object): number;
  guardForgetChild(id: number): void;
  guardDrain(afterSeq: number): { lost: number; records: NativeGuardRecord[] };
  guardSnapshot(): GuardSnapshot;
}

export interface GuardSnapshot {
  running: boolean;
  samples: number;
  intervalMs: number;
  psiTriggers: number;
  locked: boolean;
  startedMicros: number;
  nowMicros: number;
  cpuMicros?: number;
  tid?: number;
  children: { id: number; pid: number; weight: number; bytes: number }[];
  scopes: { usage: number; limit: number; high: number; eventsHigh: number }[];
}

interface WatchedChild {
  pid: number;
  policy: GuardPolicy;
  kill?: GuardKill;
}

function nativeGuard(): (NativeBinding & GuardNative) | null {
  return loadNative().binding as (NativeBinding & GuardNative) | null;
}

const LAST_ACTIONS = 10;

/**
 * The guard of this process: an EventEmitter of 'pressure', 'reclaim' and 'kill' events.
 * Holds nothing that keeps the process alive.
 */
export class MemoryGuard extends EventEmitter {
  readonly plan: WatchPlan;
  /** 'trigger' (a PSI trigger wakes the thread) or 'sampling', and why. */
  readonly psiMode: { mode: 'trigger' | 'sampling' | 'none'; reason: string };
  readonly locked: boolean;
  readonly lastActions: GuardEvent[] = [];
  private settings: GuardSettings;
  private lastSeq = 0;
  private stopped = false;
  private readonly children = new Map<number, WatchedChild>();

  /** @internal use guard(). */
  constructor(private readonly binding: NativeBinding & GuardNative, settings: GuardSettings) {
    super();
    this.settings = settings;
    this.plan = planWatch(settings);
    const started = binding.guardStart(
      {
        ...settings,
        scopes: this.plan.scopes.map(({ version, usage, limit, high, events, stat, reclaim, headroom, band }) => ({ version, usage, limit, high, events, stat, reclaim, headroom, band })),
        psi: this.plan.psi,
      },
      () => this.ingest(),
    );
    if (started.errno) throw codedError(Error, 'ERR_PROCGUARD_GUARD_UNAVAILABLE', `procguard: the guard's thread could not start (errno ${started.errno})`);
    this.locked = !!started.locked;
    const psi = this.plan.psi;
    if (!psi) this.psiMode = { mode: 'none', reason: 'no throttle band to watch (no memory.high below memory.max) and no $MEMORY_PRESSURE_WATCH' };
    else if ((started.psiTriggers ?? 0) > 0) this.psiMode = { mode: 'trigger', reason: `poll() for POLLPRI on ${psi.file} (${psi.triggers.join('; ')})` };
    else this.psiMode = { mode: 'sampling', reason: `the trigger could not be written to ${psi.file} (errno ${started.psiErrno ?? 'unknown'}): its total= counters are sampled instead` };
  }

  get dryRun(): boolean {
    return this.settings.dryRun;
  }

  get running(): boolean {
    return !this.stopped;
  }

  /** Applies new settings to the running thread (a later guard(options) call). */
  reconfigure(settings: GuardSettings): void {
    if (sameSettings(settings, this.settings)) return;
    this.settings = settings;
    this.binding.guardConfigure(settings);
  }

  /** Stops the guard of the process; guard() starts a new one. */
  stop(): void {
    if (this.stopped) return;
    this.ingest();
    this.stopped = true;
    this.binding.guardStop();
    this.children.clear();
    if (current === this) current = null;
  }

  /** What the native thread sees now. */
  snapshot(): GuardSnapshot {
    return this.binding.guardSnapshot();
  }

  /** @internal a child procguard started: watched until forget(). Returns its id, or 0. */
  watch(pid: number, policy: GuardPolicy, cgroup: Parameters<typeof childCgroupFiles>[0]): number {
    const request = this.watchRequest(policy, cgroup);
    if (!request) return 0;
    const id = this.binding.guardWatchChild({ __proto__: null, pid, ...request });
    if (id > 0) this.adopt(id, pid, policy);
    return id > 0 ? id : 0;
  }

  /** @internal what the native side registers a child with (weight, its cgroup's files); undefined once stopped. */
  watchRequest(policy: GuardPolicy, cgroup: Parameters<typeof childCgroupFiles>[0]): Record<string, unknown> | undefined {
    if (this.stopped) return undefined;
    return { __proto__: null, weight: POLICY_WEIGHTS[policy], ...childCgroupFiles(cgroup) };
  }

  /** @internal a child the native side registered as `id` (spawnSync's pump does it itself). */
  adopt(id: number, pid: number, policy: GuardPolicy): void {
    this.children.set(id, { pid, policy });
  }

  /** @internal the child exited: its verdict, if the guard killed it, and it is forgotten. */
  forget(id: number): GuardKill | null {
    if (!id) return null;
    this.ingest(); // a kill the thread recorded just before the exit comes first
    const child = this.children.get(id);
    this.children.delete(id);
    if (!this.stopped) this.binding.guardForgetChild(id);
    return child?.kill ?? null;
  }

  /** Reads what the thread did since last time and tells everyone. */
  private ingest(): void {
    if (this.stopped) return;
    const { lost, records } = this.binding.guardDrain(this.lastSeq);
    if (lost > 0) warning('PROCGUARD_GUARD_RECORDS_LOST', `the guard acted ${lost} times faster than they could be reported`);
    for (const record of records) {
      this.lastSeq = record.seq;
      this.dispatch(record);
    }
  }

  private dispatch(record: NativeGuardRecord): void {
    let event: GuardEvent;
    if (record.kind === 'kill') {
      const child = this.children.get(record.childId);
      const kill = killEvent(this.plan, record, child?.policy ?? null);
      if (child && !record.dryRun && record.trigger !== 'child cap') {
        child.kill = { cause: 'procguard-guard', trigger: record.trigger, signal: kill.signal, evidence: [...(child.kill?.evidence ?? []), ...kill.evidence.slice(child.kill ? 2 : 0)] };
      }
      event = kill;
      info(record.dryRun ? 'guard would kill a child (dry run)' : 'guard killed a child', { pid: kill.pid, signal: kill.signal, trigger: kill.trigger, condition: kill.condition });
    } else if (record.kind === 'reclaim') {
      event = reclaimEvent(this.plan, record);
      info(record.dryRun ? 'guard would reclaim page cache (dry run)' : 'guard reclaimed page cache', { cgroup: event.cgroup ?? `child ${event.pid}`, before: event.beforeBytes, after: event.afterBytes });
    } else {
      event = pressureEvent(this.plan, record);
      if (event.state !== 'end') info(event.state === 'no-victim' ? 'guard: memory pressure and no child it may kill' : 'guard: memory pressure', { trigger: event.trigger, condition: event.condition });
    }
    this.lastActions.push(event);
    if (this.lastActions.length > LAST_ACTIONS) this.lastActions.shift();
    if (guardChannel.hasSubscribers) guardChannel.publish(event);
    this.emit(event.type, event);
  }
}

let current: MemoryGuard | null = null;

/**
 * Starts the guard for the process (idempotent: later calls return the running guard, with
 * their options applied) and returns it. Linux with the native addon only.
 */
export function guard(options?: MemoryGuardOptions): MemoryGuard {
  const settings = guardSettingsOf(options);
  if (current) {
    if (options !== undefined) current.reconfigure(settings);
    return current;
  }
  const binding = nativeGuard();
  if (!binding || typeof binding.guardStart !== 'function') {
    throw codedError(Error, 'ERR_PROCGUARD_GUARD_UNAVAILABLE', `procguard: the guard needs Linux and the native addon: ${loadNative().error ?? 'not loaded'}`);
  }
  current = new MemoryGuard(binding, settings);
  const plan = current.plan;
  info('guard started', {
    watches: [...plan.scopes.map((s) => s.why), ...(plan.machine ? [plan.machine.why] : [])],
    psi: current.psiMode.mode,
    dryRun: settings.dryRun,
  });
  return current;
}

/** The running guard, or null. */
export function runningGuard(): MemoryGuard | null {
  return current;
}

/** The variable that turns the guard on for operators who cannot change the agent's code. */
export function guardVariableName(): string {
  return `${currentConfig().envPrefix}GUARD`;
}

let envChecked = false;

/** At first use: `CODER_PROC_GUARD` present (with the configured prefix) starts the guard. */
export function startGuardFromEnvOnce(): void {
  if (envChecked) return;
  envChecked = true;
  if (process.env[guardVariableName()] === undefined || current || process.platform !== 'linux') return;
  try {
    guard();
  } catch (err) {
    warning('PROCGUARD_GUARD_UNAVAILABLE', `${guardVariableName()} is set but the guard cannot start`, { reason: (err as Error).message });
  }
}

export type { GuardKillEvent };
