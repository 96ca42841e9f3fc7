// Priority management as Coder's agent does it: the defaults, the environment overrides, the per-spawn
// options and management off. The agent side runs in a SUBPROCESS (test/fixtures/agent.cjs) whose own
// oom_score_adj and nice are set before node starts (raising one's own oom_score_adj is sticky, so
// this process never changes its own); each child is a `sleep 30` read through /proc while it runs.
import { describe, it, expect } from 'vitest';
import { childDefaults, spawn } from 'procguard';
import { runAgent, oneSleeper, onlyChild, warnings } from './helpers/agent';

const ON = { CODER_PROC_PRIO_MGMT: '1' };

describe('default child oom_score_adj, from the agent\'s own (management on)', () => {
  it.each([
    [0, 998],
    [500, 998],
    [997, 998],
    [998, 1000],
    [999, 1000],
  ])('gives a child of a %i-scored agent oom_score_adj %i', async (agentScore, childScore) => {
    const run = await runAgent(oneSleeper(), { oomScoreAdj: agentScore, env: ON });
    expect(run.result.self.oomScoreAdj).toBe(agentScore);
    const child = onlyChild(run);
    expect(child.proc.oomScoreAdj).toBe(childScore);
    expect(child.priority?.oomScoreAdj).toBe(childScore);
    expect(child.priority?.warnings).toEqual([]);
  });

  it('computes 0 for the children of a negatively scored agent (childDefaults)', () => {
    expect(childDefaults({ oomScoreAdj: -5, nice: 0 }).oomScoreAdj).toBe(0);
    expect(childDefaults({ oomScoreAdj: -1, nice: 0 }).oomScoreAdj).toBe(0);
    expect(childDefaults({ oomScoreAdj: -1000, nice: 0 }).oomScoreAdj).toBe(0);
    expect(childDefaults({ oomScoreAdj: 0, nice: 0 }).oomScoreAdj).toBe(998);
    expect(childDefaults({ oomScoreAdj: 997, nice: 0 }).oomScoreAdj).toBe(998);
    expect(childDefaults({ oomScoreAdj: 998, nice: 0 }).oomScoreAdj).toBe(1000);
    expect(childDefaults({ oomScoreAdj: 1000, nice: 0 }).oomScoreAdj).toBe(1000);
  });

  it('computes nice = agent + 5, capped at 19 (childDefaults)', () => {
    expect(childDefaults({ oomScoreAdj: 0, nice: -20 }).nice).toBe(-15);
    expect(childDefaults({ oomScoreAdj: 0, nice: 0 }).nice).toBe(5);
    expect(childDefaults({ oomScoreAdj: 0, nice: 14 }).nice).toBe(19);
    expect(childDefaults({ oomScoreAdj: 0, nice: 16 }).nice).toBe(19);
    expect(childDefaults({ oomScoreAdj: 0, nice: 19 }).nice).toBe(19);
  });

  it('gives a child of a negatively scored agent oom_score_adj 0 (asserted where the machine lets the agent go negative)', async () => {
    const run = await runAgent(oneSleeper(), { oomScoreAdj: -5, oomMayFail: true, env: ON });
    const agentScore = run.result.self.oomScoreAdj;
    const child = onlyChild(run);
    if (agentScore < 0) {
      expect(child.proc.oomScoreAdj).toBe(0);
    } else {
      // Without CAP_SYS_RESOURCE the write is refused (EACCES) and the agent keeps a non-negative score:
      // the child then follows the "any other value" row.
      expect(child.proc.oomScoreAdj).toBe(agentScore >= 998 ? 1000 : 998);
    }
  });
});

describe('default child nice: agent + 5, capped at 19 (management on)', () => {
  it.each([
    [0, 5],
    [10, 15],
    [16, 19],
    [19, 19],
  ])('gives a child of an agent at nice %i the nice value %i', async (agentNice, childNice) => {
    const run = await runAgent(oneSleeper(), { oomScoreAdj: 0, nice: agentNice, env: ON });
    expect(run.result.self.nice).toBe(agentNice);
    const child = onlyChild(run);
    expect(child.proc.nice).toBe(childNice);
    expect(child.priority?.nice).toBe(childNice);
  });
});

