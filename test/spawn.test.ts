// spawn() behaves like node:child_process.spawn: same object, properties, events in the same order,
// and every option doing what it does there. Where possible the same call runs through both and
// what is observable must be equal.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'procguard';
import { prepareSystem } from './helpers/system';
import { firstOf, readSession, readStatus, record, sleep } from './helpers/proc';

type SpawnFn = typeof cp.spawn;
const impls: [string, SpawnFn][] = [
  ['node:child_process', cp.spawn],
  ['procguard', spawn as unknown as SpawnFn],
];

function kind(s: unknown): string | null {
  if (s === null || s === undefined) return null;
  if (s instanceof net.Socket) return 'Socket';
  return (s as object).constructor?.name ?? typeof s;
}

/** Everything observable about a run that ends by itself. */
async function observe(fn: SpawnFn, ...args: unknown[]) {
  const child = (fn as (...a: unknown[]) => cp.ChildProcess)(...args);
  const rec = record(child);
  const initially = {
    isChildProcess: child instanceof cp.ChildProcess,
    pid: typeof child.pid,
    spawnfile: child.spawnfile,
    spawnargs: child.spawnargs,
    exitCode: child.exitCode,
    signalCode: child.signalCode,
    killed: child.killed,
    connected: child.connected,
    stdio: child.stdio.map(kind),
    stdin: kind(child.stdin),
    stdout: kind(child.stdout),
    stderr: kind(child.stderr),
  };
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  child.stdin?.end();
  await rec.closed;
  return {
    initially,
    events: rec.events,
    exitArgs: rec.args.exit,
    closeArgs: rec.args.close,
    finally: { exitCode: child.exitCode, signalCode: child.signalCode, killed: child.killed, pid: typeof child.pid },
    out,
    err,
  };
}

