// The package loads both ways, from plain node (not through vitest), and from a worker thread.
import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { FIXTURES, runAgent, oneSleeper, onlyChild } from './helpers/agent';

const API = ['childDefaults', 'configure', 'exec', 'execFile', 'spawn', 'status'];

function runFixture(file: string): { names: string[]; types: Record<string, string>; exitCode: number; sameAsRequire?: Record<string, boolean>; defaultIsModule?: boolean } {
  const out = execFileSync(process.execPath, [path.join(FIXTURES, file)], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('module formats', () => {
  it('exposes spawn, exec, execFile, childDefaults, configure and status as functions to require()', () => {
    const cjs = runFixture('exports.cjs');
    for (const name of API) expect(cjs.types[name], name).toBe('function');
    expect(cjs.exitCode).toBe(5);
  });

  it('exposes the same names to import, and they are the very functions require() gives', () => {
    const cjs = runFixture('exports.cjs');
    const esm = runFixture('exports.mjs');
    for (const name of API) expect(esm.types[name], name).toBe('function');
    expect(esm.names).toEqual(cjs.names.filter((n) => n !== '__esModule'));
    expect(esm.exitCode).toBe(5);
    // one module instance: configure() through import affects a library that require()s procguard
    expect(Object.values(esm.sameAsRequire!).every(Boolean), JSON.stringify(esm.sameAsRequire)).toBe(true);
  });
});

describe('worker threads', () => {
  it('spawns from a worker thread, and its child gets the priority', async () => {
    const run = await runAgent({ ...oneSleeper(), worker: true }, { oomScoreAdj: 0, nice: 0, env: { CODER_PROC_PRIO_MGMT: '1' } });
    expect(run.result.self.inWorker).toBe(true);
    const child = onlyChild(run);
    expect(child.proc).toMatchObject({ oomScoreAdj: 998, nice: 5 });
    expect(child.events).toEqual(['spawn', 'exit', 'close']);
  });

  it('spawns from the main thread and a worker in the same agent', async () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const { spawn } = require('procguard');
      const run = (tag) => new Promise((resolve) => spawn('sh', ['-c', 'echo ' + tag]).stdout.on('data', (d) => resolve(String(d).trim())));
      const w = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        const { spawn } = require('procguard');
        spawn('sh', ['-c', 'echo worker']).stdout.on('data', (d) => parentPort.postMessage(String(d).trim()));
      \`, { eval: true });
      const exited = new Promise((r) => w.once('exit', r));
      Promise.all([run('main'), new Promise((r) => w.once('message', r)), exited]).then(([a, b, code]) => console.log(JSON.stringify([a, b, code])));
    `;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: path.resolve(FIXTURES, '..', '..'), encoding: 'utf8', timeout: 20000 });
    // the worker ends by itself (exit code 0) once its child closed
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual(['main', 'worker', 0]);
  });

  it.each([
    ['while its child runs', 'running'],
    ['as its child exits', 'exiting'],
  ])('survives terminate() of workers that spawned, %s (20 rounds)', (_name, mode) => {
    const result = spawnSync(process.execPath, [path.join(FIXTURES, 'worker-terminate.cjs'), mode, '20'], { encoding: 'utf8', timeout: 60000 });
    // whatever happened, leave no `sleep 30` behind
    for (const m of result.stdout.matchAll(/^pid (\d+)$/gm)) {
      try {
        process.kill(Number(m[1]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const said = `status ${result.status} signal ${result.signal}\nstderr: ${result.stderr}`;
    expect(result.signal, said).toBeNull();
    expect(result.status, said).toBe(0);
    expect(result.stdout).toContain('survived 20');
  });
});
