// Nothing is retained per spawn: every ChildProcess procguard returns can be garbage-collected once
// it has closed, as Node's can (FinalizationRegistry, --expose-gc, in a node process of its own).
import { describe, it, expect } from 'vitest';
import { lastJson, runNode } from './helpers/run-node';

const COUNTS = { spawn: 300, spawnFailing: 100, exec: 100, execFile: 100, fork: 10 };

// Starts each kind of child COUNTS times, awaits 'close' (or the error of a command that cannot
// start), then collects garbage until the registry has heard of every child or it stops changing.
const script = `
const cp = require(process.argv[1]);
const counts = ${JSON.stringify(COUNTS)};
const collected = {};
const registry = new FinalizationRegistry((kind) => collected[kind]++);
const starts = {
  spawn: () => cp.spawn('/bin/true'),
  spawnFailing: () => cp.spawn('/nonexistent/command'),
  exec: () => cp.exec('exit 0'),
  execFile: () => cp.execFile('/bin/echo', ['x']),
  fork: () => cp.fork('unused', [], { execArgv: ['-e', '0'], stdio: 'ignore' }), // node -e 0 <module>: exits at once
};
function closed(child) {
  return new Promise((resolve) => { child.on('error', () => {}); child.on('close', resolve); });
}
async function startAll(kind) {
  // In a function of its own, so that no local of the caller keeps the last child.
  for (let i = 0; i < counts[kind]; i++) {
    const child = starts[kind]();
    registry.register(child, kind);
    await closed(child);
  }
}
(async () => {
  const heapBefore = process.memoryUsage().heapUsed;
  for (const kind of Object.keys(counts)) { collected[kind] = 0; await startAll(kind); }
  let previous = -1;
  for (let round = 0; round < 50; round++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const sum = Object.values(collected).reduce((a, b) => a + b, 0);
    if (sum === previous && round > 5) break;
    previous = sum;
  }
  console.log(JSON.stringify({ collected, heapGrowth: process.memoryUsage().heapUsed - heapBefore }));
})();
`;

describe('every child is collectable after close', () => {
  it.each(['node:child_process', 'procguard'])('with %s: spawn, a failed spawn, exec, execFile and fork', (module) => {
    const run = runNode(script, { nodeArgs: ['--expose-gc'], args: [module], timeoutMs: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const { collected } = lastJson<{ collected: Record<string, number> }>(run);
    expect(collected).toEqual(COUNTS);
  });
});
