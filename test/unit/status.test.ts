import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as fs from 'node:fs';
import { captureLogger, isolateEnv } from './capture-logger';

async function fresh() {
  vi.resetModules();
  const config = await import('../../lib/config');
  const capture = captureLogger();
  config.configure({ logger: capture.logger });
  return { config, status: (await import('../../lib/status')).status, native: await import('../../lib/native'), ...capture };
}

let restoreEnv: () => void;
beforeEach(() => { restoreEnv = isolateEnv('CODER_PROC_', 'MYAGENT_'); });
afterEach(() => restoreEnv());

describe('status()', () => {
  it('gives the whole picture', async () => {
    process.env.CODER_PROC_PRIO_MGMT = '';
    process.env.CODER_PROC_NICE_SCORE = '4';
    const { status, config, native } = await fresh();
    const loaded = native.loadNative();
    const s = status();
    const oom = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
    expect(s).toMatchObject({
      ...config.managementState(),
      platform: 'linux',
      native: loaded.binding !== null,
      agent: { pid: process.pid, oomScoreAdj: oom },
      envPrefix: 'CODER_PROC_',
      env: { CODER_PROC_PRIO_MGMT: '', CODER_PROC_OOM_SCORE: undefined, CODER_PROC_NICE_SCORE: '4' },
      childDefaults: { oomScoreAdj: oom < 0 ? 0 : oom >= 998 ? 1000 : 998, nice: 4, schedPolicy: null, ioPriority: null, source: { oomScoreAdj: 'computed', nice: 'env', schedPolicy: 'default', ioPriority: 'default' } },
    });
    expect(Object.keys(s.env)).toEqual(['CODER_PROC_PRIO_MGMT', 'CODER_PROC_OOM_SCORE', 'CODER_PROC_NICE_SCORE', 'CODER_PROC_SCHED_POLICY', 'CODER_PROC_IO_PRIORITY']);
    expect(s.agent.capSysNice).toBeTypeOf('boolean');
    expect(s.agent.capSysResource).toBeTypeOf('boolean');
    if (loaded.binding) {
      expect(s.agent.dumpable).toBeTypeOf('number');
      expect(s.pidfd).toBeTypeOf('boolean');
    } else {
      expect(s).toMatchObject({ nativeError: loaded.error, pidfd: null, agent: { dumpable: null } });
      expect(s.enabled).toBe(false);
    }
  });

  it('uses the configured prefix and logs the startup line once', async () => {
    process.env.MYAGENT_OOM_SCORE = '-7';
    const { status, config, lines } = await fresh();
    config.configure({ envPrefix: 'MYAGENT_' });
    const s = status();
    status();
    expect(s.envPrefix).toBe('MYAGENT_');
    expect(s.env).toEqual({ MYAGENT_PRIO_MGMT: undefined, MYAGENT_OOM_SCORE: '-7', MYAGENT_NICE_SCORE: undefined });
    expect(s.childDefaults).toMatchObject({ oomScoreAdj: -7, source: { oomScoreAdj: 'env' } });
    expect(s).toMatchObject({ enabled: false, reason: 'MYAGENT_PRIO_MGMT is not set' });
    expect(lines.map((line) => line.message)).toEqual(['process priority management not enabled']);
  });
});