describe('management on/off', () => {
  it('enables management when CODER_PROC_PRIO_MGMT is present, even empty', async () => {
    const run = await runAgent(oneSleeper(), { oomScoreAdj: 0, nice: 0, env: { CODER_PROC_PRIO_MGMT: '' } });
    expect(run.result.statusBefore.enabled).toBe(true);
    expect(onlyChild(run).proc).toMatchObject({ oomScoreAdj: 998, nice: 5 });
  });

  it('leaves a child with the agent\'s own values when management is off', async () => {
    const run = await runAgent(oneSleeper(), { oomScoreAdj: 300, nice: 2, env: {} });
    expect(run.result.statusBefore.enabled).toBe(false);
    const child = onlyChild(run);
    expect(child.proc).toMatchObject({ oomScoreAdj: 300, nice: 2 });
    expect(child.priority).toEqual({ oomScoreAdj: null, nice: null, schedPolicy: null, ioPriority: null, warnings: [] });
  });

  it('turns management off with configure({ enabled: false }) although CODER_PROC_PRIO_MGMT is set', async () => {
    const run = await runAgent(oneSleeper({}, { configure: { enabled: false } }), { oomScoreAdj: 300, nice: 2, env: ON });
    expect(run.result.statusBefore.enabled).toBe(false);
    expect(onlyChild(run).proc).toMatchObject({ oomScoreAdj: 300, nice: 2 });
  });

  it('turns management on with configure({ enabled: true }) without CODER_PROC_PRIO_MGMT', async () => {
    const run = await runAgent(oneSleeper({}, { configure: { enabled: true } }), { oomScoreAdj: 300, nice: 2, env: {} });
    expect(run.result.statusBefore.enabled).toBe(true);
    expect(onlyChild(run).proc).toMatchObject({ oomScoreAdj: 998, nice: 7 });
  });

  it.each([
    ['enabled', { CODER_PROC_PRIO_MGMT: '1' }, /process priority management enabled/],
    ['not enabled', {}, /process priority management not enabled/],
  ])('logs "process priority management %s" once', async (_state, env, line) => {
    const plan = { spawns: [{ command: 'true', read: false, waitExit: true }, { command: 'true', read: false, waitExit: true }] };
    const run = await runAgent(plan, { env });
    const fromLogger = run.result.logs.filter((l) => line.test(l.message));
    const fromStderr = run.stderr.split('\n').filter((l) => line.test(l));
    expect(fromLogger.length + fromStderr.length, JSON.stringify({ logs: run.result.logs, stderr: run.stderr })).toBe(1);
  });

  it('reports the agent, the reason and the child defaults in status()', async () => {
    const run = await runAgent(oneSleeper(), { oomScoreAdj: 500, nice: 2, env: ON });
    const status = run.result.statusBefore;
    expect(status.enabled).toBe(true);
    expect(String(status.reason)).toContain('CODER_PROC_PRIO_MGMT');
    expect(status.platform).toBe('linux');
    const capEff = BigInt('0x' + run.result.self.capEff);
    expect(status.agent).toMatchObject({
      oomScoreAdj: 500,
      nice: 2,
      dumpable: 1,
      capSysNice: (capEff & (1n << 23n)) !== 0n,
      capSysResource: (capEff & (1n << 24n)) !== 0n,
    });
    expect(status.childDefaults).toMatchObject({ oomScoreAdj: 998, nice: 7 });
    expect(typeof status.pidfd).toBe('boolean');
  });
});

describe('environment overrides', () => {
  it('gives children CODER_PROC_OOM_SCORE=10 and CODER_PROC_NICE_SCORE=1', async () => {
    const run = await runAgent(oneSleeper(), {
      oomScoreAdj: 500,
      nice: 0,
      env: { ...ON, CODER_PROC_OOM_SCORE: '10', CODER_PROC_NICE_SCORE: '1' },
    });
    const child = onlyChild(run);
    expect(child.proc).toMatchObject({ oomScoreAdj: 10, nice: 1 });
    expect(child.priority).toEqual({ oomScoreAdj: 10, nice: 1, schedPolicy: null, ioPriority: null, warnings: [] });
    expect(run.result.childDefaults).toMatchObject({ oomScoreAdj: 10, nice: 1, source: { oomScoreAdj: 'env', nice: 'env' } });
  });

  it.each([
    ['CODER_PROC_OOM_SCORE', 'abc', { oomScoreAdj: 998 }, ['-1000', '1000']],
    ['CODER_PROC_OOM_SCORE', '1001', { oomScoreAdj: 998 }, ['-1000', '1000']],
    ['CODER_PROC_OOM_SCORE', '-1001', { oomScoreAdj: 998 }, ['-1000', '1000']],
    ['CODER_PROC_OOM_SCORE', '12.5', { oomScoreAdj: 998 }, ['-1000', '1000']],
    ['CODER_PROC_NICE_SCORE', '20', { nice: 5 }, ['-20', '19']],
    ['CODER_PROC_NICE_SCORE', '-21', { nice: 5 }, ['-20', '19']],
    ['CODER_PROC_NICE_SCORE', 'low', { nice: 5 }, ['-20', '19']],
  ])('warns once about %s=%s (naming variable, value and range) and uses the default', async (name, value, expected, range) => {
    const plan = { spawns: [{ command: 'sleep', args: ['30'] }, { command: 'sleep', args: ['30'] }] };
    const run = await runAgent(plan, { oomScoreAdj: 0, nice: 0, env: { ...ON, [name]: value } });
    for (const s of run.result.spawns) {
      expect(s.started).toBe('spawn');
      expect(s.proc).toMatchObject(expected);
    }
    // the one line that names the variable and its range (an info line may name the variable too),
    // once to the logger and once as a process warning with its code
    const names = (line: string) => line.includes(name) && range.every((bound) => line.includes(bound));
    const logged = run.result.logs.filter((l) => l.level === 'warn' && names(l.message));
    expect(logged, `warnings: ${JSON.stringify(warnings(run))}`).toHaveLength(1);
    expect(logged[0]).toMatchObject({ code: 'PROCGUARD_INVALID_VARIABLE', message: expect.stringContaining(value) });
    const emitted = run.stderr.split('\n').filter(names);
    expect(emitted).toHaveLength(1);
    expect(emitted[0]).toMatch(/^\(node:\d+\) \[PROCGUARD_INVALID_VARIABLE\] Warning: procguard: ignoring /);
  });
});

