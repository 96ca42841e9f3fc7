import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { captureLogger, isolateEnv } from './capture-logger';

async function fresh() {
  vi.resetModules();
  const config = await import('../../lib/config');
  const native = await import('../../lib/native');
  const capture = captureLogger();
  config.configure({ logger: capture.logger });
  return { config, native, ...capture };
}

let restoreEnv: () => void;
beforeEach(() => { restoreEnv = isolateEnv('CODER_PROC_', 'MYAGENT_'); });
afterEach(() => restoreEnv());

describe('configure() checks', () => {
  it.each([
    [null, 'ERR_INVALID_ARG_TYPE', 'The "options" argument must be of type object. Received null'],
    ['on', 'ERR_INVALID_ARG_TYPE', 'The "options" argument must be of type object. Received type string (\'on\')'],
    [{ enabled: 'yes' }, 'ERR_INVALID_ARG_TYPE', 'The "options.enabled" property must be of type boolean. Received type string (\'yes\')'],
    [{ envPrefix: 5 }, 'ERR_INVALID_ARG_TYPE', 'The "options.envPrefix" property must be of type string. Received type number (5)'],
    [{ envPrefix: '' }, 'ERR_INVALID_ARG_VALUE', "The property 'options.envPrefix' must match /^[A-Za-z_][A-Za-z0-9_]*$/. Received ''"],
    [{ envPrefix: '1X_' }, 'ERR_INVALID_ARG_VALUE', "The property 'options.envPrefix' must match /^[A-Za-z_][A-Za-z0-9_]*$/. Received '1X_'"],
    [{ envPrefix: 'A-B' }, 'ERR_INVALID_ARG_VALUE', "The property 'options.envPrefix' must match /^[A-Za-z_][A-Za-z0-9_]*$/. Received 'A-B'"],
    [{ logger: console.log }, 'ERR_INVALID_ARG_TYPE', 'The "options.logger" property must be an object with info() and warn() methods. Received function log'],
    [{ logger: { info() {} } }, 'ERR_INVALID_ARG_TYPE', 'The "options.logger" property must be an object with info() and warn() methods. Received an instance of Object'],
    [{ cgroupParent: '/nonexistent' }, 'ERR_INVALID_ARG_VALUE', "The property 'options.cgroupParent' must be an existing cgroup v2 directory the agent can write; it cannot be used (ENOENT). Received '/nonexistent'"],
    [{ cgroupParent: '/proc' }, 'ERR_INVALID_ARG_VALUE', "The property 'options.cgroupParent' must be an existing cgroup v2 directory the agent can write; it is not a cgroup directory (no cgroup.procs in it). Received '/proc'"],
    [{ cgroupParent: '/proc/self/cgroup' }, 'ERR_INVALID_ARG_VALUE', "The property 'options.cgroupParent' must be an existing cgroup v2 directory the agent can write; it is not a directory. Received '/proc/self/cgroup'"],
  ])('%o -> %s', async (options, code, message) => {
    const { config } = await fresh();
    expect(() => config.configure(options as never)).toThrow(expect.objectContaining({ code, message }));
  });

  it('applies nothing when any setting is invalid, and ignores unknown keys', async () => {
    const { config, logger } = await fresh();
    expect(() => config.configure({ enabled: true, envPrefix: 'bad-prefix' })).toThrow();
    expect(config.currentConfig()).toEqual({ enabled: undefined, envPrefix: 'CODER_PROC_', logger });
    config.configure({ somethingElse: 1 } as never);
    expect(config.currentConfig()).toEqual({ enabled: undefined, envPrefix: 'CODER_PROC_', logger });
  });

  it('changes only the keys given; undefined restores the default', async () => {
    const { config, logger } = await fresh();
    config.configure({ enabled: false, envPrefix: 'MYAGENT_' });
    config.configure({});
    expect(config.currentConfig()).toEqual({ enabled: false, envPrefix: 'MYAGENT_', logger });
    config.configure({ enabled: undefined, envPrefix: undefined, logger: undefined });
    const { defaultLogger } = await import('../../lib/logger');
    expect(config.currentConfig()).toEqual({ enabled: undefined, envPrefix: 'CODER_PROC_', logger: defaultLogger });
  });
});