async function sameAsNode(...args: unknown[]) {
  const expected = await observe(cp.spawn, ...args);
  const actual = await observe(spawn as unknown as SpawnFn, ...args);
  expect(actual).toEqual(expected);
  return actual;
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-spawn-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a normal run, compared with node:child_process', () => {
  it("emits 'spawn', 'exit', 'close' with the same properties for a command exiting 3", async () => {
    const r = await sameAsNode('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(r.events).toEqual(['spawn', 'exit', 'close']);
    expect(r.exitArgs).toEqual([3, null]);
    expect(r.initially.isChildProcess).toBe(true);
    expect(r.initially.spawnargs).toEqual(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.out).toBe('out\n');
    expect(r.err).toBe('err\n');
  });

  it('returns a ChildProcess whose pid is the running process', async () => {
    const child = spawn('sleep', ['30']);
    expect(child).toBeInstanceOf(cp.ChildProcess);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    expect(child.pid).toBeGreaterThan(0);
    expect(fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')).toBe('sleep\u000030\u0000');
    child.kill('SIGKILL');
    await rec.closed;
  });

  it('reads stdin from a pipe (cat echoes what was written)', async () => {
    for (const [, fn] of impls) {
      const child = fn('cat', []);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stdin!.end('hello through stdin\n');
      await record(child).closed;
      expect(out).toBe('hello through stdin\n');
    }
  });

  it('sets killed, signalCode and the exit arguments after kill(), as node does', async () => {
    const results = [];
    for (const [, fn] of impls) {
      const child = fn('sleep', ['30']);
      const rec = record(child);
      await firstOf(child, ['spawn']);
      const returned = child.kill();
      await rec.closed;
      results.push({ returned, killed: child.killed, exitCode: child.exitCode, signalCode: child.signalCode, events: rec.events, exitArgs: rec.args.exit, closeArgs: rec.args.close });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[1]).toMatchObject({ returned: true, killed: true, signalCode: 'SIGTERM', events: ['spawn', 'exit', 'close'] });
  });

  it("emits 'close' only after the streams ended: output written just before exit is all there", async () => {
    const child = spawn('sh', ['-c', 'head -c 1000000 /dev/zero']);
    let n = 0;
    child.stdout!.on('data', (d: Buffer) => (n += d.length));
    await record(child).closed;
    expect(n).toBe(1000000);
  });
});

describe('stdio', () => {
  it("'ignore' gives the child /dev/null and the parent no streams, as node does", async () => {
    const r = await sameAsNode('sh', ['-c', 'echo lost'], { stdio: 'ignore' });
    expect(r.initially.stdio).toEqual([null, null, null]);
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const rec = record(child);
    await firstOf(child, ['spawn']);
    const targets = [0, 1, 2].map((fd) => fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`));
    child.kill('SIGKILL');
    await rec.closed;
    expect(targets).toEqual(['/dev/null', '/dev/null', '/dev/null']);
  });

  it("'inherit' gives the child the agent's own fds 0-2", async () => {
    const child = spawn('sleep', ['30'], { stdio: 'inherit' });
    const rec = record(child);
    await firstOf(child, ['spawn']);
    const targets = [0, 1, 2].map((fd) => fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`));
    child.kill('SIGKILL');
    await rec.closed;
    expect(child.stdio).toEqual([null, null, null]);
    expect(targets).toEqual([0, 1, 2].map((fd) => fs.readlinkSync(`/proc/self/fd/${fd}`)));
  });

  it("'overlapped' behaves as 'pipe' on Linux", async () => {
    const r = await sameAsNode('sh', ['-c', 'echo over'], { stdio: 'overlapped' });
    expect(r.out).toBe('over\n');
  });

  it('writes to an fd number given in the stdio array', async () => {
    const file = path.join(dir, 'fd-number.txt');
    const fd = fs.openSync(file, 'w');
    const child = spawn('sh', ['-c', 'echo to-fd; echo err-to-fd >&2'], { stdio: ['ignore', fd, fd] });
    await record(child).closed;
    fs.closeSync(fd);
    expect(fs.readFileSync(file, 'utf8')).toBe('to-fd\nerr-to-fd\n');
  });

  it('writes to a stream that has an fd (an opened fs.WriteStream)', async () => {
    const file = path.join(dir, 'stream.txt');
    const stream = fs.createWriteStream(file);
    await new Promise((r) => stream.once('open', r));
    const child = spawn('sh', ['-c', 'echo to-stream'], { stdio: ['ignore', stream, 'inherit'] });
    await record(child).closed;
    await new Promise((r) => stream.end(r));
    expect(fs.readFileSync(file, 'utf8')).toBe('to-stream\n');
  });

  it("pipes one child's stdout socket into another child's stdin, as node does", async () => {
    for (const [name, fn] of impls) {
      const first = fn('sh', ['-c', 'sleep 0.3; echo one; echo two; echo three'], { stdio: ['ignore', 'pipe', 'inherit'] });
      // (the sleep: until the second child holds the socket, the agent itself reads it, as in node)
      const firstExit = firstOf(first, ['exit']);
      await firstOf(first, ['spawn']);
      const second = fn('grep', ['t'], { stdio: [first.stdout!, 'pipe', 'inherit'] });
      let out = '';
      second.stdout!.on('data', (d) => (out += d));
      // node keeps the agent's end of first.stdout open (first never 'close's): wait for 'exit' only
      await Promise.all([firstExit, record(second).closed]);
      expect(out, name).toBe('two\nthree\n');
      first.stdout!.destroy();
    }
  });

  it("gives the child fd 3 from stdio ['pipe', 'pipe', 'pipe', 'pipe'] and the parent a socket for it", async () => {
    const r = await sameAsNode('sh', ['-c', 'echo extra >&3'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    expect(r.initially.stdio).toEqual(['Socket', 'Socket', 'Socket', 'Socket']);
    const child = spawn('sh', ['-c', 'echo extra >&3; read line <&3; echo "got $line"'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    const fd3 = child.stdio[3] as net.Socket;
    let fromChild = '';
    let out = '';
    fd3.on('data', (d) => {
      fromChild += d;
      fd3.write('back\n');
    });
    child.stdout!.on('data', (d) => (out += d));
    await record(child).closed;
    expect(fromChild).toBe('extra\n');
    expect(out).toBe('got back\n');
  });

  it('accepts null/undefined entries as pipes for 0-2, as node does', async () => {
    const r = await sameAsNode('sh', ['-c', 'echo nul'], { stdio: [null, undefined, 'pipe'] as cp.StdioOptions });
    expect(r.out).toBe('nul\n');
  });

  it('passes the agent\'s fds 0-2 given as numbers (stdio [0, 1, 2]), as node does', async () => {
    const r = await sameAsNode('true', [], { stdio: [0, 1, 2] });
    expect(r.initially.stdio).toEqual([null, null, null]);
  });
});

describe('options', () => {
  it('runs a detached child in a session of its own', async () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const rec = record(child);
    await firstOf(child, ['spawn']);
    const session = readSession(child.pid!);
    child.kill('SIGKILL');
    await rec.closed;
    expect(session).toBe(child.pid);
  });

  it("keeps a non-detached child in the agent's session", async () => {
    const child = spawn('sleep', ['30']);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    const session = readSession(child.pid!);
    child.kill('SIGKILL');
    await rec.closed;
    expect(session).toBe(readSession(process.pid));
  });

  it('sets argv[0] from argv0 and keeps spawnargs as node does', async () => {
    const r = await sameAsNode('sh', ['-c', 'echo "$0"'], { argv0: 'custom-name' });
    expect(r.out).toBe('custom-name\n');
  });

  it('runs the command through /bin/sh with shell: true', async () => {
    const r = await sameAsNode('echo $((1+2)) "$HOME" > /dev/null; echo $((40+2))', { shell: true });
    expect(r.initially.spawnfile).toBe('/bin/sh');
    expect(r.out).toBe('42\n');
  });

  it("joins command and args into one shell line with shell: true, as node does", async () => {
    const r = await sameAsNode('echo', ['a', 'b c'], { shell: true });
    expect(r.out).toBe('a b c\n');
  });

  it("runs the command through /bin/bash with shell: '/bin/bash'", async () => {
    const r = await sameAsNode('echo "${BASH_VERSION:+bash}"', { shell: '/bin/bash' });
    expect(r.initially.spawnfile).toBe('/bin/bash');
    expect(r.out).toBe('bash\n');
  });

  it('runs in the given cwd', async () => {
    const r = await sameAsNode('pwd', [], { cwd: dir });
    expect(r.out).toBe(`${fs.realpathSync(dir)}\n`);
  });

  it('passes exactly the given env', async () => {
    const r = await sameAsNode('env', [], { env: { ONLY: 'this', PATH: '/usr/bin:/bin' } });
    expect(r.out.split('\n').filter(Boolean).sort()).toEqual(['ONLY=this', 'PATH=/usr/bin:/bin']);
  });

  it('accepts windowsHide and does nothing with it on Linux', async () => {
    await sameAsNode('true', [], { windowsHide: true });
  });

  it("kills the child and emits an AbortError when the AbortSignal aborts, in node's event order", async () => {
    const results = [];
    for (const [, fn] of impls) {
      const ac = new AbortController();
      const child = fn('sleep', ['30'], { signal: ac.signal });
      const rec = record(child);
      await firstOf(child, ['spawn']);
      ac.abort();
      await rec.closed;
      const err = rec.args.error?.[0] as Error & { code?: string };
      results.push({ events: rec.events, errName: err?.name, errClass: err?.constructor.name, errCode: err?.code, exitArgs: rec.args.exit, killed: child.killed, signalCode: child.signalCode });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[1]).toMatchObject({ errName: 'AbortError', errCode: 'ABORT_ERR', signalCode: 'SIGTERM', killed: true });
  });

  it('kills with killSignal when an AbortSignal aborts', async () => {
    const ac = new AbortController();
    const child = spawn('sleep', ['30'], { signal: ac.signal, killSignal: 'SIGUSR1' });
    const rec = record(child);
    await firstOf(child, ['spawn']);
    ac.abort();
    await rec.closed;
    expect(rec.args.exit).toEqual([null, 'SIGUSR1']);
  });

  it('handles an AbortSignal that is already aborted as node does', async () => {
    const results = [];
    for (const [, fn] of impls) {
      const child = fn('sleep', ['30'], { signal: AbortSignal.abort() });
      const rec = record(child);
      await rec.closed;
      const err = rec.args.error?.[0] as Error & { code?: string };
      results.push({ events: rec.events, errName: err?.name, exitArgs: rec.args.exit, killed: child.killed });
    }
    expect(results[1]).toEqual(results[0]);
  });

  it('kills the child with killSignal after timeout ms, as node does', async () => {
    const results = [];
    for (const [, fn] of impls) {
      const started = Date.now();
      const child = fn('sleep', ['30'], { timeout: 300, killSignal: 'SIGUSR2' });
      const rec = record(child);
      await rec.closed;
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(10000);
      results.push({ events: rec.events, exitArgs: rec.args.exit, killed: child.killed, signalCode: child.signalCode });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[1]).toMatchObject({ exitArgs: [null, 'SIGUSR2'], killed: true });
  });

  it('does not kill a child that ends before its timeout', async () => {
    const r = await sameAsNode('sh', ['-c', 'exit 0'], { timeout: 5000 });
    expect(r.exitArgs).toEqual([0, null]);
  });

  const sys = prepareSystem();
  it.skipIf(!sys.available)('runs the child as uid/gid (the /proc Uid and Gid lines)', async () => {
    if (!sys.available) return;
    const child = spawn('sleep', ['30'], { uid: sys.uid, gid: sys.gid });
    const rec = record(child);
    await firstOf(child, ['spawn']);
    const status = readStatus(child.pid!);
    child.kill('SIGKILL');
    await rec.closed;
    expect(status.Uid.split(/\s+/).map(Number)).toEqual([sys.uid, sys.uid, sys.uid, sys.uid]);
    expect(status.Gid.split(/\s+/).map(Number)).toEqual([sys.gid, sys.gid, sys.gid, sys.gid]);
    expect(status.Groups).toBe(''); // supplementary groups dropped, as libuv does
  });

  it.skipIf(!sys.available)('gives a uid-changed child its per-spawn oom score and nice', async () => {
    if (!sys.available) return;
    const child = spawn('sleep', ['30'], { uid: sys.uid, gid: sys.gid, oomScoreAdj: 640, nice: 6 } as cp.SpawnOptions);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    const oom = Number(fs.readFileSync(`/proc/${child.pid}/oom_score_adj`, 'utf8'));
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    child.kill('SIGKILL');
    await rec.closed;
    expect({ oom, nice }).toEqual({ oom: 640, nice: 6 });
  });
});

describe('ref() and unref()', () => {
  it('lets the agent exit while an unref()ed child still runs, and keeps it alive for a ref()ed one', async () => {
    const script = (unref: boolean) => `
      const { spawn } = require('procguard');
      const c = spawn('sleep', ['2'], { stdio: 'ignore' });
      ${unref ? 'c.unref();' : 'c.unref(); c.ref();'}
    `;
    const timeIt = async (unref: boolean) => {
      const started = Date.now();
      const child = cp.spawn(process.execPath, ['-e', script(unref)], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      const code = await new Promise((r) => child.on('close', r));
      expect(code, err).toBe(0);
      return Date.now() - started;
    };
    expect(await timeIt(true)).toBeLessThan(1500);
    expect(await timeIt(false)).toBeGreaterThanOrEqual(1900);
  });
});
