// A child's own cgroup: made before the spawn, joined by the child before exec (native/child.c),
// read when it exits, removed once empty. One directory per hierarchy: on a pure cgroup v2
// host that is one directory; on a hybrid host (memory controller on v1) the memory cap, pids
// and cpu live in the v1 hierarchies while PSI, cpu.stat and cgroup.kill come from the v2 tree.
//
// Never memory.high: with no swap a throttle band stalls everything in the cgroup instead of
// killing the runaway (../shared/reference/003). Cap and kill: memory.max, swap 0.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupLayout, forgetCgroupLayout, readCgroupWords } from './layout';
import type { CgroupLayout } from './layout';
import type { CgroupSpec } from './spec';
import { cgroupDelegation } from './delegation';
import type { Delegation } from './delegation';
import { currentConfig } from '../config';
import { info, warning } from '../logger';
import { loadNative } from '../native';
import { spawnedWith, takePrepared } from './prepared';

export class CgroupUnavailableError extends Error {
  code = 'ERR_PROCGUARD_CGROUP_UNAVAILABLE';
  constructor(readonly reasons: string[]) {
    super(`procguard: cannot create a cgroup for the child: ${reasons.join('; ')}`);
  }
}

type Controller = 'memory' | 'pids' | 'cpu' | 'io';

/** A controller's hierarchy on cgroup v1, where the io controller was called blkio. */
const V1_HIERARCHY: Record<Controller, string> = { memory: 'memory', pids: 'pids', cpu: 'cpu', io: 'blkio' };

/** Where options.cgroup.ioWeight went: the file and the value written, or why it could not be. */
export type IoWeightOutcome = { file: string; value: number } | { notApplied: string };

interface Placement {
  version: 1 | 2;
  dir: string;
}

const PREFIX = `procguard-${process.pid}-`;
let sequence = 0;
const live = new Set<ChildCgroup>();

function write(dir: string, file: string, value: string): void {
  fs.writeFileSync(path.join(dir, file), value);
}

