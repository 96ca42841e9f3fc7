// What one spawn does about cgroups, for the async and the sync spawn alike: make the child's
// own cgroup (when asked), give the engine its cgroup.procs files, and at exit read the usage,
// give the OOM verdict, group-kill where the kernel cannot (v1) and remove the cgroup.
import { getSystemErrorName } from 'node:util';
import { warning } from '../logger';
import type { NativeExit, NativeSpawnResult } from '../native';
import { ChildCgroup, createChildCgroup, killProcessTree, startLeftoverSweeps } from './child-cgroup';
import type { CgroupUsage } from './child-cgroup';
import { oomBaseline, oomVerdict } from './oom-verdict';
import type { OomBaseline, OomKill } from './oom-verdict';
import { cgroupSpecOf } from './spec';
import type { CgroupSpec } from './spec';

/** Resource usage of one child: from waitid's rusage always, from its own cgroup when it had one. */
export interface ResourceUsage extends CgroupUsage {
  maxRssBytes: number;
  userCpuMicros: number;
  systemCpuMicros: number;
  wallMicros: number;
  minorPageFaults: number;
  majorPageFaults: number;
  voluntaryContextSwitches: number;
  involuntaryContextSwitches: number;
}

const warnedReasons = new Set<string>();

/**
 * Once per cause: an agent spawning all day outside a delegation hears it once, not per spawn.
 * The same cause names each child's own directory (procguard-<pid>-<n>): one key for all.
 */
function warnUnavailableOnce(reason: string): void {
  const cause = reason.replace(/procguard-(\d+)-\d+/g, 'procguard-$1-*');
  if (warnedReasons.has(cause)) return;
  warnedReasons.add(cause);
  warning('PROCGUARD_CGROUP_UNAVAILABLE', 'running the command without its own cgroup (cgroup.required is false)', { reason });
}

export class Containment {
  readonly spec?: CgroupSpec;
  /** null when there is none, or none any more (the kernel refused the child's join, required false). */
  cgroup: ChildCgroup | null = null;
  private readonly baseline: OomBaseline;

  /** Validates options.cgroup (throws as Node does for bad options) and makes the cgroup. */
  constructor(option: unknown, engineLoaded: boolean) {
    this.spec = cgroupSpecOf(option);
    this.baseline = oomBaseline();
    if (engineLoaded) startLeftoverSweeps();
    if (!this.spec || !engineLoaded) return;
    try {
      this.cgroup = createChildCgroup(this.spec);
    } catch (err) {
      if (this.spec.required) throw err;
      warnUnavailableOnce((err as Error).message);
    }
  }

  /**
   * Runs `launch` with the files the child joins its cgroup by. When the kernel refuses that join
   * (a threaded cgroupParent, no write access to the common ancestor) and cgroup.required is
   * false, the command runs without a cgroup, as where none can be made: `release` lets go of what
   * the refused launch handed back (its pipe ends), the cgroup goes, a warning says why, and
   * `launch` runs again. Under required (the default) the refusal is the spawn's error.
   */
  launch<T extends Pick<NativeSpawnResult, 'errno' | 'failedStep'>>(launch: (joinFiles: string[] | undefined) => T, release: (refused: T) => void): T {
    const outcome = launch(this.cgroup?.joinFiles());
    if (outcome.failedStep !== 'cgroup' || !this.cgroup || this.spec?.required !== false) return outcome;
    release(outcome);
    const dirs = this.cgroup.dirs.join(', ');
    this.cgroup.removeNow();
    this.cgroup = null;
    warnUnavailableOnce(`the kernel refused the child's join of ${dirs} (${getSystemErrorName(-outcome.errno)})`);
    return launch(undefined);
  }

  /** The child never ran: take the cgroup down now. */
  abandon(): void {
    this.cgroup?.removeNow();
  }

  /**
   * At the child's exit (before 'exit' is emitted): its usage and the OOM verdict. `sync`: a sync
   * function's child, whose caller may not let the event loop turn for a while (a loop of
   * execSync): its cgroup goes now rather than in the loop's next turn.
   */
  finish(pid: number, exit: Pick<NativeExit, 'rusage' | 'wallMicros' | 'signal'>, sync = false): { resourceUsage: ResourceUsage; oomKill: OomKill | null } {
    const cgroupUsage = this.cgroup?.usage();
    const resourceUsage: ResourceUsage = { ...exit.rusage, wallMicros: exit.wallMicros, ...cgroupUsage };
    const oomKill = oomVerdict(pid, exit.signal, this.baseline, cgroupUsage, this.spec?.memoryMax);
    if (this.cgroup) {
      // cgroup v1 has no memory.oom.group: after an OOM kill, the rest of the tree goes too.
      if (oomKill && this.spec?.oomGroup && this.cgroup.memory?.version === 1) this.cgroup.killTree('SIGKILL');
      if (!sync || !this.cgroup.removeNow()) this.cgroup.scheduleRemoval(sync ? 10 : 0);
    }
    return { resourceUsage, oomKill };
  }

  /** child.killTree(): the cgroup's way when there is one, else the /proc walk. */
  killTree(pid: number | undefined, signal: NodeJS.Signals | number = 'SIGKILL'): void {
    if (this.cgroup) this.cgroup.killTree(signal);
    else if (pid) killProcessTree(pid, signal);
  }
}
