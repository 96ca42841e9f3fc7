// How exits are seen: a pidfd on the event loop (Linux >= 5.3), and the fallback for older
// kernels (libuv's SIGCHLD watcher, then waitid on each of procguard's own pids), forced here
// through the addon's switch so that both paths run on this kernel.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';

function runAgent(code: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', code], { cwd: process.cwd(), encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const scenario = (disablePidfd: boolean, exitThread = false) => `
  const pg = require('procguard');
  const { loadNative } = require(require('path').join(process.cwd(), 'dist/cjs/native.js'));
  loadNative().binding.setPidfdDisabled(${disablePidfd});
  if (${exitThread}) { const failure = loadNative().binding.startExitThread(); if (failure) throw new Error(failure); }
  const nodeChild = require('child_process').spawn('sleep', ['0.2']); // node's own child: must stay node's to reap
  let nodeExit = null; nodeChild.on('exit', (code) => { nodeExit = code; });
  const results = { exits: 0, codes: new Set(), killed: null, status: pg.status().pidfd };
  const N = 100;
  for (let i = 0; i < N; i++) pg.spawn('sh', ['-c', 'exit ' + (i % 7)]).on('exit', (code) => { results.exits++; results.codes.add(code); });
  const sleeper = pg.spawn('sleep', ['30']);
  sleeper.on('spawn', () => sleeper.kill('SIGTERM'));
  sleeper.on('exit', (code, signal) => { results.killed = signal; });
  setTimeout(() => {
    const zombies = require('child_process').execSync('ps -o stat= --ppid ' + process.pid).toString().split('\\n').filter((s) => s.startsWith('Z')).length;
    console.log(JSON.stringify({ exits: results.exits, codes: [...results.codes].sort(), killed: results.killed, nodeExit, zombies, pidfd: results.status }));
  }, 1500);
`;

describe('exit watching', () => {
  it('sees every exit through pidfds, reaps exactly its own children, and kills through the pidfd', () => {
    const r = runAgent(scenario(false));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ exits: 100, codes: [0, 1, 2, 3, 4, 5, 6], killed: 'SIGTERM', nodeExit: 0, zombies: 0, pidfd: true });
  });

  it('without pidfds (kernels before 5.3), sees every exit through SIGCHLD and still reaps exactly its own children', () => {
    const r = runAgent(scenario(true));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ exits: 100, codes: [0, 1, 2, 3, 4, 5, 6], killed: 'SIGTERM', nodeExit: 0, zombies: 0, pidfd: false });
  });

  // The watcher of Bun and Deno (native/exit_thread.cc), run here under Node's own ChildProcess.
  it('through the exit thread (pidfds in epoll, no libuv), sees every exit and reaps exactly its own children', () => {
    const r = runAgent(scenario(false, true));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ exits: 100, codes: [0, 1, 2, 3, 4, 5, 6], killed: 'SIGTERM', nodeExit: 0, zombies: 0, pidfd: true });
  });

  it('through the exit thread without pidfds (waitid WNOWAIT every 50 ms), sees every exit and reaps exactly its own children', () => {
    const r = runAgent(scenario(true, true));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ exits: 100, codes: [0, 1, 2, 3, 4, 5, 6], killed: 'SIGTERM', nodeExit: 0, zombies: 0, pidfd: false });
  });
});
