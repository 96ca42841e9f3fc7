// Failures look exactly as with node:child_process: the same thrown errors for invalid arguments,
// and for a spawn that cannot start the same error fields and the same events ('error', 'close').
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as pg from 'procguard';
import { childrenOf, errorFields, firstOf, record } from './helpers/proc';

type Impl = Pick<typeof cp, 'spawn' | 'exec' | 'execFile'>;
const node: Impl = cp;
const guard: Impl = pg as unknown as Impl;

let dir: string;
let notExecutable: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-errors-'));
  notExecutable = path.join(dir, 'not-executable');
  fs.writeFileSync(notExecutable, '#!/bin/sh\necho ran\n', { mode: 0o644 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Everything observable about a spawn that is expected to fail. */
async function failedSpawn(impl: Impl, file: string, args: string[], options: cp.SpawnOptions = {}) {
  let child: cp.ChildProcess;
  try {
    child = impl.spawn(file, args, options);
  } catch (err) {
    return { thrown: errorFields(err) };
  }
  const rec = record(child);
  await rec.closed;
  return {
    events: rec.events,
    error: errorFields(rec.args.error?.[0]),
    exitArgs: rec.args.exit,
    closeArgs: rec.args.close,
    pid: child.pid,
    exitCode: child.exitCode,
    signalCode: child.signalCode,
    killed: child.killed,
    spawnfile: child.spawnfile,
    spawnargs: child.spawnargs,
  };
}

describe('a spawn that cannot start', () => {
  // how node reports each: an 'error' event (then 'close'), or a synchronous throw
  const cases: [string, 'event' | 'throw', () => [string, string[], cp.SpawnOptions]][] = [
    ['ENOENT for a command not on the PATH', 'event', () => ['procguard-no-such-command', ['a', 'b'], {}]],
    ['ENOENT for a missing absolute path', 'event', () => ['/nonexistent/dir/cmd', [], {}]],
    ['ENOENT for a command not on the PATH of a caller-given env', 'event', () => ['ls', [], { env: { PATH: '/nonexistent' } }]],
    ['EACCES for a non-executable file', 'event', () => [notExecutable, ['x'], {}]],
    ['EACCES for a directory', 'event', () => [dir, [], {}]],
    ['ENOENT for a cwd that does not exist', 'event', () => ['true', [], { cwd: '/nonexistent-cwd' }]],
    ['ENOTDIR for a cwd that is a file', 'throw', () => ['true', [], { cwd: notExecutable }]],
  ];

  it.each(cases)('gives %s the same way (%s) and with the same fields as node:child_process', async (_name, how, make) => {
    const [file, args, options] = make();
    const expected = await failedSpawn(node, file, args, options);
    // what node does, for the record
    if (how === 'event') expect(expected.events).toEqual(['error', 'close']);
    else expect(expected.thrown).toBeDefined();
    const actual = await failedSpawn(guard, file, args, options);
    expect(actual).toEqual(expected);
  });

  it('leaves no child and no zombie behind after failed spawns', async () => {
    for (const [, , make] of cases) await failedSpawn(guard, ...make());
    expect(childrenOf()).toEqual([]);
  });

  it('never emits \'spawn\' nor \'exit\' for a failed spawn', async () => {
    const child = pg.spawn('procguard-no-such-command');
    const rec = record(child);
    await rec.closed;
    expect(rec.counts.spawn).toBeUndefined();
    expect(rec.counts.exit).toBeUndefined();
    expect(rec.counts.error).toBe(1);
    expect(rec.counts.close).toBe(1);
  });
});

describe('invalid arguments throw what node:child_process throws', () => {
  const spawnCases: [string, unknown[]][] = [
    ['spawn(123)', [123]],
    ['spawn()', []],
    ["spawn('')", ['']],
    ["spawn('ls', 'x')", ['ls', 'x']],
    ["spawn('ls', [], 1)", ['ls', [], 1]],
    ['cwd: 1', ['ls', [], { cwd: 1 }]],
    ['argv0: 1', ['ls', [], { argv0: 1 }]],
    ["detached: 'y'", ['ls', [], { detached: 'y' }]],
    ["uid: 'a'", ['ls', [], { uid: 'a' }]],
    ['uid: -1', ['ls', [], { uid: -1 }]],
    ['uid: 2 ** 32', ['ls', [], { uid: 2 ** 32 }]],
    ['gid: 1.5', ['ls', [], { gid: 1.5 }]],
    ['shell: 1', ['ls', [], { shell: 1 }]],
    ['signal: {}', ['ls', [], { signal: {} }]],
    ['timeout: -1', ['ls', [], { timeout: -1 }]],
    ["timeout: '1'", ['ls', [], { timeout: '1' }]],
    ["killSignal: 'SIGFOO'", ['ls', [], { killSignal: 'SIGFOO' }]],
    ['killSignal: 999', ['ls', [], { killSignal: 999 }]],
    ["stdio: 'foo'", ['ls', [], { stdio: 'foo' }]],
    ['stdio: 1', ['ls', [], { stdio: 1 }]],
    ["stdio: ['foo']", ['ls', [], { stdio: ['foo'] }]],
    ['stdio: [{}]', ['ls', [], { stdio: [{}] }]],
    ['windowsHide: 1', ['ls', [], { windowsHide: 1 }]],
    ['a null byte in file', ['ls\0x']],
    ['a null byte in an argument', ['ls', ['a\0b']]],
    ['a null byte in an env value', ['ls', [], { env: { A: 'a\0b' } }]],
    ['a null byte in an env name', ['ls', [], { env: { 'A\0': 'b' } }]],
    ['a null byte in cwd', ['ls', [], { cwd: '/tmp\0x' }]],
  ];
  const execCases: [string, 'exec' | 'execFile', unknown[]][] = [
    ['exec(123)', 'exec', [123]],
    ['execFile(123)', 'execFile', [123]],
    ["execFile('ls', 'x', cb)", 'execFile', ['ls', 'x', () => {}]],
    ["execFile('ls', [], {}, 1)", 'execFile', ['ls', [], {}, 1]],
    ['exec maxBuffer: -1', 'exec', ['ls', { maxBuffer: -1 }]],
    ["exec maxBuffer: 'x'", 'exec', ['ls', { maxBuffer: 'x' }]],
    ['exec timeout: -1', 'exec', ['ls', { timeout: -1 }]],
    ["exec killSignal: 'NOPE'", 'exec', ['ls', { killSignal: 'NOPE' }]],
    ['exec cwd: 1', 'exec', ['ls', { cwd: 1 }]],
  ];

  function thrownBy(fn: () => unknown): Record<string, unknown> {
    try {
      const result = fn() as cp.ChildProcess | undefined;
      result?.on?.('error', () => {});
      result?.kill?.();
    } catch (err) {
      return errorFields(err);
    }
    return { didNotThrow: true };
  }

  it.each(spawnCases)('%s', (_name, args) => {
    const expected = thrownBy(() => (cp.spawn as (...a: unknown[]) => unknown)(...args));
    expect(expected.didNotThrow).toBeUndefined();
    const actual = thrownBy(() => (pg.spawn as (...a: unknown[]) => unknown)(...args));
    expect(actual).toEqual(expected);
  });

  it.each(execCases)('%s', (_name, fn, args) => {
    const expected = thrownBy(() => (cp[fn] as (...a: unknown[]) => unknown)(...args));
    expect(expected.didNotThrow).toBeUndefined();
    const actual = thrownBy(() => (pg[fn] as (...a: unknown[]) => unknown)(...args));
    expect(actual).toEqual(expected);
  });

  it('shows the Node-style code in the stack\'s first line, as node does (outside vitest, whose stack formatting differs)', () => {
    const script = `
      const firstLine = (fn) => { try { fn(); } catch (e) { return e.stack.split('\\n')[0]; } return 'did not throw'; };
      console.log(JSON.stringify([
        firstLine(() => require('node:child_process').spawn(123)),
        firstLine(() => require('procguard').spawn(123)),
        firstLine(() => require('node:child_process').exec('ls', { maxBuffer: -1 })),
        firstLine(() => require('procguard').exec('ls', { maxBuffer: -1 })),
      ]));`;
    const out = cp.execFileSync(process.execPath, ['-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    const [nodeSpawn, guardSpawn, nodeExec, guardExec] = JSON.parse(out) as string[];
    expect(nodeSpawn).toBe('TypeError [ERR_INVALID_ARG_TYPE]: The "file" argument must be of type string. Received type number (123)');
    expect(guardSpawn).toBe(nodeSpawn);
    expect(guardExec).toBe(nodeExec);
  });
});

describe("'ipc' in stdio", () => {
  it('gives a node child a working IPC channel, as node:child_process does', async () => {
    const script = "process.on('message', (m) => { process.send({ echo: m }); process.disconnect(); });";
    const results = [];
    for (const impl of [cp, pg as unknown as typeof cp]) {
      const child = impl.spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] });
      const rec = record(child);
      child.send({ hi: 1 });
      await rec.closed;
      results.push({ events: rec.events, message: rec.args.message?.[0], exit: rec.args.exit, connected: child.connected });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[1].message).toEqual({ echo: { hi: 1 } });
  });
});
