// exec and execFile behave like node:child_process's: the callback's (err, stdout, stderr), the
// error's fields, maxBuffer, encoding, timeout, and util.promisify's { stdout, stderr }.
import { describe, it, expect } from 'vitest';
import * as cp from 'node:child_process';
import { promisify } from 'node:util';
import * as pg from 'procguard';
import { errorFields, record } from './helpers/proc';

type Fn = 'exec' | 'execFile';
const impls: [string, typeof cp][] = [
  ['node:child_process', cp],
  ['procguard', pg as unknown as typeof cp],
];

interface Outcome {
  err: Record<string, unknown> | null;
  stdout: unknown;
  stderr: unknown;
  child: { killed: boolean; exitCode: number | null; signalCode: string | null; isChildProcess: boolean; spawnargs: string[] };
}

function call(impl: typeof cp, fn: Fn, ...args: unknown[]): Promise<Outcome> {
  return new Promise((resolve) => {
    let child: cp.ChildProcess;
    const cb = (err: Error | null, stdout: unknown, stderr: unknown) => {
      // the callback may come before 'exit' (maxBuffer): wait for the child to be done
      const done = () =>
        resolve({
          err: err ? errorFields(err) : null,
          stdout,
          stderr,
          child: { killed: child.killed, exitCode: child.exitCode, signalCode: child.signalCode, isChildProcess: child instanceof cp.ChildProcess, spawnargs: child.spawnargs },
        });
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) done();
      else child.once('exit', () => setImmediate(done));
    };
    child = (impl[fn] as (...a: unknown[]) => cp.ChildProcess)(...args, cb);
  });
}

async function sameAsNode(fn: Fn, ...args: unknown[]): Promise<Outcome> {
  const expected = await call(cp, fn, ...args);
  const actual = await call(pg as unknown as typeof cp, fn, ...args);
  expect(actual).toEqual(expected);
  return actual;
}

/**
 * As sameAsNode, for a child killed while it writes (maxBuffer): whether it dies of the kill signal
 * or of the closed pipe first is a race, with node as with procguard, so its end is not compared.
 */
async function sameAsNodeButTheRace(fn: Fn, ...args: unknown[]): Promise<Outcome> {
  const strip = (o: Outcome) => ({ ...o, child: { ...o.child, exitCode: 'racy', signalCode: 'racy' } });
  const expected = await call(cp, fn, ...args);
  const actual = await call(pg as unknown as typeof cp, fn, ...args);
  expect(strip(actual)).toEqual(strip(expected));
  return actual;
}

