import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';

async function fresh() {
  vi.resetModules();
  return import('../../lib/logger');
}

afterEach(() => vi.restoreAllMocks());

describe('logger', () => {
  it('writes nothing to stderr by default: no logger, information only to debuglog', async () => {
    const { defaultLogger, info, logger } = await fresh();
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    expect(logger()).toBe(defaultLogger);
    info('process priority management not enabled', { CODER_PROC_PRIO_MGMT: undefined });
    expect(written).toEqual([]);
  });

  it('shows information with NODE_DEBUG=procguard, as util.debuglog does', () => {
    const script = `require(${JSON.stringify(require.resolve('../../dist/cjs/logger.js'))}).info('hello there', { a: 'b c', n: 5 })`;
    const run = (env: Record<string, string>) => spawnSync(process.execPath, ['-e', script], { env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8' });
    expect(run({}).stderr).toBe('');
    expect(run({ NODE_DEBUG: 'procguard' }).stderr).toMatch(/^PROCGUARD \d+: hello there a="b c" n=5\n$/);
  });

  it('warns through process.emitWarning with the code, once per code, message and fields', async () => {
    const { warning } = await fresh();
    const emitted: unknown[][] = [];
    vi.spyOn(process, 'emitWarning').mockImplementation(((...args: unknown[]) => void emitted.push(args)) as typeof process.emitWarning);
    warning('PROCGUARD_X', 'two\nlines', { reason: 'has spaces', empty: '', unset: undefined, n: -5, list: ['a', 'b'] });
    warning('PROCGUARD_X', 'two\nlines', { reason: 'has spaces', empty: '', unset: undefined, n: -5, list: ['a', 'b'] });
    warning('PROCGUARD_X', 'two\nlines', { reason: 'another value' });
    expect(emitted).toEqual([
      ['procguard: two\\nlines reason="has spaces" empty="" unset=<unset> n=-5 list=["a","b"]', { code: 'PROCGUARD_X' }],
      ['procguard: two\\nlines reason="another value"', { code: 'PROCGUARD_X' }],
    ]);
  });

  it('hands information and warnings (with their code) to a configured logger too', async () => {
    const { info, setLogger, warning } = await fresh();
    vi.spyOn(process, 'emitWarning').mockImplementation((() => {}) as typeof process.emitWarning);
    const seen: unknown[][] = [];
    setLogger({ info: (...a: unknown[]) => void seen.push(['info', ...a]), warn: (...a: unknown[]) => void seen.push(['warn', ...a]) });
    info('m', { k: 1 });
    warning('PROCGUARD_Y', 'w', { k: 2 });
    warning('PROCGUARD_Y', 'w', { k: 2 });
    expect(seen).toEqual([['info', 'm', { k: 1 }], ['warn', 'w', { k: 2 }, 'PROCGUARD_Y']]);
  });

  it('formats a circular field without throwing', async () => {
    const { formatLine } = await fresh();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(formatLine('m', { circular })).toBe('procguard: m circular=[object Object]');
  });
});
