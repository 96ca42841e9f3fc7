// Node's behaviour to the letter, where procguard once differed: each case runs through
// node:child_process and through procguard and what is observable must be equal, on the Node
// version running (Node 24 differs from Node 20 in DEP0190 and in how it quotes values).
import { describe, it, expect } from 'vitest';
import * as cp from 'node:child_process';
import { promisify } from 'node:util';
import * as pg from 'procguard';
import { errnoException, errnoName } from '../lib/errors';
import { procguardDirsOf } from './helpers/cgroup';
import { errorFields, record, sleep } from './helpers/proc';
import { inBoth as scriptInBoth, lastJson } from './helpers/run-node';

type Impl = typeof cp;
const impls: [string, Impl][] = [['node', cp], ['procguard', pg as unknown as Impl]];

/** The same scenario through node, then procguard: equal results. */
async function same<T>(scenario: (impl: Impl) => Promise<T> | T): Promise<T> {
  const expected = await scenario(cp);
  const actual = await scenario(pg as unknown as Impl);
  expect(actual).toEqual(expected);
  return actual;
}

function thrown(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    return { ...errorFields(err), string: String(err) };
  }
  return { notThrown: true };
}

describe("Node's behaviour to the letter", () => {
  it("ignores an empty cwd in the async functions; spawnSync fails with ENOENT, as Node's", async () => {
    const result = await same(async (impl) => {
      const child = impl.spawn('pwd', { cwd: '' });
      let out = '';
      child.stdout!.on('data', (d) => { out += d; });
      const rec = record(child);
      await rec.closed;
      const sync = impl.spawnSync('pwd', { cwd: '' });
      return { events: rec.events, out, syncError: (sync.error as NodeJS.ErrnoException | undefined)?.code, execFile: await promisify(impl.execFile)('pwd', { cwd: '' }).then((r) => r.stdout) };
    });
    expect(result.out).toBe(`${process.cwd()}\n`);
    expect(result.syncError).toBe('ENOENT');
  });

  it.each(['exec', 'execFile'] as const)('util.promisify(%s) throws argument errors synchronously', async (name) => {
    await same((impl) => {
      const promised = promisify(impl[name]) as (...a: unknown[]) => Promise<unknown>;
      return thrown(() => promised('true', { signal: {} }));
    });
    await same((impl) => thrown(() => (promisify(impl[name]) as (...a: unknown[]) => Promise<unknown>)(5)));
  });

  it.each([
    ['timeout: -1', (impl: Impl) => impl.spawn('true', { timeout: -1 })],
    ['a number as the command', (impl: Impl) => impl.spawn(5 as never)],
    ['killSignal: {}', (impl: Impl) => impl.spawn('true', { killSignal: {} as never })],
    ['killSignal: {} (sync)', (impl: Impl) => impl.spawnSync('true', { killSignal: {} as never })],
    ['a long string as uid', (impl: Impl) => impl.spawn('true', { uid: 'a'.repeat(40) as never })],
    ["a long string with a quote as gid", (impl: Impl) => impl.spawn('true', { gid: "it's".repeat(10) as never })],
    ['maxBuffer: -1', (impl: Impl) => impl.execFile('true', { maxBuffer: -1 })],
    ['a huge timeout', (impl: Impl) => impl.spawnSync('true', { timeout: 2 ** 40 + 0.5 })],
    ['stdio: "bogus"', (impl: Impl) => impl.spawnSync('true', { stdio: 'bogus' as never })],
  ])('the same error, message and String(err) (`RangeError [ERR_OUT_OF_RANGE]: ...`): %s', async (_, call) => {
    const result = await same((impl) => thrown(() => call(impl)));
    expect(result.string).toMatch(/^\w+ \[ERR_[A-Z_]+\]: /);
  });

  it("argv0: execFile and exec validate it and leave $0 alone, execFileSync uses it, as Node's", async () => {
    const result = await same(async (impl) => {
      const echo0 = ['-c', 'echo $0'];
      const execFile = await promisify(impl.execFile)('/bin/sh', echo0, { argv0: 'renamed' }).then((r) => r.stdout);
      const exec = await promisify(impl.exec)('echo $0', { argv0: 'renamed' } as never).then((r) => r.stdout);
      const execFileSync = impl.execFileSync('/bin/sh', echo0, { argv0: 'renamed', encoding: 'utf8' });
      const badArgv0 = thrown(() => impl.execFile('/bin/sh', echo0, { argv0: 5 as never }));
      return { execFile, exec, execFileSync, badArgv0 };
    });
    expect(result.execFile).toBe('/bin/sh\n');
    expect(result.execFileSync).toBe('renamed\n');
  });

  it('names errnos as Node does: EAGAIN, not its alias EWOULDBLOCK; ENOTSUP, not EOPNOTSUPP', () => {
    expect(errnoName(11)).toBe('EAGAIN');
    expect(errnoName(95)).toBe('ENOTSUP');
    expect(errnoException(11, 'spawn x')).toMatchObject({ code: 'EAGAIN', errno: -11, message: 'spawn x EAGAIN' });
  });

  it('warns DEP0190 for args with a shell exactly when the running Node does (Node 24 on), once', () => {
    const { node, procguard } = scriptInBoth(`
      const codes = [];
      process.on('warning', (w) => codes.push([w.name, w.code, w.message]));
      cp.spawnSync('echo', ['a'], { shell: true });
      cp.execFileSync('echo', ['b'], { shell: true });
      cp.spawnSync('echo a', { shell: true });
      setImmediate(() => console.log(JSON.stringify(codes)));
    `);
    expect(lastJson(procguard)).toEqual(lastJson(node));
    expect(lastJson(node)).toHaveLength(Number(process.versions.node.split('.')[0]) >= 24 ? 1 : 0);
    const withoutPid = (text: string) => text.replace(/^\(node:\d+\)/gm, '(node:PID)');
    expect(withoutPid(procguard.stderr)).toBe(withoutPid(node.stderr));
  });

  it('spawnSync takes a sparse stdio array as Node does, and leaves no cgroup behind', async () => {
    const sparse = ['pipe', , 'pipe', , 'pipe'] as cp.StdioOptions; // eslint-disable-line no-sparse-arrays
    await same((impl) => {
      const r = impl.spawnSync('sh', ['-c', 'echo out; echo err >&2'], { stdio: sparse });
      return { error: r.error, status: r.status, output: r.output?.map((b) => b && String(b)) };
    });
    const r = pg.spawnSync('sh', ['-c', 'echo out'], { stdio: sparse, cgroup: { memoryMax: '64M' } });
    expect(r.status).toBe(0);
    for (let i = 0; i < 100 && procguardDirsOf(process.pid).length > 0; i++) await sleep(20);
    expect(procguardDirsOf(process.pid)).toEqual([]);
  });

  it('fork with a non-array execArgv: characters of a string, a TypeError for anything not iterable, as Node', async () => {
    for (const execArgv of [5, { a: 1 }, true]) {
      await same((impl) => thrown(() => impl.fork('/nonexistent.js', { execArgv: execArgv as never, stdio: 'ignore' })));
    }
    await same(async (impl) => {
      const child = impl.fork('/nonexistent.js', { execArgv: '-e' as never, stdio: 'ignore' });
      const rec = record(child);
      await rec.closed;
      return child.spawnargs;
    });
  });

  it('null means unset for strict, oomScoreAdj and nice, as for Node\'s options', () => {
    for (const [name, impl] of impls) {
      const r = impl.spawnSync('true', { strict: null, oomScoreAdj: null, nice: null } as never);
      expect(r.status, name).toBe(0);
    }
  });
});