describe('exec', () => {
  it('calls back (null, stdout, stderr) as strings', async () => {
    const r = await sameAsNode('exec', 'echo out; echo err >&2');
    expect(r).toMatchObject({ err: null, stdout: 'out\n', stderr: 'err\n' });
    expect(r.child.isChildProcess).toBe(true);
  });

  it('gives an error with code = exit status, killed false, signal null and cmd', async () => {
    const r = await sameAsNode('exec', 'echo partial; echo bad >&2; exit 7');
    expect(r.err).toMatchObject({ code: 7, killed: false, signal: null, cmd: 'echo partial; echo bad >&2; exit 7' });
    expect(r.err?.message).toBe('Command failed: echo partial; echo bad >&2; exit 7\nbad\n');
    expect(r.stdout).toBe('partial\n');
  });

  it('gives an error with signal set when the child is killed by a signal', async () => {
    const r = await sameAsNode('exec', 'kill -9 $$');
    expect(r.err).toMatchObject({ code: null, signal: 'SIGKILL', killed: false });
  });

  it('kills the child after timeout and reports killed true, signal SIGTERM', async () => {
    const started = Date.now();
    const r = await sameAsNode('exec', 'exec sleep 30', { timeout: 200 });
    expect(Date.now() - started).toBeLessThan(20000);
    expect(r.err).toMatchObject({ killed: true, signal: 'SIGTERM', code: null });
  });

  it('uses killSignal for the timeout', async () => {
    const r = await sameAsNode('exec', 'exec sleep 30', { timeout: 200, killSignal: 'SIGKILL' });
    expect(r.err).toMatchObject({ killed: true, signal: 'SIGKILL' });
  });

  it('fails with ERR_CHILD_PROCESS_STDIO_MAXBUFFER and kills the child when stdout exceeds maxBuffer', async () => {
    const r = await sameAsNodeButTheRace('exec', 'yes', { maxBuffer: 100 });
    expect(r.err).toMatchObject({ code: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER', name: 'RangeError', message: 'stdout maxBuffer length exceeded' });
    expect((r.stdout as string).length).toBe(100);
    expect(r.child.killed).toBe(true);
    expect(r.child.exitCode !== null || r.child.signalCode !== null).toBe(true); // it did end
  });

  it('applies maxBuffer to stderr too', async () => {
    const r = await sameAsNodeButTheRace('exec', 'yes >&2', { maxBuffer: 50 });
    expect(r.err).toMatchObject({ code: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER', message: 'stderr maxBuffer length exceeded' });
  });

  it("gives Buffers with encoding 'buffer'", async () => {
    const r = await sameAsNode('exec', 'printf "\\377\\001"', { encoding: 'buffer' });
    expect(Buffer.isBuffer(r.stdout)).toBe(true);
    expect([...(r.stdout as Buffer)]).toEqual([0xff, 0x01]);
    expect(Buffer.isBuffer(r.stderr)).toBe(true);
  });

  it("decodes with another encoding ('latin1')", async () => {
    const r = await sameAsNode('exec', 'printf "\\351"', { encoding: 'latin1' });
    expect(r.stdout).toBe('é');
  });

  it('runs through the given shell', async () => {
    const r = await sameAsNode('exec', 'echo "${BASH_VERSION:+bash}"', { shell: '/bin/bash' });
    expect(r.stdout).toBe('bash\n');
  });

  it('returns a ChildProcess whose stdout can also be listened to', async () => {
    const child = pg.exec('echo listened', () => {});
    expect(child).toBeInstanceOf(cp.ChildProcess);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await record(child).closed;
    expect(out).toBe('listened\n');
  });
});

describe('execFile', () => {
  it('runs a file without a shell and calls back (null, stdout, stderr)', async () => {
    const r = await sameAsNode('execFile', 'echo', ['a', '$HOME', 'b c']);
    expect(r).toMatchObject({ err: null, stdout: 'a $HOME b c\n', stderr: '' });
  });

  it('gives an error with code = exit status and cmd = file and args joined', async () => {
    const r = await sameAsNode('execFile', 'sh', ['-c', 'exit 3']);
    expect(r.err).toMatchObject({ code: 3, killed: false, signal: null, cmd: 'sh -c exit 3' });
  });

  it('gives ENOENT with the fields node gives (errno, syscall, path, spawnargs, cmd)', async () => {
    const r = await sameAsNode('execFile', 'procguard-no-such-command', ['x']);
    expect(r.err).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'spawn procguard-no-such-command', path: 'procguard-no-such-command', spawnargs: ['x'] });
  });

  it('accepts options without args', async () => {
    const r = await sameAsNode('execFile', 'pwd', { cwd: '/tmp' });
    expect(r.stdout).toBe('/tmp\n');
  });

  it('fails with maxBuffer exceeded and kills the child', async () => {
    const r = await sameAsNodeButTheRace('execFile', 'yes', [], { maxBuffer: 10 });
    expect(r.err).toMatchObject({ code: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' });
    expect(r.child.killed).toBe(true);
  });

  it('kills after timeout', async () => {
    const r = await sameAsNode('execFile', 'sleep', ['30'], { timeout: 150 });
    expect(r.err).toMatchObject({ killed: true, signal: 'SIGTERM' });
  });

  it('is aborted through an AbortSignal like node', async () => {
    const results = [];
    for (const [, impl] of impls) {
      const ac = new AbortController();
      const p = new Promise<Record<string, unknown>>((resolve) => {
        impl.execFile('sleep', ['30'], { signal: ac.signal }, (err) => resolve(errorFields(err)));
      });
      setTimeout(() => ac.abort(), 100);
      results.push(await p);
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[1]).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });
});

describe('util.promisify', () => {
  it('resolves exec to { stdout, stderr }', async () => {
    for (const [name, impl] of impls) {
      const r = await promisify(impl.exec)('echo hi; echo there >&2');
      expect(r, name).toEqual({ stdout: 'hi\n', stderr: 'there\n' });
    }
  });

  it('resolves execFile to { stdout, stderr }', async () => {
    const r = await promisify(pg.execFile as unknown as typeof cp.execFile)('echo', ['file']);
    expect(r).toEqual({ stdout: 'file\n', stderr: '' });
  });

  it('gives Buffers in { stdout, stderr } with encoding buffer', async () => {
    const r = await promisify(pg.exec as unknown as typeof cp.exec)('printf x', { encoding: 'buffer' });
    expect(Buffer.isBuffer(r.stdout)).toBe(true);
    expect(r.stdout.toString()).toBe('x');
  });

  it('rejects with the error carrying stdout, stderr, code and cmd, as node does', async () => {
    const results = [];
    for (const [, impl] of impls) {
      try {
        await promisify(impl.exec)('echo some; echo oops >&2; exit 4');
        results.push({ resolved: true });
      } catch (err) {
        results.push(errorFields(err));
      }
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[1]).toMatchObject({ code: 4, stdout: 'some\n', stderr: 'oops\n', cmd: 'echo some; echo oops >&2; exit 4' });
  });

  it('gives the promise a child property, as node does', async () => {
    const p = promisify(pg.exec as unknown as typeof cp.exec)('true') as Promise<unknown> & { child?: unknown };
    expect(p.child).toBeInstanceOf(cp.ChildProcess);
    await p;
  });
});
