import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { captureLogger, isolateEnv } from './capture-logger';

type Modules = {
  priority: typeof import('../../lib/priority');
  config: typeof import('../../lib/config');
};

// Fresh module state per test: the once-only startup line and the env memo start empty.
async function fresh(): Promise<Modules & ReturnType<typeof captureLogger>> {
  vi.resetModules();
  const config = await import('../../lib/config');
  const priority = await import('../../lib/priority');
  const capture = captureLogger();
  config.configure({ logger: capture.logger });
  return { config, priority, ...capture };
}

let restoreEnv: () => void;
beforeEach(() => { restoreEnv = isolateEnv('CODER_PROC_', 'MYAGENT_'); });
afterEach(() => restoreEnv());

const agentOom = () => Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));

describe('computeChildOomScore', () => {
  it.each([
    [-1000, 0], [-1, 0], // a protected agent: children are ordinary
    [0, 998], [1, 998], [500, 998], [997, 998], // children just below the top
    [998, 1000], [999, 1000], [1000, 1000], // the agent is at the top already
  ])('agent %i gives children %i', async (agent, child) => {
    const { priority } = await fresh();
    expect(priority.computeChildOomScore(agent)).toBe(child);
  });
});

describe('computeChildNice', () => {
  it.each([[-20, -15], [0, 5], [10, 15], [13, 18], [14, 19], [15, 19], [19, 19]])(
    'agent %i gives children %i', async (agent, child) => {
      const { priority } = await fresh();
      expect(priority.computeChildNice(agent)).toBe(child);
    });
});

