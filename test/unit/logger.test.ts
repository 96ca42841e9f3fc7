import { describe, expect, it, vi } from 'vitest';
import { defaultLogger, formatLine, logger } from '../../lib/logger';

describe('default logger', () => {
  it('writes one prefixed line per message to stderr, with fields as key=value', () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      defaultLogger.info('process priority management enabled', { CODER_PROC_PRIO_MGMT: '1', os: 'linux' });
      defaultLogger.warn('two\nlines', { reason: 'has spaces', empty: '', unset: undefined, n: -5, list: ['a', 'b'] });
    } finally {
      spy.mockRestore();
    }
    expect(written).toEqual([
      'procguard: process priority management enabled CODER_PROC_PRIO_MGMT=1 os=linux\n',
      'procguard: two\\nlines reason="has spaces" empty="" unset=<unset> n=-5 list=["a","b"]\n',
    ]);
  });

  it('is the configured logger until configure() sets another', () => {
    expect(logger()).toBe(defaultLogger);
  });

  it('formats a circular field without throwing', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(formatLine('m', { circular })).toBe('procguard: m circular=[object Object]');
  });
});