function tryRmdir(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** tryRmdir on libuv's threadpool: for the sweeps of dead agents' cgroups, many at a time. */
function rmdirAsync(dir: string): Promise<boolean> {
  return new Promise((resolve) => fs.rmdir(dir, (err) => resolve(!err || err.code === 'ENOENT')));
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Several small files at once: one native call when the addon is loaded (a child's exit reads eight). */
function readTexts(files: string[]): (string | null)[] {
  return loadNative().binding?.readFiles(files) ?? files.map(readText);
}

/** Key/value lines ("oom_kill 1") of a cgroup file's text; {} when there is none. */
function parseFlatKeyed(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text?.split('\n') ?? []) {
    const [key, value] = line.split(' ');
    if (key && value !== undefined && /^\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}

/** Key/value lines ("oom_kill 1") of a cgroup file; {} when it cannot be read. */
export function readFlatKeyed(file: string): Record<string, number> {
  return parseFlatKeyed(readText(file));
}

/** The `total=` microseconds of the some/full lines of a PSI file's text. */
function parsePressureTotals(text: string | null): { some?: number; full?: number } {
  const out: { some?: number; full?: number } = {};
  for (const line of text?.split('\n') ?? []) {
    const match = /^(some|full) .*total=(\d+)/.exec(line);
    if (match) out[match[1] as 'some' | 'full'] = Number(match[2]);
  }
  return out;
}

function parseNumber(text: string | null): number | undefined {
  const trimmed = text?.trim();
  return trimmed !== undefined && /^\d+$/.test(trimmed) ? Number(trimmed) : undefined;
}

function readNumber(file: string): number | undefined {
  return parseNumber(readText(file));
}

/** The files usage() reads, by what each holds; which exist depends on where memory is. */
type CounterFile = 'peak' | 'events' | 'failcnt' | 'memswFailcnt' | 'oomControl' | 'memoryPressure' | 'cpuPressure' | 'ioPressure' | 'cpuStat';

/** The kernel's own counters for a child's cgroup, named as the kernel names them. */
export interface CgroupUsage {
  memory_peak_bytes?: number;
  memory_events_low?: number;
  memory_events_high?: number;
  memory_events_max?: number;
  memory_events_oom?: number;
  memory_events_oom_kill?: number;
  memory_events_oom_group_kill?: number;
  psi_memory_some?: number;
  psi_memory_full?: number;
  psi_cpu_some?: number;
  psi_cpu_full?: number;
  psi_io_some?: number;
  psi_io_full?: number;
  cpu_usage_usec?: number;
}

export class ChildCgroup {
  /** The v2 directory (PSI, cpu.stat, cgroup.kill, cgroup.freeze), when there is one. */
  readonly v2Dir?: string;
  /** Where the memory controller is, and the cap it was given. */
  readonly memory?: Placement;
  readonly dirs: string[];
  /** Set when the spec has an ioWeight: where it was written, or why not. */
  readonly ioWeight?: IoWeightOutcome;
  private removing = false;

  /** The files the child joins its cgroup by, one per directory (see joinFiles()). */
  private readonly joins: string[];

  constructor(readonly spec: CgroupSpec, placements: Partial<Record<Controller | 'base', Placement>>, ioWeight?: IoWeightOutcome) {
    this.ioWeight = ioWeight;
    this.v2Dir = placements.base?.dir;
    this.memory = placements.memory;
    const versions = new Map(Object.values(placements).map((p) => [p!.dir, p!.version]));
    this.dirs = [...versions.keys()];
    this.joins = this.dirs.map((dir) => path.join(dir, versions.get(dir) === 1 ? 'tasks' : 'cgroup.procs'));
    live.add(this);
  }

  /**
   * The files the child writes itself ("0") into before exec, one per directory: cgroup.procs on
   * v2 (when clone3 cannot place it there at birth), and on v1 `tasks`, which moves the child's
   * one thread without the global lock a cgroup.procs write takes (native/child.c, step 3).
   */
  joinFiles(): string[] {
    return this.joins;
  }

  /** The pids in the cgroup now (the v2 directory, else the memory one). */
  pids(): number[] {
    const dir = this.v2Dir ?? this.dirs[0];
    try {
      return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Where this cgroup's counters are (see usage()). */
  counterFiles(): Partial<Record<CounterFile, string>> {
    const files: Partial<Record<CounterFile, string>> = {};
    const memoryDir = this.memory?.dir;
    if (this.memory?.version === 2) {
      files.peak = path.join(memoryDir!, 'memory.peak');
      files.events = path.join(memoryDir!, 'memory.events');
    } else if (this.memory?.version === 1) {
      files.peak = path.join(memoryDir!, 'memory.max_usage_in_bytes');
      files.failcnt = path.join(memoryDir!, 'memory.failcnt');
      files.memswFailcnt = path.join(memoryDir!, 'memory.memsw.failcnt');
      files.oomControl = path.join(memoryDir!, 'memory.oom_control');
    }
    if (this.v2Dir) {
      files.memoryPressure = path.join(this.v2Dir, 'memory.pressure');
      files.cpuPressure = path.join(this.v2Dir, 'cpu.pressure');
      files.ioPressure = path.join(this.v2Dir, 'io.pressure');
      files.cpuStat = path.join(this.v2Dir, 'cpu.stat');
    }
    return files;
  }

  /** Counters since the cgroup was made, i.e. the child's own; fields the kernel cannot give are absent. */
  usage(): CgroupUsage {
    const files = this.counterFiles();
    const names = Object.keys(files) as CounterFile[];
    const texts = readTexts(names.map((name) => files[name]!));
    const text: Partial<Record<CounterFile, string | null>> = {};
    names.forEach((name, i) => (text[name] = texts[i]));

    const usage: CgroupUsage = {};
    usage.memory_peak_bytes = parseNumber(text.peak ?? null);
    if (this.memory?.version === 2) {
      const events = parseFlatKeyed(text.events ?? null);
      for (const key of ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill'] as const) {
        if (events[key] !== undefined) usage[`memory_events_${key}`] = events[key];
      }
    } else if (this.memory?.version === 1) {
      // v1 has no memory.events: failcnt counts hits of the limit (memsw's when swap is capped
      // too, as it is by default), oom_control counts kills.
      const failcnt = parseNumber(text.failcnt ?? null);
      const memswFailcnt = parseNumber(text.memswFailcnt ?? null);
      // Newer kernels (6.18 on the test host) count failcnt for memory only, never for memsw, which a cap
      // without swap hits first: both then stay 0 even for a cgroup killed at its cap. A 0 beside a
      // peak at the cap would say the cap was never hit: the kernel cannot give it, leave it out.
      const hits = Math.max(failcnt ?? 0, memswFailcnt ?? 0);
      const peakAtCap = this.spec.memoryMax !== undefined && (usage.memory_peak_bytes ?? 0) >= this.spec.memoryMax * 0.99;
      if (failcnt !== undefined && (hits > 0 || !peakAtCap)) usage.memory_events_max = hits;
      const oomControl = parseFlatKeyed(text.oomControl ?? null);
      if (oomControl.oom_kill !== undefined) usage.memory_events_oom_kill = oomControl.oom_kill;
    }
    if (this.v2Dir) {
      for (const [resource, name] of [['memory', 'memoryPressure'], ['cpu', 'cpuPressure'], ['io', 'ioPressure']] as const) {
        const totals = parsePressureTotals(text[name] ?? null);
        if (totals.some !== undefined) usage[`psi_${resource}_some`] = totals.some;
        if (totals.full !== undefined) usage[`psi_${resource}_full`] = totals.full;
      }
      const cpu = parseFlatKeyed(text.cpuStat ?? null);
      if (cpu.usage_usec !== undefined) usage.cpu_usage_usec = cpu.usage_usec;
    }
    for (const key of Object.keys(usage) as (keyof CgroupUsage)[]) if (usage[key] === undefined) delete usage[key];
    return usage;
  }

  /**
   * Ends every process in the cgroup: cgroup.kill for SIGKILL on v2; otherwise freeze, signal
   * every pid, thaw (frozen, no process can fork a new one or exit and have its pid reused).
   */
  killTree(signal: NodeJS.Signals | number = 'SIGKILL'): void {
    const number = typeof signal === 'number' ? signal : (require('node:os').constants.signals as Record<string, number>)[signal];
    if (this.v2Dir && number === 9 && fs.existsSync(path.join(this.v2Dir, 'cgroup.kill'))) {
      write(this.v2Dir, 'cgroup.kill', '1');
      return;
    }
    const thaw = this.freeze();
    try {
      for (const pid of this.pids()) {
        try {
          process.kill(pid, number);
        } catch {
          // exited meanwhile
        }
      }
    } finally {
      thaw();
    }
  }

  private freeze(): () => void {
    if (this.v2Dir && fs.existsSync(path.join(this.v2Dir, 'cgroup.freeze'))) {
      const dir = this.v2Dir;
      write(dir, 'cgroup.freeze', '1');
      return () => write(dir, 'cgroup.freeze', '0');
    }
    return () => {};
  }

  /**
   * Removes the directories once the cgroup is empty: in the event loop's next turn, after the
   * exit is delivered and while the agent's next child runs, or as soon as its last process is
   * gone (retries on unref'd timers). On the agent's thread, not the threadpool: an rmdir is tens
   * of microseconds, and handing it to another thread costs more in wake-ups on a small machine.
   */
  scheduleRemoval(delayMs = 0): void {
    if (this.removing) return;
    this.removing = true;
    const attempt = (delay: number): void => {
      if (this.removeNow()) return;
      const next = Math.min(Math.max(delay * 2, 10), 1000);
      setTimeout(() => attempt(next), next).unref();
    };
    if (delayMs > 0) setTimeout(() => attempt(delayMs), delayMs).unref();
    else setImmediate(() => attempt(0)); // ref'd: it runs in the loop's next turn whatever else is pending, then nothing remains
  }

  /** true when every directory is gone. */
  removeNow(): boolean {
    let all = true;
    for (const dir of this.dirs) all = tryRmdir(dir) && all;
    if (all) live.delete(this);
    return all;
  }
}

/** Set once the agent has moved itself into a leaf: its former cgroup is where children go. */
let leafParent: string | undefined;

/** The agent's former cgroup once it moved itself into a leaf (children go beside it there). */
export function agentLeafParent(): string | undefined {
  return leafParent;
}

/**
 * What every child's cgroup shares: where it goes (the delegation), what the v2 parent offers
 * and has enabled, what a v1 memory cgroup inherits from its parent, which optional kernel files
 * exist. Read at the first cgroup spawn, not at each: again only when the agent's cgroups or
 * configure({ cgroupParent }) changed, or a creation failed.
 */
interface Parents {
  layout: CgroupLayout;
  configured: string | undefined;
  leaf: string | undefined;
  delegation: Delegation;
  v2Offered: string[];
  /** The v2 parent's cgroup.subtree_control. */
  v2Enabled: Set<string>;
  /** memory.oom_control's oom_kill_disable and memory.swappiness of the v1 memory parent (a child starts with both). */
  v1MemoryParent?: { oomKillDisable: number | undefined; swappiness: number | undefined };
  /** Whether an optional file ('memory.swap.max', 'memory.memsw.limit_in_bytes') exists in a child of a hierarchy. */
  optionalFiles: Map<string, boolean>;
}

let parents: Parents | undefined;

function currentParents(): Parents {
  const layout = cgroupLayout();
  const configured = currentConfig().cgroupParent;
  if (parents && parents.layout === layout && parents.configured === configured && parents.leaf === leafParent) return parents;
  const delegation = cgroupDelegation(layout, leafParent);
  const v2Parent = delegation.parent;
  const memoryParent = layout.v1.get('memory')?.ownDir;
  parents = {
    layout,
    configured,
    leaf: leafParent,
    delegation,
    v2Offered: v2Parent ? readCgroupWords(path.join(v2Parent, 'cgroup.controllers')) : [],
    v2Enabled: new Set(v2Parent ? readCgroupWords(path.join(v2Parent, 'cgroup.subtree_control')) : []),
    v1MemoryParent: memoryParent
      ? { oomKillDisable: readFlatKeyed(path.join(memoryParent, 'memory.oom_control')).oom_kill_disable, swappiness: readNumber(path.join(memoryParent, 'memory.swappiness')) }
      : undefined,
    optionalFiles: new Map(),
  };
  return parents;
}

/** Whether `file` exists in the child cgroup `dir` (the same for every child of that hierarchy: asked once). */
function hasOptionalFile(dir: string, file: string): boolean {
  const key = `${path.dirname(dir)}\0${file}`;
  const known = parents?.optionalFiles.get(key);
  if (known !== undefined) return known;
  const exists = fs.existsSync(path.join(dir, file));
  parents?.optionalFiles.set(key, exists);
  return exists;
}

/**
 * Makes `controllers` available to the children of `parent` (cgroup.subtree_control). A v2
 * cgroup with processes cannot do that ("no internal processes"): when the parent is the
 * agent's own cgroup, the agent first moves itself into a leaf next to the children.
 */
function enableControllers(parent: string, controllers: Controller[], state: Parents): void {
  const missing = controllers.filter((c) => !state.v2Enabled.has(c));
  if (missing.length === 0) return;
  const request = missing.map((c) => `+${c}`).join(' ');
  try {
    write(parent, 'cgroup.subtree_control', request);
    for (const c of missing) state.v2Enabled.add(c);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || parent !== state.layout.v2?.ownDir) throw err;
  }
  const leaf = path.join(parent, `procguard-agent-${process.pid}`);
  fs.mkdirSync(leaf, { recursive: true });
  write(leaf, 'cgroup.procs', String(process.pid));
  leafParent = parent;
  forgetCgroupLayout();
  info('moved the agent into a leaf cgroup so that its children can have their own', { cgroup: leaf });
  write(parent, 'cgroup.subtree_control', request);
  for (const c of missing) state.v2Enabled.add(c);
}

function makeDir(parent: string, name: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir);
  return dir;
}

const nextName = () => `${PREFIX}${++sequence}`;

/** What makes two spawns' cgroups alike: every field of the spec. */
function kindOf(spec: CgroupSpec): string {
  return [spec.memoryMax, spec.memorySwapMax, spec.pidsMax, spec.cpuWeight, spec.ioWeight, spec.oomGroup, spec.required].join('/');
}

/**
 * The child's cgroup(s) with the spec applied: one made ahead during a burst (./prepared.ts), or
 * made now; throws CgroupUnavailableError saying why not.
 */
export function createChildCgroup(spec: CgroupSpec): ChildCgroup {
  sweepLeftoversIfDue();
  const kind = kindOf(spec);
  const parents = currentParents();
  const cgroup = takePrepared(kind, parents) ?? makeChildCgroup(spec, parents);
  spawnedWith(kind, () => {
    const parents = currentParents();
    return { cgroup: makeChildCgroup(spec, parents), parents };
  });
  return cgroup;
}

/** Makes the child's cgroup(s) now. */
function makeChildCgroup(spec: CgroupSpec, state: Parents): ChildCgroup {
  const layout = state.layout;
  const name = nextName();
  const reasons: string[] = [];
  const placements: Partial<Record<Controller | 'base', Placement>> = {};
  let ioWeight: IoWeightOutcome | undefined;
  const wanted: Controller[] = ['memory'];
  if (spec.pidsMax !== undefined) wanted.push('pids');
  if (spec.cpuWeight !== undefined) wanted.push('cpu');
  if (spec.ioWeight !== undefined) wanted.push('io');

  const created: string[] = [];
  const undo = () => created.reverse().forEach(tryRmdir);
  try {
    // Only where the engine that owns the tree lets the agent build (./delegation.ts).
    const delegation = state.delegation;
    const parent = delegation.parent;
    if (!delegation.available && layout.v2) reasons.push(`${delegation.reason}${delegation.fix ? `; fix: ${delegation.fix}` : ''}`);
    if (parent) {
      const onV2 = wanted.filter((c) => state.v2Offered.includes(c));
      try {
        enableControllers(parent, onV2, state);
        const dir = makeDir(parent, name);
        created.push(dir);
        placements.base = { version: 2, dir };
        for (const c of onV2) placements[c] = { version: 2, dir };
      } catch (err) {
        reasons.push(`cgroup v2 ${parent}: ${(err as Error).message}`);
      }
    }
    for (const c of wanted) {
      if (placements[c] || delegation.foreign) continue;
      const hierarchy = layout.v1.get(V1_HIERARCHY[c]);
      if (!hierarchy) continue;
      const existing = Object.values(placements).find((p) => p!.version === 1 && p!.dir.startsWith(`${hierarchy.mountPoint}/`));
      if (existing) {
        placements[c] = existing; // co-mounted controllers (cpu,cpuacct) share one directory
        continue;
      }
      try {
        const dir = makeDir(hierarchy.ownDir, name);
        created.push(dir);
        placements[c] = { version: 1, dir };
      } catch (err) {
        reasons.push(`cgroup v1 ${V1_HIERARCHY[c]} ${hierarchy.ownDir}: ${(err as Error).message}`);
      }
    }
    const missing = wanted.filter((c) => !placements[c]);
    // Memory without a cap and IO weight are extras: the child still gets its cgroup without them.
    const capNeeded = missing.filter((c) => c !== 'io' && (c !== 'memory' || spec.memoryMax !== undefined));
    if (!placements.base && !placements.memory) throw new CgroupUnavailableError(reasons.length ? reasons : ['no cgroup hierarchy is mounted']);
    if (capNeeded.length) throw new CgroupUnavailableError([...reasons, `no ${capNeeded.join(', ')} controller for the child`]);
    applyLimits(spec, placements, state);
    ioWeight = spec.ioWeight === undefined ? undefined : applyIoWeight(spec.ioWeight, placements.io);
  } catch (err) {
    undo();
    parents = undefined; // read everything again at the next spawn: something changed
    if (err instanceof CgroupUnavailableError) throw err;
    throw new CgroupUnavailableError([...reasons, (err as Error).message]);
  }
  return new ChildCgroup(spec, placements, ioWeight);
}

/**
 * The IO weight files, best first, with the range each takes: io.weight (v2, blk-iocost) and
 * blkio.weight (v1, CFQ before Linux 5.0) take the cgroup's weight; BFQ's own take 1..1000, with
 * the same default of 100. Which exist depends on the kernel and on the schedulers loaded.
 */
const IO_WEIGHT_FILES: Record<1 | 2, { file: string; max: number; min: number }[]> = {
  2: [{ file: 'io.weight', min: 1, max: 10000 }, { file: 'io.bfq.weight', min: 1, max: 1000 }],
  1: [{ file: 'blkio.weight', min: 10, max: 1000 }, { file: 'blkio.bfq.weight', min: 1, max: 1000 }],
};

/** Writes ioWeight where the io (blkio) controller offers a weight; otherwise one warning, and the cgroup stays. */
function applyIoWeight(weight: number, io: Placement | undefined): IoWeightOutcome {
  let notApplied: string;
  if (!io) {
    notApplied = 'no io (cgroup v2) or blkio (cgroup v1) controller is available for the child';
  } else {
    const choice = IO_WEIGHT_FILES[io.version].find(({ file }) => fs.existsSync(path.join(io.dir, file)));
    if (choice) {
      const value = Math.min(choice.max, Math.max(choice.min, weight));
      write(io.dir, choice.file, String(value));
      return { file: path.join(io.dir, choice.file), value };
    }
    notApplied = `the ${io.version === 2 ? 'io' : 'blkio'} controller offers no weight file ` +
      `(${IO_WEIGHT_FILES[io.version].map((f) => f.file).join(', ')}): the kernel has neither BFQ nor io.cost`;
  }
  warning('PROCGUARD_CGROUP_IO_WEIGHT_UNAVAILABLE', `cgroup ioWeight not applied: ${notApplied}`);
  return { notApplied };
}

// Each write is a syscall on the spawn's path: none that leaves the kernel's value as it is (a new
// cgroup starts at the defaults, and a v1 memory cgroup with its parent's swappiness and oom_kill_disable).
function applyLimits(spec: CgroupSpec, placements: Partial<Record<Controller | 'base', Placement>>, state: Parents): void {
  const memory = placements.memory;
  if (memory?.version === 2) {
    if (spec.memoryMax !== undefined) write(memory.dir, 'memory.max', String(spec.memoryMax));
    // The default is 'max'.
    if (spec.memorySwapMax !== Infinity && hasOptionalFile(memory.dir, 'memory.swap.max')) {
      write(memory.dir, 'memory.swap.max', String(spec.memorySwapMax));
    }
    if (spec.oomGroup) write(memory.dir, 'memory.oom.group', '1');
  } else if (memory?.version === 1) {
    if (spec.memoryMax !== undefined) {
      write(memory.dir, 'memory.limit_in_bytes', String(spec.memoryMax));
      // memsw is memory+swap, and may not be below memory.limit_in_bytes.
      if (spec.memorySwapMax !== Infinity && hasOptionalFile(memory.dir, 'memory.memsw.limit_in_bytes')) {
        write(memory.dir, 'memory.memsw.limit_in_bytes', String(spec.memoryMax + spec.memorySwapMax));
      }
    }
    const inherited = state.v1MemoryParent;
    if (spec.memorySwapMax === 0 && inherited?.swappiness !== 0) write(memory.dir, 'memory.swappiness', '0');
    // oom_kill_disable 0: kill, never pause the cgroup.
    if (inherited?.oomKillDisable !== 0) write(memory.dir, 'memory.oom_control', '0');
  }
  const pids = placements.pids;
  if (pids && spec.pidsMax !== undefined) write(pids.dir, 'pids.max', String(spec.pidsMax));
  const cpu = placements.cpu;
  if (cpu && spec.cpuWeight !== undefined) {
    if (cpu.version === 2) write(cpu.dir, 'cpu.weight', String(spec.cpuWeight));
    // v1 shares: 1024 is the default as 100 is for weight.
    else write(cpu.dir, 'cpu.shares', String(Math.max(2, Math.round((spec.cpuWeight * 1024) / 100))));
  }
}

const SWEEP_EVERY_MS = 60_000; // the slow timer, for agents that rarely or never make a cgroup
const SWEEP_AGAIN_AFTER_MS = 2_000; // at a cgroup spawn, when the last sweep is older than this
let sweepTimer: NodeJS.Timeout | undefined;
let lastSweep = 0;
let sweeping = false;
const leftoverWarned = new Set<string>();

/**
 * Cgroups left by agents that died (SIGKILLed while their children ran) are removed once they
 * are empty, whenever that happens: by a sweep soon after this agent's first spawn, then on a
 * slow unref'd timer, and at a cgroup spawn when the last sweep is a while ago. Async I/O, from
 * timers: never on a spawn's path, never keeping the agent alive.
 */
export function startLeftoverSweeps(): void {
  if (sweepTimer) return;
  sweepTimer = setInterval(sweepLeftoversIfDue, SWEEP_EVERY_MS);
  sweepTimer.unref();
  sweepLeftoversIfDue();
}

export function sweepLeftoversIfDue(): void {
  if (sweeping || Date.now() - lastSweep < SWEEP_AGAIN_AFTER_MS) return;
  sweeping = true;
  lastSweep = Date.now();
  setTimeout(() => {
    void sweepLeftovers().finally(() => {
      sweeping = false;
    });
  }, 0).unref();
}

/** The procguard-<pid>-<n> and procguard-agent-<pid> cgroups of dead agents under the parents procguard uses, removed when empty. */
export async function sweepLeftovers(): Promise<void> {
  let dirs: string[];
  try {
    const state = currentParents();
    dirs = [state.delegation.parent, ...Object.values(V1_HIERARCHY).map((c) => state.layout.v1.get(c)?.ownDir)].filter((d): d is string => !!d);
  } catch {
    return; // no cgroups here
  }
  for (const parent of new Set(dirs)) {
    let entries: string[];
    try {
      entries = await fs.promises.readdir(parent);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const match = /^procguard-(?:agent-)?(\d+)(?:-\d+)?$/.exec(entry);
      if (!match || Number(match[1]) === process.pid || processAlive(Number(match[1]))) continue;
      const dir = path.join(parent, entry);
      if (await rmdirAsync(dir)) continue;
      if (!leftoverWarned.has(dir)) {
        leftoverWarned.add(dir);
        info('a cgroup left by an agent that died still has processes; it is removed once they are gone', { cgroup: dir });
      }
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// When the agent exits, take down every empty cgroup it made; the ones still holding processes
// (children left running) are removed by the sweep of a later agent once they are empty.
process.on('exit', () => {
  for (const cgroup of live) cgroup.removeNow();
});

/**
 * killTree() for a child without its own cgroup: its descendants from /proc/<pid>/task/<tid>/children,
 * deepest first, then the child. Best effort: a process that forks while this runs can escape,
 * which is what a cgroup is for.
 */
export function killProcessTree(pid: number, signal: NodeJS.Signals | number): void {
  const order: number[] = [];
  const visit = (p: number) => {
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tasks) {
      let children: string[] = [];
      try {
        children = fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean);
      } catch {
        continue;
      }
      for (const child of children) visit(Number(child));
    }
    order.push(p);
  };
  visit(pid);
  for (const p of order) {
    try {
      process.kill(p, signal);
    } catch {
      // gone meanwhile
    }
  }
}
