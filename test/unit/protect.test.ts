// protectSelf() changes the oom_score_adj of the process it runs in, and without
// CAP_SYS_RESOURCE a raised score can only come back down to 0: every call that may
// write runs in a node process of its own, never in the test runner.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { protectSelf } from '../../lib/protect';
import { readCapabilities } from '../../lib/self';
import { addonBuilt, compileLib, removeCompiled } from './compile-lib';

const canLowerBelowZero = readCapabilities()?.capSysResource === true;

interface Outcome {
  results: Record<string, unknown>[];
  lines: { level: string; message: string; fields?: Record<string, unknown> }[];
  finalOomScoreAdj: number;
  childDefaults: { oomScoreAdj: number };
  statusOomScoreAdj: number | null;
  native: boolean;
}

/** Runs protectSelf() with each of `requests` in a fresh node process (its oom_score_adj starts at 0). */
function runInChild(dir: string, requests: (number | undefined)[], wrapper: string[] = []): Outcome {
  const script = `
    const fs = require('node:fs');
    const lib = process.env.LIB;
    const lines = [];
    require(lib + '/config.js').configure({ logger: {
      info: (message, fields) => lines.push({ level: 'info', message, fields }),
      warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    } });
    const { protectSelf } = require(lib + '/protect.js');
    const results = JSON.parse(process.env.REQUESTS).map((v) => protectSelf(v === null ? undefined : { oomScoreAdj: v }));
    const { childDefaults } = require(lib + '/priority.js');
    const { status } = require(lib + '/status.js');
    const { loadNative } = require(lib + '/native.js');
    const protectLines = lines.slice(); // before status() adds the startup line
    process.stdout.write(JSON.stringify({
      results, lines: protectLines,
      finalOomScoreAdj: Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8')),
      childDefaults: childDefaults(),
      statusOomScoreAdj: status().agent.oomScoreAdj,
      native: loadNative().binding !== null,
    }));`;
  const command = [...wrapper, process.execPath, '-e', script];
  const child = spawnSync(command[0], command.slice(1), {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, LIB: dir, REQUESTS: JSON.stringify(requests.map((v) => v ?? null)) },
  });
  if (child.status !== 0) throw new Error(`child failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout) as Outcome;
}

const variants = [
  { name: 'TypeScript fallback (no addon)', withAddon: false },
  ...(addonBuilt ? [{ name: 'native addon', withAddon: true }] : []),
];

describe.each(variants)('protectSelf through the $name', ({ withAddon }) => {
  let dir: string;
  beforeAll(() => { dir = compileLib({ withAddon }); });
  afterAll(() => removeCompiled(dir));

  it('uses the path under test', () => {
    expect(runInChild(dir, []).native).toBe(withAddon);
  });

  // The kernel decides: with CAP_SYS_RESOURCE the agent may go below 0, without it (as on this
  // project's CI) the write is refused. Either way the outcome must be exactly the documented one.
  it('-1000 is applied with CAP_SYS_RESOURCE (children then get 0), and refused with EACCES, logged, not thrown without it', () => {
    const outcome = runInChild(dir, [undefined]); // the default is -1000
    if (canLowerBelowZero) {
      expect(outcome.results[0]).toMatchObject({ applied: true, oomScoreAdj: -1000, previous: 0, error: null });
      expect(outcome.childDefaults.oomScoreAdj).toBe(0);
      return;
    }
    expect(outcome.results).toEqual([{
      applied: false,
      oomScoreAdj: 0,
      previous: 0,
      error: { code: 'EACCES', errno: -os.constants.errno.EACCES, message: expect.stringContaining('CAP_SYS_RESOURCE') },
    }]);
    expect((outcome.results[0].error as { message: string }).message).toMatch(/^cannot set the agent's oom_score_adj to -1000: EACCES; /);
    expect(outcome.finalOomScoreAdj).toBe(0);
    expect(outcome.lines).toEqual([{
      level: 'warn',
      message: "failed to set the agent's oom_score_adj",
      fields: { requested: -1000, oom_score_adj: 0, error: 'EACCES', hint: expect.stringContaining('CAP_SYS_RESOURCE') },
    }]);
  });

  it('100: applied, re-read, logged; status and child defaults follow', () => {
    const outcome = runInChild(dir, [100]);
    expect(outcome.results).toEqual([{ applied: true, oomScoreAdj: 100, previous: 0, error: null }]);
    expect(outcome.finalOomScoreAdj).toBe(100);
    expect(outcome.statusOomScoreAdj).toBe(100);
    expect(outcome.childDefaults.oomScoreAdj).toBe(998);
    expect(outcome.lines).toEqual([
      { level: 'info', message: "set the agent's oom_score_adj", fields: { oom_score_adj: 100, previous: 0 } },
    ]);
  });

  it('raised to 999 then back to 0 is allowed; children follow the table each time', () => {
    const outcome = runInChild(dir, [999]);
    expect(outcome.childDefaults.oomScoreAdj).toBe(1000);
    const back = runInChild(dir, [999, 0, canLowerBelowZero ? 0 : -1]);
    expect(back.results.map((r) => [r.applied, r.oomScoreAdj, r.previous])).toEqual([
      [true, 999, 0], [true, 0, 999], [canLowerBelowZero, 0, 0],
    ]);
    expect(back.childDefaults.oomScoreAdj).toBe(998);
  });
});

describe('protectSelf on a read-only /proc', () => {
  let dir: string;
  beforeAll(() => { dir = compileLib({ withAddon: false }); });
  afterAll(() => removeCompiled(dir));

  // A private mount namespace whose /proc is remounted read-only: the kernel's own EROFS.
  const wrapper = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    'mount -o remount,bind,ro /proc && exec "$@"', 'sh'];
  const namespaceWorks = spawnSync(wrapper[0], [...wrapper.slice(1), 'true']).status === 0;

  // On CI (root, unshare available) this must run: a machine that cannot make the namespace fails it.
  it.runIf(namespaceWorks || !!process.env.CI)('is refused with EROFS and a hint, and carries on', () => {
    const outcome = runInChild(dir, [100], wrapper);
    expect(outcome.results).toEqual([{
      applied: false,
      oomScoreAdj: 0,
      previous: 0,
      error: { code: 'EROFS', errno: -os.constants.errno.EROFS, message: "cannot set the agent's oom_score_adj to 100: EROFS; /proc is mounted read-only" },
    }]);
    expect(outcome.lines[0]).toMatchObject({ level: 'warn', fields: { error: 'EROFS', hint: '/proc is mounted read-only' } });
  });
});

describe('protectSelf argument checks (nothing is written)', () => {
  it.each([
    [{ oomScoreAdj: 1001 }, RangeError, 'ERR_OUT_OF_RANGE', 'The value of "options.oomScoreAdj" is out of range. It must be >= -1000 && <= 1000. Received 1001'],
    [{ oomScoreAdj: -1001 }, RangeError, 'ERR_OUT_OF_RANGE', 'The value of "options.oomScoreAdj" is out of range. It must be >= -1000 && <= 1000. Received -1001'],
    [{ oomScoreAdj: 0.5 }, RangeError, 'ERR_OUT_OF_RANGE', 'The value of "options.oomScoreAdj" is out of range. It must be an integer >= -1000 && <= 1000. Received 0.5'],
    [{ oomScoreAdj: '-1000' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'The "options.oomScoreAdj" property must be of type number. Received type string (\'-1000\')'],
    [null, TypeError, 'ERR_INVALID_ARG_TYPE', 'The "options" argument must be of type object. Received null'],
    [-1000, TypeError, 'ERR_INVALID_ARG_TYPE', 'The "options" argument must be of type object. Received type number (-1000)'],
  ])('%o -> %s', (options, ErrorClass, code, message) => {
    let error: unknown;
    try { protectSelf(options as never); } catch (err) { error = err; }
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toMatchObject({ code, message });
  });
});