describe('childDefaults', () => {
  it('computes from the given agent values', async () => {
    const { priority } = await fresh();
    expect(priority.childDefaults({ oomScoreAdj: -1000, nice: 3 })).toEqual({
      oomScoreAdj: 0, nice: 8, schedPolicy: null, ioPriority: null, source: { oomScoreAdj: 'computed', nice: 'computed', schedPolicy: 'default', ioPriority: 'default' },
    });
  });

  it("reads the agent's own values when none are given", async () => {
    const { priority } = await fresh();
    const defaults = priority.childDefaults();
    expect(defaults.oomScoreAdj).toBe(priority.computeChildOomScore(agentOom()));
    expect(defaults.nice).toBe(Math.min(os.getPriority(0) + 5, 19));
  });

  it('takes valid environment values over computed ones', async () => {
    process.env.CODER_PROC_OOM_SCORE = '-500';
    process.env.CODER_PROC_NICE_SCORE = '+2';
    const { priority, lines } = await fresh();
    expect(priority.childDefaults({ oomScoreAdj: 0, nice: 0 })).toEqual({
      oomScoreAdj: -500, nice: 2, schedPolicy: null, ioPriority: null, source: { oomScoreAdj: 'env', nice: 'env', schedPolicy: 'default', ioPriority: 'default' },
    });
    expect(lines.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it.each([
    ['CODER_PROC_OOM_SCORE', '12abc', '-1000 to 1000'],
    ['CODER_PROC_OOM_SCORE', '1.5', '-1000 to 1000'],
    ['CODER_PROC_OOM_SCORE', '', '-1000 to 1000'],
    ['CODER_PROC_OOM_SCORE', '1001', '-1000 to 1000'],
    ['CODER_PROC_OOM_SCORE', '-1001', '-1000 to 1000'],
    ['CODER_PROC_NICE_SCORE', '20', '-20 to 19'],
    ['CODER_PROC_NICE_SCORE', '-21', '-20 to 19'],
    ['CODER_PROC_NICE_SCORE', '0x5', '-20 to 19'],
  ])('%s=%j: one warning naming variable, value and range, then the default', async (name, value, range) => {
    process.env[name] = value;
    const { priority, lines } = await fresh();
    for (let i = 0; i < 3; i++) {
      expect(priority.childDefaults({ oomScoreAdj: 0, nice: 0 })).toEqual({
        oomScoreAdj: 998, nice: 5, schedPolicy: null, ioPriority: null, source: { oomScoreAdj: 'computed', nice: 'computed', schedPolicy: 'default', ioPriority: 'default' },
      });
    }
    const warnings = lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toContain(name);
    expect(warnings[0].message).toContain(JSON.stringify(value));
    expect(warnings[0].message).toContain(range);
  });

  it('warns again for a different bad value, not for one seen before', async () => {
    const { priority, lines } = await fresh();
    for (const value of ['x', 'y', 'x', '7', 'x']) {
      process.env.CODER_PROC_NICE_SCORE = value;
      priority.childDefaults({ oomScoreAdj: 0, nice: 0 });
    }
    expect(lines.filter((line) => line.level === 'warn').map((line) => line.message)).toEqual([
      expect.stringContaining('"x"'), expect.stringContaining('"y"'),
    ]);
  });

  it('reads the variables of the configured prefix only', async () => {
    process.env.CODER_PROC_OOM_SCORE = '100';
    process.env.MYAGENT_OOM_SCORE = '200';
    process.env.MYAGENT_NICE_SCORE = '7';
    const { priority, config } = await fresh();
    config.configure({ envPrefix: 'MYAGENT_' });
    expect(priority.childDefaults({ oomScoreAdj: 0, nice: 0 })).toMatchObject({ oomScoreAdj: 200, nice: 7 });
    config.configure({ envPrefix: undefined });
    expect(priority.childDefaults({ oomScoreAdj: 0, nice: 0 })).toMatchObject({ oomScoreAdj: 100, nice: 5 });
  });
});

describe('resolveChildPriority option checks', () => {
  it.each([
    [{ oomScoreAdj: 1001 }, 'options.oomScoreAdj', '>= -1000 && <= 1000. Received 1001'],
    [{ oomScoreAdj: -1001 }, 'options.oomScoreAdj', '>= -1000 && <= 1000. Received -1001'],
    [{ oomScoreAdj: 1.5 }, 'options.oomScoreAdj', 'an integer >= -1000 && <= 1000. Received 1.5'],
    [{ oomScoreAdj: NaN }, 'options.oomScoreAdj', 'an integer >= -1000 && <= 1000. Received NaN'],
    [{ nice: 20 }, 'options.nice', '>= -20 && <= 19. Received 20'],
    [{ nice: -21 }, 'options.nice', '>= -20 && <= 19. Received -21'],
    [{ nice: Infinity }, 'options.nice', 'an integer >= -20 && <= 19. Received Infinity'],
  ])('%o: RangeError ERR_OUT_OF_RANGE', async (options, name, detail) => {
    const { priority } = await fresh();
    let error: unknown;
    try { priority.resolveChildPriority(options); } catch (err) { error = err; }
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect((error as Error).message).toBe(`The value of "${name}" is out of range. It must be ${detail}`);
  });

  it.each([
    [{ oomScoreAdj: 'max' }, 'ERR_INVALID_ARG_VALUE', "The property 'options.oomScoreAdj' must be a number or 'inherit'. Received 'max'"],
    [{ nice: '5' }, 'ERR_INVALID_ARG_VALUE', "The property 'options.nice' must be a number or 'inherit'. Received '5'"],
    [{ oomScoreAdj: true }, 'ERR_INVALID_ARG_TYPE', 'The "options.oomScoreAdj" property must be of type number or the string \'inherit\'. Received type boolean (true)'],
    [{ nice: {} }, 'ERR_INVALID_ARG_TYPE', 'The "options.nice" property must be of type number or the string \'inherit\'. Received an instance of Object'],
    [{ strict: 'yes' }, 'ERR_INVALID_ARG_TYPE', 'The "options.strict" property must be of type boolean. Received type string (\'yes\')'],
  ])('%o: TypeError %s', async (options, code, message) => {
    const { priority } = await fresh();
    let error: unknown;
    try { priority.resolveChildPriority(options as never); } catch (err) { error = err; }
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ code, message });
  });

  it('accepts the boundaries and inherit', async () => {
    const { priority } = await fresh();
    for (const [oomScoreAdj, nice] of [[-1000, -20], [1000, 19], [0, 0]]) {
      expect(priority.resolveChildPriority({ oomScoreAdj, nice, strict: true })).toEqual({ oomScoreAdj, nice, strict: true });
    }
    expect(priority.resolveChildPriority({ oomScoreAdj: 'inherit', nice: 'inherit' })).toEqual({ strict: false });
  });
});

describe('resolveChildPriority choices', () => {
  it('management off: only per-spawn numbers apply', async () => {
    const { priority } = await fresh();
    expect(priority.resolveChildPriorityWith({}, false)).toEqual({ strict: false });
    expect(priority.resolveChildPriorityWith({ oomScoreAdj: 500 }, false)).toEqual({ oomScoreAdj: 500, strict: false });
    expect(priority.resolveChildPriorityWith({ nice: 3, strict: true }, false)).toEqual({ nice: 3, strict: true });
  });

  it('management on: defaults fill what the spawn leaves out, inherit leaves it out', async () => {
    process.env.CODER_PROC_NICE_SCORE = '11';
    const { priority } = await fresh();
    const oom = priority.computeChildOomScore(agentOom());
    expect(priority.resolveChildPriorityWith({}, true)).toEqual({ oomScoreAdj: oom, nice: 11, strict: false });
    expect(priority.resolveChildPriorityWith({ oomScoreAdj: 'inherit' }, true)).toEqual({ nice: 11, strict: false });
    expect(priority.resolveChildPriorityWith({ oomScoreAdj: -3, nice: 'inherit' }, true)).toEqual({ oomScoreAdj: -3, strict: false });
  });

  it('follows managementState(): without the native addon nothing is defaulted', async () => {
    process.env.CODER_PROC_PRIO_MGMT = '1';
    const { priority, config } = await fresh();
    const resolved = priority.resolveChildPriority({});
    if (config.managementState().enabled) expect(resolved.oomScoreAdj).toBeTypeOf('number');
    else expect(resolved).toEqual({ strict: false });
  });
});

describe('describePriorityFailure', () => {
  const { EACCES, EPERM, EROFS, EINVAL } = os.constants.errno;

  it('nice: names command, value, errno and CAP_SYS_NICE', async () => {
    const { priority } = await fresh();
    expect(priority.describePriorityFailure('setpriority', EACCES, -5, 'make -j8')).toBe(
      'failed to adjust niceness to -5 for "make -j8": EACCES; lowering nice below the agent\'s needs CAP_SYS_NICE');
    expect(priority.describePriorityFailure('setpriority', EPERM, -5, 'x')).toContain('CAP_SYS_NICE');
    expect(priority.describePriorityFailure('setpriority', EINVAL, 7, 'x')).toBe('failed to adjust niceness to 7 for "x": EINVAL');
  });

  it('oom score: names command, value, errno and CAP_SYS_RESOURCE', async () => {
    const { priority } = await fresh();
    const line = priority.describePriorityFailure('oom_score_adj', EACCES, -1000, 'sleep 10');
    expect(line).toMatch(/^failed to adjust oom score to -1000 for "sleep 10": EACCES; /);
    expect(line).toContain("going below the agent's floor (oom_score_adj_min) needs CAP_SYS_RESOURCE");
    expect(priority.describePriorityFailure('oom_score_adj', EROFS, 5, 'x')).toBe(
      'failed to adjust oom score to 5 for "x": EROFS; /proc is mounted read-only');
  });

  it('keeps one line for commands with newlines and bounds long ones', async () => {
    const { priority } = await fresh();
    expect(priority.describePriorityFailure('setpriority', EACCES, 1, 'a\nb')).not.toContain('\n');
    expect(priority.describePriorityFailure('setpriority', EACCES, 1, 'x'.repeat(5000)).length).toBeLessThan(400);
  });

  it('reportPriorityFailure returns the line with the command and warns once per step, value and errno', async () => {
    const { priority, lines } = await fresh();
    const line = priority.reportPriorityFailure('oom_score_adj', EACCES, -1, 'ls');
    priority.reportPriorityFailure('oom_score_adj', EACCES, -1, 'make');
    priority.reportPriorityFailure('oom_score_adj', EACCES, -2, 'make');
    expect(line).toMatch(/^failed to adjust oom score to -1 for "ls": EACCES; /);
    expect(lines.map((l) => l.message)).toEqual([
      line.replace('for "ls"', 'for children'),
      line.replace('for "ls"', 'for children').replace('to -1', 'to -2'),
    ]);
  });
});
