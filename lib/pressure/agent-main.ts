// The agent: a long-running Node process that holds memory (touched) and spawns the balloon
// through the spawn module under test, then reports how the balloon ended. The module is
// required by name, as an application would: 'procguard' or 'node:child_process'. Optionally
// it first protects itself (procguard's protectSelf()) and runs a daemon that keeps that
// protection (oomScoreAdj: 'inherit'), as an agent with a service it depends on would.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import type { ProtectResult } from '../protect';
import type { Status } from '../types';
import { packageRoot } from '../package-root';
import { AgentConfig, AgentEvent, BalloonEvent, forEachLine, parseEventLine } from './protocol';

// By name, as an application requires it, but resolved from the package's root: this file sits
// under dist/cjs/, whose own package.json (the CommonJS marker) has no name to refer back to.
const requireByName = createRequire(path.join(packageRoot(), 'package.json'));

type Spawn = (command: string, args: string[], options: SpawnOptions & { oomScoreAdj?: number | 'inherit' }) => ChildProcess;

interface ProcguardSelfProtection {
  protectSelf(): ProtectResult;
  status(): Status;
}

/** Long enough to outlive any scenario, short enough to end on its own if it is ever left behind. */
const SLEEP_SECONDS = '300';

function report(event: AgentEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** /proc/<pid>/oom_score_adj; null when the process is gone. */
function readOomScoreAdj(pid: number | 'self'): number | null {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'));
  } catch {
    return null;
  }
}

/** Running: not exited, not a zombie waiting to be reaped. */
function running(child: ChildProcess): boolean {
  if (child.exitCode !== null || child.signalCode !== null) return false;
  try {
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Memory the agent keeps for its whole life, every page written so it counts as resident. */
function holdMemory(bytes: number): Buffer[] {
  const chunkBytes = 16 * 2 ** 20;
  const chunks: Buffer[] = [];
  for (let held = 0; held < bytes; held += chunkBytes) chunks.push(Buffer.allocUnsafeSlow(Math.min(chunkBytes, bytes - held)).fill(0x5a));
  return chunks;
}

/** What an agent does first thing at startup: lower its own score, and report what is in effect. */
function protectAgent(): void {
  const procguard = requireByName('procguard') as ProcguardSelfProtection;
  const result = procguard.protectSelf();
  report({
    event: 'agent-protected',
    applied: result.applied,
    previous: result.previous,
    oomScoreAdj: result.oomScoreAdj,
    error: result.error?.message ?? null,
    statusOomScoreAdj: procguard.status().agent.oomScoreAdj,
    procOomScoreAdj: readOomScoreAdj('self')!,
  });
}

/** A running `sleep`, once it has been exec'd (its priorities are applied by then). */
function startSleep(spawn: Spawn, options: { oomScoreAdj?: 'inherit' }): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('sleep', [SLEEP_SECONDS], { ...options, stdio: 'ignore' });
    child.once('spawn', () => resolve(child));
    child.once('error', reject);
  });
}

/** A child spawned with the defaults: its score, read from outside while it runs; then it goes. */
async function checkDefaultChild(spawn: Spawn): Promise<void> {
  const child = await startSleep(spawn, {});
  const oomScoreAdj = readOomScoreAdj(child.pid!)!;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  report({ event: 'default-child-checked', pid: child.pid!, oomScoreAdj });
}

async function startDaemon(spawn: Spawn): Promise<ChildProcess> {
  const daemon = await startSleep(spawn, { oomScoreAdj: 'inherit' });
  report({ event: 'daemon-started', pid: daemon.pid!, oomScoreAdj: readOomScoreAdj(daemon.pid!)! });
  return daemon;
}

async function main(): Promise<void> {
  process.title = 'pg-agent';
  const config = JSON.parse(process.argv[2] ?? '{}') as AgentConfig;
  if (config.protectSelf) protectAgent();
  const held = holdMemory(config.holdBytes);
  report({
    event: 'agent-ready',
    pid: process.pid,
    oomScoreAdj: Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8')),
    nice: os.getPriority(),
    heldBytes: held.reduce((sum, chunk) => sum + chunk.length, 0),
  });

  const { spawn } = requireByName(config.spawnModule) as { spawn: Spawn };
  if (config.protectSelf) await checkDefaultChild(spawn);
  const daemon = config.daemon ? await startDaemon(spawn) : null;
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [config.balloonScript, JSON.stringify(config.balloon)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let peakBytes = 0;
  let lastEvent: string | null = null;
  forEachLine(child.stdout!, (line) => {
    const event = parseEventLine<BalloonEvent>(line);
    if (!event) return;
    lastEvent = event.event;
    if (event.event === 'balloon-started') report({ event: 'child-started', pid: event.pid, oomScoreAdj: event.oomScoreAdj, nice: event.nice });
    if (event.event === 'balloon-grew') peakBytes = event.bytes;
  });
  child.on('error', (err) => {
    report({ event: 'agent-error', message: err.message });
    process.exit(2);
  });
  child.on('exit', (code, signal) => {
    // Wait for the last balloon lines ('close') only briefly: a killed balloon may leave a grandchild holding the pipe.
    const finish = (): void => {
      if (daemon) {
        report({ event: 'daemon-checked', pid: daemon.pid!, alive: running(daemon), oomScoreAdj: readOomScoreAdj(daemon.pid!) });
        daemon.kill('SIGKILL'); // the experiment is over; it is ours to end
      }
      report({
        event: 'child-exit',
        pid: child.pid!,
        code,
        signal,
        balloonPeakBytes: peakBytes,
        balloonLastEvent: lastEvent,
        msSinceSpawn: Date.now() - spawnedAt,
      });
      // The agent lives on after its child: it exits on its own, holding its memory to the end.
      void held.length;
      process.exit(0);
    };
    if (child.stdout!.readableEnded) finish();
    else {
      const timer = setTimeout(finish, 500);
      child.stdout!.once('end', () => {
        clearTimeout(timer);
        finish();
      });
    }
  });
}

main().catch((err: Error) => {
  report({ event: 'agent-error', message: err.message });
  process.exit(2);
});