describe('per-spawn options', () => {
  it('applies per-spawn oomScoreAdj and nice over the environment', async () => {
    const run = await runAgent(oneSleeper({ oomScoreAdj: 100, nice: 3 }), {
      oomScoreAdj: 0,
      nice: 0,
      env: { ...ON, CODER_PROC_OOM_SCORE: '10', CODER_PROC_NICE_SCORE: '1' },
    });
    const child = onlyChild(run);
    expect(child.proc).toMatchObject({ oomScoreAdj: 100, nice: 3 });
    expect(child.priority).toEqual({ oomScoreAdj: 100, nice: 3, schedPolicy: null, ioPriority: null, warnings: [] });
  });

  it('applies per-spawn oomScoreAdj and nice even when management is off', async () => {
    const run = await runAgent(oneSleeper({ oomScoreAdj: 750, nice: 4 }), { oomScoreAdj: 0, nice: 0, env: {} });
    expect(run.result.statusBefore.enabled).toBe(false);
    expect(onlyChild(run).proc).toMatchObject({ oomScoreAdj: 750, nice: 4 });
  });

  it('leaves a child with \'inherit\' as the agent is, although management is on', async () => {
    const run = await runAgent(oneSleeper({ oomScoreAdj: 'inherit', nice: 'inherit' }), { oomScoreAdj: 500, nice: 2, env: ON });
    const child = onlyChild(run);
    expect(child.proc).toMatchObject({ oomScoreAdj: 500, nice: 2 });
    expect(child.priority).toEqual({ oomScoreAdj: null, nice: null, schedPolicy: null, ioPriority: null, warnings: [] });
  });

  it('mixes \'inherit\' for one setting with the default for the other', async () => {
    const run = await runAgent(oneSleeper({ nice: 'inherit' }), { oomScoreAdj: 500, nice: 2, env: ON });
    const child = onlyChild(run);
    expect(child.proc).toMatchObject({ oomScoreAdj: 998, nice: 2 });
    expect(child.priority).toEqual({ oomScoreAdj: 998, nice: null, schedPolicy: null, ioPriority: null, warnings: [] });
  });

  it.each([
    [{ oomScoreAdj: 1001 }],
    [{ oomScoreAdj: -1001 }],
    [{ oomScoreAdj: 1.5 }],
    [{ nice: 20 }],
    [{ nice: -21 }],
    [{ nice: 0.5 }],
  ])('refuses the out-of-range per-spawn value %j with RangeError ERR_OUT_OF_RANGE', (options) => {
    let thrown: unknown;
    try {
      spawn('true', [], options as never);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RangeError);
    expect((thrown as { code?: string }).code).toBe('ERR_OUT_OF_RANGE');
    expect((thrown as Error).message).toContain(Object.keys(options)[0]);
  });

  it('refuses a non-number, non-\'inherit\' per-spawn value with ERR_INVALID_ARG_TYPE or ERR_INVALID_ARG_VALUE', () => {
    let thrown: unknown;
    try {
      spawn('true', [], { nice: 'low' } as never);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE']).toContain((thrown as { code?: string }).code);
  });
});