describe('management on or off', () => {
  it('off when the variable is absent', async () => {
    const { config } = await fresh();
    expect(config.managementRequested()).toEqual({ requested: false, reason: 'CODER_PROC_PRIO_MGMT is not set' });
    expect(config.managementState()).toEqual({ enabled: false, reason: 'CODER_PROC_PRIO_MGMT is not set' });
  });

  it.each(['1', '', '0', 'false'])('asked for when the variable is present, whatever its value (%j)', async (value) => {
    process.env.CODER_PROC_PRIO_MGMT = value;
    const { config } = await fresh();
    expect(config.managementRequested()).toEqual({ requested: true, reason: 'CODER_PROC_PRIO_MGMT is set' });
  });

  it('enabled only with the native addon loaded, else the reason says why', async () => {
    process.env.CODER_PROC_PRIO_MGMT = '1';
    const { config, native } = await fresh();
    const loaded = native.loadNative();
    if (loaded.binding) {
      expect(config.managementState()).toEqual({ enabled: true, reason: 'CODER_PROC_PRIO_MGMT is set' });
    } else {
      expect(config.managementState()).toEqual({
        enabled: false,
        reason: `CODER_PROC_PRIO_MGMT is set, but the native addon did not load: ${loaded.error}`,
      });
    }
  });

  it('configure({ enabled }) overrides the environment; undefined follows it again', async () => {
    const { config } = await fresh();
    config.configure({ enabled: true });
    expect(config.managementRequested()).toEqual({ requested: true, reason: 'configure({ enabled: true })' });
    process.env.CODER_PROC_PRIO_MGMT = '1';
    config.configure({ enabled: false });
    expect(config.managementRequested()).toEqual({ requested: false, reason: 'configure({ enabled: false })' });
    expect(config.managementState()).toEqual({ enabled: false, reason: 'configure({ enabled: false })' });
    config.configure({ enabled: undefined });
    expect(config.managementRequested()).toEqual({ requested: true, reason: 'CODER_PROC_PRIO_MGMT is set' });
    delete process.env.CODER_PROC_PRIO_MGMT;
    expect(config.managementRequested().requested).toBe(false);
  });

  it('follows the variable of the configured prefix', async () => {
    process.env.CODER_PROC_PRIO_MGMT = '1';
    const { config } = await fresh();
    config.configure({ envPrefix: 'MYAGENT_' });
    expect(config.managementRequested()).toEqual({ requested: false, reason: 'MYAGENT_PRIO_MGMT is not set' });
    process.env.MYAGENT_PRIO_MGMT = '';
    expect(config.managementRequested()).toEqual({ requested: true, reason: 'MYAGENT_PRIO_MGMT is set' });
    expect(config.variableNames()).toEqual({
      prioMgmt: 'MYAGENT_PRIO_MGMT', oomScore: 'MYAGENT_OOM_SCORE', niceScore: 'MYAGENT_NICE_SCORE',
      schedPolicy: 'MYAGENT_SCHED_POLICY', ioPriority: 'MYAGENT_IO_PRIORITY',
    });
  });
});

describe('startup line', () => {
  it('is logged once, at first use, with the variable and the os', async () => {
    process.env.CODER_PROC_PRIO_MGMT = '1';
    const { config, lines } = await fresh();
    expect(lines).toEqual([]); // configure() alone is not a use
    const { resolveChildPriority } = await import('../../lib/priority');
    const { status } = await import('../../lib/status');
    resolveChildPriority({});
    resolveChildPriority({ nice: 3 });
    status();
    config.logStartupOnce();
    const startup = lines.filter((line) => line.message.startsWith('process priority management'));
    expect(startup).toHaveLength(1);
    const { enabled } = config.managementState();
    expect(startup[0]).toMatchObject({
      level: 'info',
      message: enabled ? 'process priority management enabled' : 'process priority management not enabled',
      fields: { CODER_PROC_PRIO_MGMT: '1', os: 'linux' },
    });
  });

  it('says not enabled, with the variable absent', async () => {
    const { config, lines } = await fresh();
    config.logStartupOnce();
    expect(lines).toEqual([{
      level: 'info',
      message: 'process priority management not enabled',
      fields: { CODER_PROC_PRIO_MGMT: undefined, os: 'linux', reason: 'CODER_PROC_PRIO_MGMT is not set' },
    }]);
  });
});
