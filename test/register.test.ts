// install(), uninstall() and procguard/register: libraries used unchanged (execa, tinyexec,
// cross-spawn) and code holding node:child_process's functions get procguard's children while it
// is installed, and Node's again after uninstall(). Each case runs in an agent process of its own
// (CODER_PROC_PRIO_MGMT set, CODER_PROC_OTHER to be stripped); every child reports what it was
// started with (test/fixtures/report-child.cjs).
import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import { FIXTURES } from './helpers/agent';
import { lastJson, runNode } from './helpers/run-node';

const AGENT_ENV = { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_OTHER: 'x' };
const GUARDED = { oom: 998, nice: 5, guardEnv: [] };

/** What every child reported, keyed by how it was started. */
type Children = Record<string, { oom: number; nice: number; guardEnv: string[] }>;

function expectAll(children: Children, expected: object): void {
  expect(Object.keys(children).length).toBeGreaterThan(0);
  for (const [how, view] of Object.entries(children)) expect(view, how).toEqual(expected);
}

describe('procguard/register', () => {
  it('routes execa, execaSync, tinyexec, cross-spawn and named imports of node:child_process through procguard (node --import procguard/register), and not after uninstall()', () => {
    const run = runNode('', { file: path.join(FIXTURES, 'register-esm.mjs'), nodeArgs: ['--import', 'procguard/register'], env: AGENT_ENV, nice: 0 });
    const r = lastJson(run);
    expect(r.installed.isInstalled).toBe(true);
    expect(r.installed.namedIsProcguard).toBe(true);
    expect(Object.keys(r.installed.children)).toEqual(['execa', 'execaSync', 'tinyexec', 'crossSpawn', 'crossSpawnSync', 'namedSpawn', 'namedExecFileSync', 'namedFork', 'namespaceSpawn']);
    expectAll(r.installed.children, GUARDED);
    expect(r.uninstalled.isInstalled).toBe(false);
    expect(r.uninstalled.namedIsProcguard).toBe(false);
    expectAll(r.uninstalled.children, { oom: r.agent.oom, nice: r.agent.nice, guardEnv: ['CODER_PROC_OTHER', 'CODER_PROC_PRIO_MGMT'] });
  });

  it('routes cross-spawn and every function of require(\'child_process\') through procguard (node --require procguard/register), and not after uninstall()', () => {
    const run = runNode('', { file: path.join(FIXTURES, 'register-cjs.cjs'), nodeArgs: ['--require', 'procguard/register'], env: AGENT_ENV, nice: 0 });
    const r = lastJson(run);
    expect(r.installed.isInstalled).toBe(true);
    expect(Object.keys(r.installed.children)).toEqual(['crossSpawn', 'crossSpawnSync', 'spawn', 'exec', 'execFile', 'spawnSync', 'execSync', 'execFileSync', 'fork']);
    expectAll(r.installed.children, GUARDED);
    expect(r.uninstalled.isInstalled).toBe(false);
    expectAll(r.uninstalled.children, { oom: r.agent.oom, nice: r.agent.nice, guardEnv: ['CODER_PROC_OTHER', 'CODER_PROC_PRIO_MGMT'] });
  });

  it("installs with a static `import 'procguard/register'` at the top of an ES module", () => {
    const script = `
      import 'procguard/register';
      import { execFileSync } from 'node:child_process';
      import { isInstalled } from 'procguard';
      const view = JSON.parse(execFileSync(process.execPath, [${JSON.stringify(path.join(FIXTURES, 'report-child.cjs'))}], { encoding: 'utf8' }));
      console.log(JSON.stringify({ installed: isInstalled(), view }));
    `;
    const r = lastJson(runNode(script, { nodeArgs: ['--input-type=module'], env: AGENT_ENV, nice: 0 }));
    expect(r).toEqual({ installed: true, view: GUARDED });
  });
});

describe('silence under register', () => {
  // A program that spawns with every function, through node:child_process, and writes to
  // stderr itself; run as it is and under --require procguard/register.
  const script = `
    const cp = require('node:child_process');
    process.stderr.write('own line\\n');
    cp.spawnSync('true');
    cp.execSync('true');
    cp.execFileSync('true');
    const child = cp.spawn('sh', ['-c', 'echo child-err >&2'], { stdio: 'inherit' });
    child.on('close', () => cp.exec('true', () => cp.execFile('true', () => {
      cp.fork(${JSON.stringify(path.join(FIXTURES, 'report-child.cjs'))}).on('exit', () => process.stderr.write('done\\n'));
    })));
  `;
  const inEnv = (env: Record<string, string>) => ({
    plain: runNode(script, { env }),
    registered: runNode(script, { env, nodeArgs: ['--require', 'procguard/register'] }),
  });

  it.each([
    ['management off', {}],
    ['management on', AGENT_ENV],
  ])("leaves a Node program's stderr byte-identical to plain Node's (%s)", (_, env) => {
    const { plain, registered } = inEnv(env);
    expect(plain.stderr).toBe('own line\nchild-err\ndone\n');
    expect(registered.stderr).toBe(plain.stderr);
    expect(registered.status).toBe(plain.status);
  });

  it('says what it found with NODE_DEBUG=procguard', () => {
    const { registered } = inEnv({ ...AGENT_ENV, NODE_DEBUG: 'procguard' });
    expect(registered.stderr).toMatch(/^PROCGUARD \d+: process priority management enabled CODER_PROC_PRIO_MGMT=1 os=linux/m);
  });
});

describe('install() and uninstall()', () => {
  const r = () => lastJson(runNode('', { file: path.join(FIXTURES, 'register-identity.mjs'), env: AGENT_ENV, nice: 0 }));
  const all = (who: string) => Array(7).fill(who);

  it('makes a named import taken before install() see procguard\'s functions (ESM live binding), as the namespace, default export and require() do', () => {
    const { before, installed, agentOom } = r();
    expect(before.isInstalled).toBe(false);
    for (const view of ['named', 'namespace', 'default', 'require']) {
      expect(before.whose[view], view).toEqual(all('node'));
      expect(installed.whose[view], view).toEqual(all('procguard'));
    }
    expect(installed.isInstalled).toBe(true);
    expect(before.child).toEqual({ oom: agentOom, nice: 0, guardEnv: ['CODER_PROC_OTHER', 'CODER_PROC_PRIO_MGMT'] });
    expect(installed.child).toEqual(GUARDED);
  });

  it('puts back the very functions node had (===) everywhere, and both are idempotent', () => {
    const { uninstalled, again, agentOom } = r();
    for (const view of ['named', 'namespace', 'default', 'require']) {
      expect(uninstalled.whose[view], view).toEqual(all('node'));
      expect(again.whose[view], view).toEqual(all('node'));
    }
    expect(uninstalled.isInstalled).toBe(false);
    expect(uninstalled.child).toEqual({ oom: agentOom, nice: 0, guardEnv: ['CODER_PROC_OTHER', 'CODER_PROC_PRIO_MGMT'] });
  });

  it("cannot reach a function copied out of require('child_process') before install() (load procguard/register first)", () => {
    expect(r().installed.destructuredEarlyIsNode).toBe(true);
  });
});
