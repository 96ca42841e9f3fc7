// The balloon: a program that allocates and touches memory in steps until the kernel kills it
// (or its parent dies, or it reaches its cap). It refuses to start outside a memory cgroup with
// a limit or the pressure-test VM.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { checkMemoryConfinement } from './confinement';
import { BalloonConfig, BalloonEvent } from './protocol';

function report(event: BalloonEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function main(): void {
  process.title = 'pg-balloon'; // the name the kernel prints in "Killed process <pid> (<comm>)"
  const config = JSON.parse(process.argv[2] ?? '{}') as BalloonConfig;
  // The agent gone means its stdout pipe is too: stop quietly.
  process.stdout.on('error', () => process.exit(0));

  const confinement = checkMemoryConfinement();
  if (!confinement.confined) {
    report({ event: 'balloon-refused', reason: confinement.reason });
    process.exit(3);
  }
  report({
    event: 'balloon-started',
    pid: process.pid,
    oomScoreAdj: Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8')),
    nice: os.getPriority(),
    confinedBy: confinement.by,
  });

  const parent = process.ppid;
  const held: Buffer[] = [];
  let bytes = 0;
  const grow = (): void => {
    // Reparented: the agent died, the experiment is over.
    if (process.ppid !== parent) {
      report({ event: 'balloon-orphaned', bytes });
      process.exit(0);
    }
    if (bytes >= config.maxBytes) {
      report({ event: 'balloon-capped', bytes });
      process.exit(4);
    }
    const step = Buffer.allocUnsafeSlow(Math.min(config.stepBytes, config.maxBytes - bytes));
    step.fill(0xa5); // touched, so the pages are really resident
    held.push(step);
    bytes += step.length;
    report({ event: 'balloon-grew', bytes });
    setTimeout(grow, config.stepIntervalMs);
  };
  grow();
}

main();
