import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isolateEnv } from './capture-logger';

async function fresh() {
  vi.resetModules();
  return { env: await import('../../lib/env'), config: await import('../../lib/config') };
}

let restoreEnv: () => void;
beforeEach(() => { restoreEnv = isolateEnv('CODER_PROC_', 'MYAGENT_'); });
afterEach(() => restoreEnv());

describe('stripGuardVariables', () => {
  it("removes every variable with the prefix from a caller's env, keeps the rest, copies", async () => {
    const { env } = await fresh();
    const given = {
      PATH: '/usr/bin', CODER_PROC_PRIO_MGMT: '1', CODER_PROC_OOM_SCORE: '5', CODER_PROC_ANYTHING: 'x',
      CODER_PROCESS: 'kept: no underscore after PROC', coder_proc_prio_mgmt: 'kept: other case', EMPTY: '', UNSET: undefined,
    };
    const stripped = env.stripGuardVariables(given);
    expect(stripped).toEqual({
      PATH: '/usr/bin', CODER_PROCESS: 'kept: no underscore after PROC', coder_proc_prio_mgmt: 'kept: other case',
      EMPTY: '', UNSET: undefined,
    });
    expect(stripped).not.toBe(given);
    expect(given.CODER_PROC_PRIO_MGMT).toBe('1'); // the caller's object is left alone
  });

  it("strips from the agent's own environment", async () => {
    process.env.CODER_PROC_PRIO_MGMT = '';
    process.env.CODER_PROC_NICE_SCORE = '3';
    const { env } = await fresh();
    const stripped = env.stripGuardVariables(process.env);
    expect(Object.keys(stripped).filter((name) => name.startsWith('CODER_PROC_'))).toEqual([]);
    expect(stripped.PATH).toBe(process.env.PATH);
    expect(process.env.CODER_PROC_NICE_SCORE).toBe('3');
  });

  it('follows the configured prefix', async () => {
    const { env, config } = await fresh();
    config.configure({ envPrefix: 'MYAGENT_' });
    expect(env.stripGuardVariables({ MYAGENT_X: '1', CODER_PROC_PRIO_MGMT: '1', HOME: '/root' }))
      .toEqual({ CODER_PROC_PRIO_MGMT: '1', HOME: '/root' });
    expect(env.isGuardVariable('MYAGENT_OOM_SCORE')).toBe(true);
    expect(env.isGuardVariable('CODER_PROC_OOM_SCORE')).toBe(false);
  });

  it('isGuardVariable matches the prefix only', async () => {
    const { env } = await fresh();
    expect(env.isGuardVariable('CODER_PROC_PRIO_MGMT')).toBe(true);
    expect(env.isGuardVariable('CODER_PROC_')).toBe(true);
    expect(env.isGuardVariable('CODER_PROCX')).toBe(false);
    expect(env.isGuardVariable('X_CODER_PROC_A')).toBe(false);
  });
});

describe('readIntegerVariable', () => {
  it('parses decimal integers with a sign, as strconv.Atoi does', async () => {
    const { env } = await fresh();
    const range = { min: -1000, max: 1000 };
    for (const [raw, value] of [['5', 5], ['-1000', -1000], ['+1000', 1000], ['-0', 0], ['007', 7]] as const) {
      process.env.CODER_PROC_TEST = raw;
      expect(env.readIntegerVariable('CODER_PROC_TEST', range)).toBe(value);
    }
    delete process.env.CODER_PROC_TEST;
    expect(env.readIntegerVariable('CODER_PROC_TEST', range)).toBeUndefined();
  });

  it('rejects a value with whitespace with one PROCGUARD_INVALID_VARIABLE warning per value', async () => {
    const { env } = await fresh();
    const emitted: { message: string; code?: string }[] = [];
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(((message: string, options: { code?: string }) => {
      emitted.push({ message, code: options?.code });
    }) as typeof process.emitWarning);
    try {
      for (const raw of [' 5', '5\n', ' 5', '\t-3 ', '5\n']) {
        process.env.CODER_PROC_TEST = raw;
        expect(env.readIntegerVariable('CODER_PROC_TEST', { min: -1000, max: 1000 })).toBeUndefined();
      }
    } finally {
      spy.mockRestore();
    }
    expect(emitted.map((w) => w.code)).toEqual(['PROCGUARD_INVALID_VARIABLE', 'PROCGUARD_INVALID_VARIABLE', 'PROCGUARD_INVALID_VARIABLE']);
    expect(emitted[0].message).toBe('procguard: ignoring CODER_PROC_TEST=" 5": must be an integer from -1000 to 1000; using the default');
  });
});
