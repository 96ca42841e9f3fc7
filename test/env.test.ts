// Every child's environment loses the agent's CODER_PROC_* variables (so a nested agent is not
// configured by its parent's settings); every other variable reaches the child untouched.
import { describe, it, expect } from 'vitest';
import { runAgent, oneSleeper, onlyChild } from './helpers/agent';

function without(env: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith(prefix)));
}

const USER_VARS = {
  KEEP_ME: 'yes',
  CODER_AGENT_TOKEN: 'token-123',
  MY_CODER_PROC_THING: 'not a prefix match',
  CODER_PROCESS: 'no underscore after PROC',
  EMPTY_VALUE: '',
  WITH_EQUALS: 'a=b=c',
};

describe('CODER_PROC_* stripping', () => {
  it('strips every CODER_PROC_* variable from a child and keeps the user\'s other variables exactly', async () => {
    const env = { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_OOM_SCORE: '10', CODER_PROC_NICE_SCORE: '1', CODER_PROC_ANYTHING: 'x', ...USER_VARS };
    const run = await runAgent(oneSleeper(), { oomScoreAdj: 0, nice: 0, env });
    const agentEnv = run.result.self.environ;
    expect(agentEnv).toMatchObject(env); // the agent really had them
    const child = onlyChild(run);
    expect(Object.keys(child.proc.environ).filter((k) => k.startsWith('CODER_PROC_'))).toEqual([]);
    expect(child.proc.environ).toEqual(without(agentEnv, 'CODER_PROC_'));
    expect(child.proc.environ).toMatchObject(USER_VARS);
  });

  it('strips CODER_PROC_* from a child even when management is off', async () => {
    const env = { CODER_PROC_OOM_SCORE: '10', CODER_PROC_OTHER: 'y', ...USER_VARS };
    const run = await runAgent(oneSleeper(), { env });
    expect(run.result.statusBefore.enabled).toBe(false);
    const child = onlyChild(run);
    expect(child.proc.environ).toEqual(without(run.result.self.environ, 'CODER_PROC_'));
  });

  it('strips CODER_PROC_* from a caller-given env and passes the rest of it exactly', async () => {
    const given = { A: '1', CODER_PROC_NICE_SCORE: '3', CODER_PROC_PRIO_MGMT: '', CODER_PROC_X: 'z', B: 'two words', PATH: '/usr/bin:/bin' };
    const run = await runAgent(oneSleeper({ env: given }), { env: { CODER_PROC_PRIO_MGMT: '1', AGENT_ONLY: 'agent' } });
    const child = onlyChild(run);
    expect(child.proc.environ).toEqual({ A: '1', B: 'two words', PATH: '/usr/bin:/bin' });
  });

  it('does not let a caller-given env\'s CODER_PROC_* variables change the child\'s priority', async () => {
    const given = { PATH: '/usr/bin:/bin', CODER_PROC_OOM_SCORE: '10', CODER_PROC_NICE_SCORE: '1' };
    const run = await runAgent(oneSleeper({ env: given }), { oomScoreAdj: 0, nice: 0, env: { CODER_PROC_PRIO_MGMT: '1' } });
    expect(onlyChild(run).proc).toMatchObject({ oomScoreAdj: 998, nice: 5 });
  });

  it('strips and reads a custom prefix set with configure({ envPrefix: \'MYAPP_PROC_\' })', async () => {
    const env = { MYAPP_PROC_PRIO_MGMT: '1', MYAPP_PROC_OOM_SCORE: '10', MYAPP_PROC_NICE_SCORE: '1', MYAPP_PROC_OTHER: 'q', ...USER_VARS };
    const run = await runAgent(oneSleeper({}, { configure: { envPrefix: 'MYAPP_PROC_' } }), { oomScoreAdj: 0, nice: 0, env });
    expect(run.result.statusBefore.enabled).toBe(true);
    const child = onlyChild(run);
    expect(child.proc).toMatchObject({ oomScoreAdj: 10, nice: 1 });
    expect(child.proc.environ).toEqual(without(run.result.self.environ, 'MYAPP_PROC_'));
    expect(child.proc.environ).toMatchObject(USER_VARS);
  });

  it('strips a custom prefix from a caller-given env too', async () => {
    const given = { PATH: '/usr/bin:/bin', MYAPP_PROC_X: '1', KEEP: 'k' };
    const run = await runAgent(oneSleeper({ env: given }, { configure: { envPrefix: 'MYAPP_PROC_' } }), { env: {} });
    expect(onlyChild(run).proc.environ).toEqual({ PATH: '/usr/bin:/bin', KEEP: 'k' });
  });
});
