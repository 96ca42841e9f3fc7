// One run of the memory scenario: an agent holding memory spawns a balloon through the spawn
// module under test, inside a memory cgroup (or, in the pressure VM only, with no limit at all),
// and the kernel OOM-kills someone. Reports who died, as the harness and the agent saw it, and
// as the kernel counted and logged it. Shared by the pressure tests and `procguard demo`.
import { spawn as nodeSpawn } from 'node:child_process';
import * as fs from 'node:fs';
import { insidePressureVm } from './confinement';
import { kernelLogCursor, KernelOomKill, readOomKillsSince } from '../kernel-log';
import { launchInCgroup } from './launcher';
import { createMemoryCgroup, MemoryCgroup } from './memory-cgroup';
import { pressureScript } from './scripts';
import { AgentConfig, AgentEvent, forEachLine, parseEventLine, SpawnModuleName } from './protocol';

export const MB = 2 ** 20;

export interface MemoryScenarioOptions {
  spawnModule: SpawnModuleName;
  /** Limit of the cgroup the agent runs in; null: no cgroup, a machine-wide OOM (refused outside the pressure VM). */
  cgroupLimitBytes: number | null;
  /** Memory the agent holds, touched: more than the balloon reaches before the limit, so it is the bigger process. */
  agentHoldBytes: number;
  /** The agent calls protectSelf() (oom_score_adj -1000) first thing, and checks a default child's score after it. procguard only. */
  protectAgent?: boolean;
  /** The agent also runs a daemon (`sleep`) spawned with oomScoreAdj: 'inherit', and reports whether it outlived the OOM. */
  daemon?: boolean;
  balloonStepBytes?: number;
  balloonStepIntervalMs?: number;
  balloonMaxBytes?: number;
  timeoutMs?: number;
}

export type Victim = 'agent' | 'child' | 'none';

export interface MemoryScenarioOutcome {
  spawnModule: SpawnModuleName;
  cgroup: { version: 1 | 2; dir: string; limitBytes: number } | null;
  /** Whom the kernel killed: the agent (its exit signal is SIGKILL), else the child (the agent saw it die of SIGKILL). */
  victim: Victim;
  agent: {
    pid: number | null;
    oomScoreAdj: number | null;
    nice: number | null;
    heldBytes: number | null;
    exitCode: number | null;
    signal: NodeJS.Signals | null;
    /** The agent lived to print the child's exit. */
    reportedChildExit: boolean;
    /** What protectSelf() did, as the agent saw it; null when the scenario did not protect the agent (or it died first). */
    protection: (Omit<Extract<AgentEvent, { event: 'agent-protected' }>, 'event'> & {
      /** A `sleep` spawned with the defaults afterwards: its /proc/<pid>/oom_score_adj while it ran. */
      defaultChild: { pid: number; oomScoreAdj: number } | null;
    }) | null;
    errors: string[];
    stderrTail: string;
  };
  child: {
    pid: number;
    oomScoreAdj: number;
    nice: number;
    /** null when the agent died before it could see the child end. */
    exit: { code: number | null; signal: string | null; lastEvent: string | null } | null;
    peakBytes: number | null;
  } | null;
  /** The daemon spawned with oomScoreAdj: 'inherit'; null when the scenario had none (or it never started). */
  daemon: {
    pid: number;
    /** Read from /proc/<pid>/oom_score_adj once it ran. */
    oomScoreAdj: number;
    /** Still running when the balloon had ended; null when the agent died before it could look. */
    aliveAfterChildExit: boolean | null;
  } | null;
  /** The cgroup's oom_kill counter before and after; null without a cgroup or when the kernel lacks it. */
  oomKillCount: { before: number; after: number } | null;
  /** The kernel's "Killed process" lines for this run's processes (agent, child, daemon), in order; null when /dev/kmsg cannot be read. */
  kernelKills: KernelOomKill[] | null;
  timings: {
    /** From start until the agent held its memory. */
    agentReadyMs: number | null;
    /** From the agent being ready (the balloon starting) until the kill was seen. */
    untilKillMs: number | null;
    totalMs: number;
  };
  timedOut: boolean;
}

