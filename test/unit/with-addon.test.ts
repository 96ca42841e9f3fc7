// Management needs the native addon, which lib/ cannot load from inside the test runner:
// these run the compiled library, with the addon, in a node process of their own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { addonBuilt, compileLib, removeCompiled } from './compile-lib';

function runInChild(dir: string, env: Record<string, string>, body: string): Record<string, any> {
  const script = `
    const lib = process.env.LIB;
    const lines = [];
    require(lib + '/config.js').configure({ logger: {
      info: (message, fields) => lines.push({ level: 'info', message, fields }),
      warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    } });
    const config = require(lib + '/config.js');
    const { resolveChildPriority } = require(lib + '/priority.js');
    const { status } = require(lib + '/status.js');
    const out = (() => { ${body} })();
    process.stdout.write(JSON.stringify({ ...out, lines }));`;
  const child = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8', env: { PATH: process.env.PATH, LIB: dir, ...env },
  });
  if (child.status !== 0) throw new Error(`child failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout);
}

// On CI the addon is always built: there a missing one must fail, not skip.
describe.runIf(addonBuilt || !!process.env.CI)('with the native addon', () => {
  let dir: string;
  beforeAll(() => { dir = compileLib({ withAddon: true }); });
  afterAll(() => removeCompiled(dir));
  const agentOom = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));

  it('CODER_PROC_PRIO_MGMT="" enables: children get the defaults, the startup line says enabled', () => {
    const out = runInChild(dir, { CODER_PROC_PRIO_MGMT: '' },
      'return { state: config.managementState(), first: resolveChildPriority({}), own: resolveChildPriority({ nice: \'inherit\', oomScoreAdj: 3 }) };');
    expect(out.state).toEqual({ enabled: true, reason: 'CODER_PROC_PRIO_MGMT is set' });
    expect(out.first).toEqual({ oomScoreAdj: agentOom < 0 ? 0 : agentOom >= 998 ? 1000 : 998, nice: Math.min(os.getPriority(0) + 5, 19), strict: false });
    expect(out.own).toEqual({ oomScoreAdj: 3, strict: false });
    expect(out.lines).toEqual([{
      level: 'info', message: 'process priority management enabled',
      fields: { CODER_PROC_PRIO_MGMT: '', os: 'linux', reason: 'CODER_PROC_PRIO_MGMT is set' },
    }]);
  });

  it('environment overrides apply; configure({ enabled: false }) turns management off', () => {
    const out = runInChild(dir, { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_OOM_SCORE: '10', CODER_PROC_NICE_SCORE: '1' },
      'const on = resolveChildPriority({}); config.configure({ enabled: false }); return { on, off: resolveChildPriority({}) };');
    expect(out.on).toEqual({ oomScoreAdj: 10, nice: 1, strict: false });
    expect(out.off).toEqual({ strict: false });
  });

  it('status() reports dumpable and pidfd from the addon', () => {
    const out = runInChild(dir, {}, 'return { s: status() };');
    expect(out.s).toMatchObject({ native: true, enabled: false, agent: { dumpable: 1 }, pidfd: expect.any(Boolean) });
    expect(out.s.nativeError).toBeUndefined();
  });
});
