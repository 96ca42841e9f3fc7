// Prototype pollution elsewhere in the agent must never reach a child: every option read by
// procguard (and every object it hands to Node's ChildProcess#spawn or to its engine) is read
// as own properties only, as Node reads its own. Each function runs in a process of its own
// (test/fixtures/pollution.cjs) with each option in turn set on Object.prototype; what the
// child reports must be what it reports without the pollution, and the same value given as
// an own option must show (so the comparison cannot pass by observing nothing).
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { FIXTURES } from './helpers/agent';
import { runNode } from './helpers/run-node';
import { configure, childDefaults } from 'procguard';
import { currentConfig } from '../lib/config';
import { cgroupSpecOf } from '../lib/cgroup/spec';

const FUNCTIONS = ['spawn', 'exec', 'execFile', 'fork', 'spawnSync', 'execSync', 'execFileSync'];

function polluted<T>(name: string, value: unknown, body: () => T): T {
  (Object.prototype as Record<string, unknown>)[name] = value;
  try {
    return body();
  } finally {
    delete (Object.prototype as Record<string, unknown>)[name];
  }
}

describe('options set on Object.prototype change nothing', () => {
  it.each(FUNCTIONS)('%s: shell, uid, gid, env, cwd, execPath, execArgv, stdio, timeout, detached, argv0, encoding, maxBuffer, input, cgroup, nice, oomScoreAdj, ...', (fn) => {
    const run = runNode('', { file: path.join(FIXTURES, 'pollution.cjs'), args: ['procguard', fn], env: { HOME: '/root' }, timeoutMs: 120_000 });
    const line = run.stdout.split('\n').find((l) => l.startsWith('POLLUTION_RESULT '));
    expect(line, run.stderr).toBeDefined();
    const result = JSON.parse(line!.slice('POLLUTION_RESULT '.length));
    expect(result.baseline.report.argv, 'the unpolluted call ran the child').toEqual(['a b']);
    expect(result.changed).toEqual([]);
    expect(result.unobservable).toEqual([]);
    expect(result.leftOnPrototype).toEqual([]);
  });

  it('a polluted option of the wrong type neither throws nor aborts the agent (uid, gid, cwd, detached, stdio)', () => {
    const run = runNode(`
      const cp = require('procguard');
      const fork = require('path').join(${JSON.stringify(FIXTURES)}, 'report-child.cjs');
      const done = [];
      for (const [name, value] of [['uid', 'gwak'], ['gid', 0n], ['cwd', 42n], ['detached', 'yes'], ['stdio', 5]]) {
        Object.prototype[name] = value;
        try {
          cp.spawnSync('true');
          cp.execSync('true');
          cp.execFileSync('true');
          cp.spawn('true');
          cp.exec('true');
          cp.execFile('true');
          cp.fork(fork, { stdio: 'ignore' });
          done.push(name);
        } finally {
          delete Object.prototype[name];
        }
      }
      console.log(JSON.stringify(done));
    `);
    expect(run.signal).toBeNull();
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual(['uid', 'gid', 'cwd', 'detached', 'stdio']);
  });

  it("configure(): procguard's own settings", () => {
    const before = currentConfig();
    polluted('enabled', true, () => configure({}));
    polluted('envPrefix', 'EVIL_', () => configure({}));
    polluted('logger', { info() {}, warn() {} }, () => configure({}));
    polluted('cgroupParent', '/sys/fs/cgroup/unified/evil', () => configure({}));
    expect(currentConfig()).toEqual(before);
  });

  it('the cgroup option and childDefaults() read own properties only', () => {
    expect(polluted('memoryMax', '2M', () => cgroupSpecOf({ pidsMax: 64 }))).toEqual(cgroupSpecOf({ pidsMax: 64 }));
    expect(polluted('pidsMax', 1, () => cgroupSpecOf({ memoryMax: '64M' }))).toEqual(cgroupSpecOf({ memoryMax: '64M' }));
    expect(polluted('nice', 15, () => childDefaults({ oomScoreAdj: 0, nice: 0 } as never).nice)).toBe(5);
  });

  it('protectSelf() asks for -1000 whatever Object.prototype.oomScoreAdj says', () => {
    const run = runNode(`
      const { protectSelf } = require('procguard');
      Object.prototype.oomScoreAdj = 500;
      const r = protectSelf({});
      delete Object.prototype.oomScoreAdj;
      console.log(JSON.stringify({ ...r, now: Number(require('fs').readFileSync('/proc/self/oom_score_adj', 'utf8')) }));
    `, { env: { NODE_NO_WARNINGS: '1' } });
    const r = JSON.parse(run.stdout);
    expect(r.now).not.toBe(500);
    expect(r.applied ? r.oomScoreAdj : r.error.message).toEqual(r.applied ? -1000 : expect.stringContaining('-1000'));
  });
});