const defaults = { balloonStepBytes: 8 * MB, balloonStepIntervalMs: 10, balloonMaxBytes: 2048 * MB, timeoutMs: 120_000 };

function agentEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CODER_PROC_') && key !== 'NODE_OPTIONS') env[key] = value;
  }
  env.CODER_PROC_PRIO_MGMT = '1'; // the agent's users turn priority management on; node:child_process ignores it
  return env;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Running (a zombie has already let go of its memory; its reaper is not ours). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function commOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Kills by pid what this run started and left behind: the cgroup's members, or the orphaned balloon and daemon. */
async function reapLeftovers(cgroup: MemoryCgroup | null, balloonPid: number | null, daemonPid: number | null): Promise<void> {
  const deadline = Date.now() + 5000; // an orphaned balloon notices and exits within a step
  if (cgroup) {
    while (cgroup.readPids().length && Date.now() < deadline) await sleep(50);
    for (const pid of cgroup.readPids()) killQuietly(pid); // only our launcher joined it: all ours
    await cgroup.remove();
  } else if (balloonPid !== null) {
    while (alive(balloonPid) && Date.now() < deadline) await sleep(50);
    if (commOf(balloonPid) === 'pg-balloon') killQuietly(balloonPid);
  }
  // The daemon outlives a killed agent (it is a `sleep`): the pid is still ours while it has that name.
  if (!cgroup && daemonPid !== null && alive(daemonPid) && commOf(daemonPid) === 'sleep') killQuietly(daemonPid);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export async function runMemoryScenario(options: MemoryScenarioOptions): Promise<MemoryScenarioOutcome> {
  const settings = { ...defaults, ...options };
  if (settings.cgroupLimitBytes === null && !insidePressureVm()) {
    throw new Error('a memory scenario without a cgroup limit would OOM the whole machine: it only runs inside the pressure-test VM');
  }
  if (settings.protectAgent && settings.spawnModule !== 'procguard') throw new Error('protectAgent calls procguard\'s protectSelf(): it needs spawnModule procguard');
  const agentConfig: AgentConfig = {
    spawnModule: settings.spawnModule,
    holdBytes: settings.agentHoldBytes,
    balloonScript: pressureScript('balloon-main'),
    balloon: { stepBytes: settings.balloonStepBytes, stepIntervalMs: settings.balloonStepIntervalMs, maxBytes: settings.balloonMaxBytes },
    protectSelf: Boolean(settings.protectAgent),
    daemon: Boolean(settings.daemon),
  };
  const agentScript = pressureScript('agent-main');
  const cgroup = settings.cgroupLimitBytes === null ? null : createMemoryCgroup({ limitBytes: settings.cgroupLimitBytes });
  try {
    const oomKillsBefore = cgroup?.readOomKillCount() ?? null;
    const logCursor = kernelLogCursor();
    const started = Date.now();
    const launch = launchInCgroup(cgroup?.procsFile ?? null, [process.execPath, agentScript, JSON.stringify(agentConfig)]);
    const agentProcess = nodeSpawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'pipe'], env: agentEnvironment() });

    const events: AgentEvent[] = [];
    let readyAt: number | null = null;
    let childExitAt: number | null = null;
    forEachLine(agentProcess.stdout!, (line) => {
      const event = parseEventLine<AgentEvent>(line);
      if (!event) return;
      events.push(event);
      if (event.event === 'agent-ready') readyAt = Date.now();
      if (event.event === 'child-exit') childExitAt = Date.now();
    });
    let stderr = '';
    agentProcess.stderr!.setEncoding('utf8');
    agentProcess.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });

    let timedOut = false;
    let exitedAt = 0;
    agentProcess.on('exit', () => {
      exitedAt = Date.now(); // the moment of death; 'close' may come later, when the orphaned child lets go of stderr
    });
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        if (agentProcess.pid) killQuietly(agentProcess.pid);
      }, settings.timeoutMs);
      agentProcess.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // 'close': the exit status and all of stdout.
      agentProcess.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });

    const ready = events.find((e): e is Extract<AgentEvent, { event: 'agent-ready' }> => e.event === 'agent-ready');
    const childStarted = events.find((e): e is Extract<AgentEvent, { event: 'child-started' }> => e.event === 'child-started');
    const childExit = events.find((e): e is Extract<AgentEvent, { event: 'child-exit' }> => e.event === 'child-exit');
    const protection = events.find((e): e is Extract<AgentEvent, { event: 'agent-protected' }> => e.event === 'agent-protected');
    const defaultChild = events.find((e): e is Extract<AgentEvent, { event: 'default-child-checked' }> => e.event === 'default-child-checked');
    const daemonStarted = events.find((e): e is Extract<AgentEvent, { event: 'daemon-started' }> => e.event === 'daemon-started');
    const daemonChecked = events.find((e): e is Extract<AgentEvent, { event: 'daemon-checked' }> => e.event === 'daemon-checked');
    const oomKillsAfter = cgroup?.readOomKillCount() ?? null;
    await reapLeftovers(cgroup, childStarted?.pid ?? null, daemonStarted?.pid ?? null);

    const agentPid = ready?.pid ?? agentProcess.pid ?? null;
    const runPids = [agentPid, childStarted?.pid, daemonStarted?.pid, defaultChild?.pid].filter((pid): pid is number => typeof pid === 'number');
    const agentKilled = exit.signal === 'SIGKILL' && !timedOut;
    const victim: Victim = agentKilled ? 'agent' : childExit?.signal === 'SIGKILL' ? 'child' : 'none';
    const killSeenAt = victim === 'agent' ? exitedAt : victim === 'child' ? childExitAt : null;
    return {
      spawnModule: settings.spawnModule,
      cgroup: cgroup && { version: cgroup.version, dir: cgroup.dir, limitBytes: cgroup.limitBytes },
      victim,
      agent: {
        pid: agentPid,
        oomScoreAdj: ready?.oomScoreAdj ?? null,
        nice: ready?.nice ?? null,
        heldBytes: ready?.heldBytes ?? null,
        exitCode: exit.code,
        signal: exit.signal,
        reportedChildExit: Boolean(childExit),
        protection: protection
          ? {
              applied: protection.applied,
              previous: protection.previous,
              oomScoreAdj: protection.oomScoreAdj,
              error: protection.error,
              statusOomScoreAdj: protection.statusOomScoreAdj,
              procOomScoreAdj: protection.procOomScoreAdj,
              defaultChild: defaultChild ? { pid: defaultChild.pid, oomScoreAdj: defaultChild.oomScoreAdj } : null,
            }
          : null,
        errors: events.flatMap((e) => (e.event === 'agent-error' ? [e.message] : [])),
        stderrTail: stderr,
      },
      child: childStarted
        ? {
            pid: childStarted.pid,
            oomScoreAdj: childStarted.oomScoreAdj,
            nice: childStarted.nice,
            exit: childExit ? { code: childExit.code, signal: childExit.signal, lastEvent: childExit.balloonLastEvent } : null,
            peakBytes: childExit?.balloonPeakBytes ?? null,
          }
        : null,
      daemon: daemonStarted
        ? { pid: daemonStarted.pid, oomScoreAdj: daemonStarted.oomScoreAdj, aliveAfterChildExit: daemonChecked ? daemonChecked.alive : null }
        : null,
      oomKillCount: oomKillsBefore !== null && oomKillsAfter !== null ? { before: oomKillsBefore, after: oomKillsAfter } : null,
      // Other processes on a shared machine may be OOM-killed meanwhile: keep this run's.
      kernelKills: readOomKillsSince(logCursor)?.filter((kill) => runPids.includes(kill.pid)) ?? null,
      timings: {
        agentReadyMs: readyAt === null ? null : readyAt - started,
        untilKillMs: readyAt !== null && killSeenAt !== null ? killSeenAt - readyAt : null,
        totalMs: exitedAt - started,
      },
      timedOut,
    };
  } finally {
    // Unwinding after an error: what we started goes, then the cgroup.
    if (cgroup && fs.existsSync(cgroup.dir)) {
      for (const pid of cgroup.readPids()) killQuietly(pid);
      await cgroup.remove().catch(() => undefined);
    }
  }
}
