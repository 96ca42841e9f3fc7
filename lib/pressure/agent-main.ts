// The agent: a long-running Node process that holds memory (touched) and spawns the balloon
// through the spawn module under test, then reports how the balloon ended. The module is
// required by name, as an application would: 'procguard' or 'node:child_process'.
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { AgentConfig, AgentEvent, BalloonEvent, forEachLine, parseEventLine } from './protocol';

type Spawn = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

function report(event: AgentEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** Memory the agent keeps for its whole life, every page written so it counts as resident. */
function holdMemory(bytes: number): Buffer[] {
  const chunkBytes = 16 * 2 ** 20;
  const chunks: Buffer[] = [];
  for (let held = 0; held < bytes; held += chunkBytes) chunks.push(Buffer.allocUnsafeSlow(Math.min(chunkBytes, bytes - held)).fill(0x5a));
  return chunks;
}

function main(): void {
  process.title = 'pg-agent';
  const config = JSON.parse(process.argv[2] ?? '{}') as AgentConfig;
  const held = holdMemory(config.holdBytes);
  report({
    event: 'agent-ready',
    pid: process.pid,
    oomScoreAdj: Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8')),
    nice: os.getPriority(),
    heldBytes: held.reduce((sum, chunk) => sum + chunk.length, 0),
  });

  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { spawn } = require(config.spawnModule) as { spawn: Spawn };
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

main();
