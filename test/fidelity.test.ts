// The documented behaviours of node:child_process (Node 20 documentation, "Child process") not
// already covered by spawn.test.ts, exec.test.ts, errors.test.ts, sync.test.ts and fork.test.ts:
// each runs through node:child_process and through procguard, and what is observable must be equal.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as pg from 'procguard';
import { FIXTURES } from './helpers/agent';
import { prepareSystem } from './helpers/system';
import { errorFields, firstOf, isAlive, readSession, record, sleep, statField, waitFor } from './helpers/proc';
import { inBoth as scriptInBoth, lastJson } from './helpers/run-node';

type Impl = Pick<typeof cp, 'spawn' | 'exec' | 'execFile' | 'fork' | 'spawnSync' | 'execSync' | 'execFileSync'>;
const impls: [string, Impl][] = [
  ['node:child_process', cp],
  ['procguard', pg as unknown as Impl],
];

/** Runs the scenario through node, then procguard; the two results must be equal. */
async function inBoth<T>(scenario: (impl: Impl) => Promise<T> | T): Promise<T> {
  const expected = await scenario(cp);
  const actual = await scenario(pg as unknown as Impl);
  expect(actual).toEqual(expected);
  return actual;
}

function kind(s: unknown): string | null {
  if (s == null) return null;
  return (s as object).constructor?.name ?? typeof s;
}

/** Events (with 'data' of stdout/stderr as 'stdout'/'stderr'), output and end state of a child. */
async function observe(child: cp.ChildProcess) {
  const events: string[] = [];
  let out = '';
  let err = '';
  for (const name of ['spawn', 'error', 'exit', 'close', 'disconnect']) child.on(name, () => events.push(name));
  child.stdout?.on('data', (d) => {
    if (out === '') events.push('stdout');
    out += d;
  });
  child.stderr?.on('data', (d) => {
    if (err === '') events.push('stderr');
    err += d;
  });
  const rec = record(child);
  await rec.closed;
  return { events, out, err, exitArgs: rec.args.exit, closeArgs: rec.args.close, error: rec.args.error ? errorFields(rec.args.error[0]) : undefined, exitCode: child.exitCode, signalCode: child.signalCode, killed: child.killed };
}

/** The same without the 'stdout'/'stderr' marks: where they fall against 'exit' is its own test. */
async function observeEnd(child: cp.ChildProcess) {
  const r = await observe(child);
  return { ...r, events: r.events.filter((e) => e !== 'stdout' && e !== 'stderr') };
}

function execResult(impl: Impl, fn: 'exec' | 'execFile', ...args: unknown[]) {
  return new Promise<{ err: Record<string, unknown> | null; stdout: unknown; stderr: unknown }>((resolve) => {
    (impl[fn] as (...a: unknown[]) => cp.ChildProcess)(...args, (err: Error | null, stdout: unknown, stderr: unknown) => {
      const fields = err ? errorFields(err) : null;
      if (fields) delete fields.stack;
      resolve({ err: fields, stdout, stderr });
    });
  });
}

const sys = prepareSystem();
const leftovers: number[] = [];
afterAll(() => {
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

describe('ChildProcess events and properties', () => {
  it("emits 'spawn' before any other event and before any output, and 'close' last", async () => {
    for (const [name, impl] of impls) {
      const r = await observe(impl.spawn('sh', ['-c', 'echo out; echo err >&2']));
      expect(r.events[0], name).toBe('spawn');
      expect(r.events.at(-1), name).toBe('close');
      expect([...r.events].sort(), name).toEqual(['close', 'exit', 'spawn', 'stderr', 'stdout']);
    }
  });

  // Not promised by the documentation ("stdio streams might still be open" at 'exit'), but what
  // node does every time: libuv runs its child watchers (SIGCHLD) after every other I/O callback
  // of the same poll, so output the child wrote before exiting reaches 'data' before 'exit'.
  it("delivers output written before the child exited ahead of 'exit', every time (100 runs), as node does", async () => {
    const order = async (impl: Impl) => {
      const counts: Record<string, number> = {};
      for (let i = 0; i < 100; i++) {
        const events = (await observe(impl.spawn('sh', ['-c', 'echo out; echo err >&2']))).events.filter((e) => e !== 'spawn' && e !== 'close');
        const key = events.indexOf('exit') === events.length - 1 ? 'output first' : events.join(',');
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    };
    const r = await inBoth(order);
    expect(r).toEqual({ 'output first': 100 });
  });

  it("emits 'exit' when the process ends but 'close' only once its stdio (shared with a grandchild) is closed", async () => {
    const r = await inBoth(async (impl) => {
      const started = Date.now();
      const child = impl.spawn('sh', ['-c', 'sleep 1 & echo started']);
      let exitAfter = 0;
      child.once('exit', () => (exitAfter = Date.now() - started));
      const seen = await observeEnd(child);
      const closeAfter = Date.now() - started;
      return { ...seen, exitEarly: exitAfter < 800, closeLate: closeAfter >= 900 };
    });
    expect(r).toMatchObject({ exitEarly: true, closeLate: true, exitArgs: [0, null], closeArgs: [0, null] });
  });

  it('gives child.stdio one entry per fd, with stdin/stdout/stderr the first three', async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.spawn('sh', ['-c', 'echo three >&3; echo five >&5; true'], { stdio: ['pipe', 'ignore', 'inherit', 'pipe', 'ignore', 'pipe'] });
      const shape = {
        stdio: child.stdio.map(kind),
        length: child.stdio.length,
        stdinIs0: child.stdin === child.stdio[0],
        stdoutIs1: child.stdout === child.stdio[1],
        stderrIs2: child.stderr === child.stdio[2],
        readable3: (child.stdio[3] as net.Socket).readable,
        writable3: (child.stdio[3] as net.Socket).writable,
      };
      let three = '';
      let five = '';
      (child.stdio[3] as net.Socket).on('data', (d) => (three += d));
      (child.stdio[5] as net.Socket).on('data', (d) => (five += d));
      child.stdin!.end();
      await observe(child);
      return { shape, three, five };
    });
    expect(r).toMatchObject({ three: 'three\n', five: 'five\n', shape: { stdio: ['Socket', null, null, 'Socket', null, 'Socket'], stdinIs0: true } });
  });

  it('has connected false, and no send() nor channel, without an IPC channel', async () => {
    await inBoth(async (impl) => {
      const child = impl.spawn('true');
      const props = { connected: child.connected, send: typeof child.send, disconnect: typeof child.disconnect, channel: child.channel, exitCode: child.exitCode, signalCode: child.signalCode, killed: child.killed };
      await observe(child);
      return props;
    });
  });

  it('sets spawnfile and spawnargs to the shell and its -c line with shell: true (and argv0 in spawnargs[0])', async () => {
    const r = await inBoth(async (impl) => {
      const a = impl.spawn('echo "a  b" \'c\'', { shell: true });
      const b = impl.spawn('echo', ['x y', '"q"'], { shell: '/bin/bash', argv0: 'my-bash' });
      const props = { a: [a.spawnfile, a.spawnargs], b: [b.spawnfile, b.spawnargs] };
      const [ra, rb] = await Promise.all([observe(a), observe(b)]);
      return { props, outA: ra.out, outB: rb.out };
    });
    expect(r.props.a).toEqual(['/bin/sh', ['/bin/sh', '-c', 'echo "a  b" \'c\'']]);
    expect(r.outA).toBe('a  b c\n');
    expect(r.outB).toBe('x y q\n');
  });

  it('shows argv0 as argv[0] in /proc/<pid>/cmdline, and the file it ran as /proc/<pid>/exe', async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.spawn('sleep', ['30'], { argv0: 'renamed sleeper' });
      const rec = record(child);
      await firstOf(child, ['spawn']);
      const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
      const exe = path.basename(fs.readlinkSync(`/proc/${child.pid}/exe`));
      child.kill('SIGKILL');
      await rec.closed;
      return { cmdline, exe, spawnargs: child.spawnargs };
    });
    expect(r).toEqual({ cmdline: 'renamed sleeper\u000030\u0000', exe: 'sleep', spawnargs: ['renamed sleeper', '30'] });
  });

  it('exits 127 from a shell that cannot find the command (spawn and exec)', async () => {
    const r = await inBoth(async (impl) => ({
      spawn: await observeEnd(impl.spawn('procguard-missing-command arg', { shell: true })),
      exec: await execResult(impl, 'exec', 'procguard-missing-command arg'),
    }));
    expect(r.spawn.exitArgs).toEqual([127, null]);
    expect(r.exec.err).toMatchObject({ code: 127, killed: false, signal: null });
  });
});

describe('kill()', () => {
  async function killWith(impl: Impl, signal: NodeJS.Signals | number | undefined) {
    const child = impl.spawn('sleep', ['30']);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    const returned = signal === undefined ? child.kill() : child.kill(signal);
    const killedRightAfter = child.killed;
    if (signal === 0) child.kill('SIGKILL');
    await rec.closed;
    return { returned, killedRightAfter, killed: child.killed, exitArgs: rec.args.exit, signalCode: child.signalCode, events: rec.events };
  }

  it.each([
    ['no signal (SIGTERM)', undefined],
    ["'SIGHUP'", 'SIGHUP'],
    ["'SIGKILL'", 'SIGKILL'],
    ["'SIGUSR1'", 'SIGUSR1'],
    ['9 (SIGKILL)', 9],
    ['2 (SIGINT)', 2],
    ['0 (only checks the process exists; node still sets killed)', 0],
  ])('with %s behaves as node', async (_name, signal) => {
    await inBoth((impl) => killWith(impl, signal as NodeJS.Signals | number | undefined));
  });

  it("returns false and leaves killed false after the child's 'exit'", async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.spawn('true');
      await observe(child);
      return { returned: child.kill(), killed: child.killed };
    });
    expect(r).toEqual({ returned: false, killed: false });
  });

  it('returns false and leaves killed false for a child that never started (ENOENT)', async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.spawn('procguard-missing-command');
      child.on('error', () => {});
      const returned = child.kill();
      await observe(child);
      return { returned, killed: child.killed, afterwards: child.kill() };
    });
    expect(r).toEqual({ returned: false, killed: false, afterwards: false });
  });

  it('leaves killed false when kill() throws for an unknown signal', async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.spawn('sleep', ['30']);
      const rec = record(child);
      await firstOf(child, ['spawn']);
      let thrown: Record<string, unknown> | undefined;
      try {
        child.kill('SIGNOPE' as NodeJS.Signals);
      } catch (err) {
        thrown = errorFields(err);
        delete thrown.stack;
      }
      const killed = child.killed;
      child.kill('SIGKILL');
      await rec.closed;
      return { thrown, killed };
    });
    expect(r.thrown).toMatchObject({ code: 'ERR_UNKNOWN_SIGNAL' });
  });

  it("succeeds (true, killed) on a child that has exited but whose 'exit' is not delivered yet", async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.spawn('true');
      const rec = record(child);
      // Busy-wait, not letting the event loop run: the child becomes a zombie, not yet reaped.
      const end = Date.now() + 5000;
      let state = '';
      while (Date.now() < end) {
        try {
          state = statField(child.pid!, 3);
        } catch {
          state = 'gone';
        }
        if (state === 'Z' || state === 'gone') break;
      }
      const returned = child.kill();
      const killed = child.killed;
      await rec.closed;
      return { state, returned, killed, exitArgs: rec.args.exit };
    });
    expect(r.state).toBe('Z');
  });

  it('kills with SIGTERM on [Symbol.dispose]() and does nothing after the child ended', async () => {
    const dispose = (Symbol as unknown as { dispose: symbol }).dispose;
    await inBoth(async (impl) => {
      const child = impl.spawn('sleep', ['30']);
      const rec = record(child);
      await firstOf(child, ['spawn']);
      (child as unknown as Record<symbol, () => void>)[dispose]();
      await rec.closed;
      (child as unknown as Record<symbol, () => void>)[dispose]();
      return { exitArgs: rec.args.exit, killed: child.killed };
    });
  });
});

describe('spawn options', () => {
  it('takes cwd as a file: URL', async () => {
    const r = await inBoth(async (impl) => (await observe(impl.spawn('pwd', [], { cwd: pathToFileURL('/tmp') as unknown as string }))).out);
    expect(r).toBe('/tmp\n');
  });

  it('turns env values into strings and leaves undefined ones out', async () => {
    const env = { NUM: 1, BOOL: false, NUL: null, UNDEF: undefined, EMPTY: '', PATH: '/usr/bin:/bin' } as unknown as NodeJS.ProcessEnv;
    const r = await inBoth(async (impl) => (await observe(impl.spawn('env', [], { env }))).out.split('\n').filter(Boolean).sort());
    expect(r).toEqual(['BOOL=false', 'EMPTY=', 'NUL=null', 'NUM=1', 'PATH=/usr/bin:/bin']);
  });

  it("passes inherited (prototype) env keys, as node's for...in does", async () => {
    const env = Object.create({ FROM_PROTO: 'p', PATH: '/usr/bin:/bin' }) as NodeJS.ProcessEnv;
    env.OWN = 'o';
    const r = await inBoth(async (impl) => (await observe(impl.spawn('env', [], { env }))).out.split('\n').filter(Boolean).sort());
    expect(r).toEqual(['FROM_PROTO=p', 'OWN=o', 'PATH=/usr/bin:/bin']);
  });

  it('lets a detached, unref()ed child outlive its parent, leading a session and process group of its own', async () => {
    for (const module of ['node:child_process', 'procguard']) {
      const script = `
        const c = require(${JSON.stringify(module)}).spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
        c.unref();
        console.log(JSON.stringify({ pid: c.pid }));
      `;
      const started = Date.now();
      const out = cp.execFileSync(process.execPath, ['-e', script], { cwd: path.resolve(FIXTURES, '../..'), encoding: 'utf8', timeout: 20000 });
      const { pid } = JSON.parse(out.trim().split('\n').pop()!);
      leftovers.push(pid);
      expect(Date.now() - started, module).toBeLessThan(5000);
      expect(isAlive(pid), module).toBe(true);
      expect(readSession(pid), module).toBe(pid);
      expect(Number(statField(pid, 5)), `${module}: process group`).toBe(pid);
      process.kill(pid, 'SIGKILL');
      expect(await waitFor(() => !isAlive(pid)), module).toBe(true);
    }
  });

  it("gives an 'ipc' child in spawn() the serialization asked for ('advanced')", async () => {
    const script = "process.on('message', (m) => { process.send({ back: m, isBig: typeof m.big === 'bigint' }); process.disconnect(); });";
    const r = await inBoth(async (impl) => {
      const child = impl.spawn(process.execPath, ['-e', script], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
      const rec = record(child);
      child.send({ big: 5n, map: new Map([[1, 2]]) });
      await rec.closed;
      return { message: rec.args.message?.[0], events: rec.events };
    });
    expect(r.message).toEqual({ back: { big: 5n, map: new Map([[1, 2]]) }, isBig: true });
  });

  it.skipIf(!sys.available)('fails with EPERM when an unprivileged agent asks for another uid (thrown by spawn, the error of spawnSync)', () => {
    if (!sys.available) return;
    const runs = scriptInBoth(
      `
      let thrown;
      try { cp.spawn('true', [], { uid: 0 }); } catch (e) { thrown = { code: e.code, errno: e.errno, syscall: e.syscall, message: e.message }; }
      const r = cp.spawnSync('true', [], { uid: 0 });
      console.log(JSON.stringify({ thrown, sync: { error: { ...r.error, message: r.error && r.error.message }, status: r.status, pid: r.pid } }));
    `,
      { uid: sys.uid, gid: sys.gid },
    );
    expect(runs.procguard).toEqual(runs.node);
    expect(lastJson(runs.procguard)).toMatchObject({ thrown: { code: 'EPERM', syscall: 'spawn' }, sync: { error: { code: 'EPERM', syscall: 'spawnSync true' } } });
  });

  it('emits EPIPE on child.stdin when writing to a child that closed its stdin', async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.spawn('sh', ['-c', 'exec 0<&-; echo closed; sleep 2']);
      const stdinError = new Promise<unknown>((resolve) => child.stdin!.once('error', (e) => resolve(errorFields(e))));
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      child.stdin!.write(Buffer.alloc(1 << 20));
      const error = (await stdinError) as Record<string, unknown>;
      delete error.stack;
      child.kill();
      await firstOf(child, ['exit']);
      return { error };
    });
    expect(r.error).toMatchObject({ code: 'EPIPE', syscall: 'write' });
  });
});

describe('finding and starting the command, as libuv (execvp) does', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-lookup-'));
    fs.writeFileSync(path.join(dir, 'hello'), '#!/bin/sh\necho "hello from $0"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'no-shebang'), 'echo "ran by a shell"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'bad-interpreter'), '#!/nonexistent/interpreter\necho x\n', { mode: 0o755 });
    fs.mkdirSync(path.join(dir, 'private'), { mode: 0o700 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: [string, () => [string, cp.SpawnOptions]][] = [
    ['a relative path, against the cwd option', () => ['./hello', { cwd: dir }]],
    ["an empty PATH (the cwd is searched)", () => ['hello', { cwd: dir, env: { PATH: '' } }]],
    ["a PATH with an empty entry", () => ['hello', { cwd: dir, env: { PATH: ':/nonexistent' } }]],
    ["PATH '.'", () => ['hello', { cwd: dir, env: { PATH: '.' } }]],
    ['no PATH in env (the default /usr/bin:/bin)', () => ['ls', { env: {} }]],
    ['no PATH in env, a command elsewhere (ENOENT)', () => ['hello', { cwd: '/', env: {} }]],
    ['an executable without #! (run by /bin/sh)', () => [path.join(dir, 'no-shebang'), {}]],
    ['an executable without #! found on PATH', () => ['no-shebang', { env: { PATH: dir } }]],
    ['a #! naming a missing interpreter (ENOENT)', () => [path.join(dir, 'bad-interpreter'), {}]],
  ];
  it.each(cases)('runs %s as node does (spawn and spawnSync)', async (_name, make) => {
    const [command, options] = make();
    await inBoth(async (impl) => {
      const sync = impl.spawnSync(command, [], { ...options, encoding: 'utf8' } as cp.SpawnSyncOptionsWithStringEncoding);
      const r = await observeEnd(impl.spawn(command, [], options));
      return { sync: { status: sync.status, stdout: sync.stdout, error: sync.error && errorFields(sync.error).code }, async: { exitArgs: r.exitArgs, out: r.out, error: r.error?.code, events: r.events } };
    });
  });

  it.skipIf(!sys.available)('changes to cwd before dropping to uid (a directory only root may enter)', async () => {
    if (!sys.available) return;
    const r = await inBoth(async (impl) => {
      const options = { cwd: path.join(dir, 'private'), uid: sys.uid, gid: sys.gid };
      const sync = impl.spawnSync('pwd', [], { ...options, encoding: 'utf8' });
      const r = await observeEnd(impl.spawn('pwd', [], options));
      return { sync: [sync.status, sync.stdout, sync.error?.message], async: [r.exitArgs, r.out, r.error] };
    });
    expect(r.sync[0]).toBe(0);
  });

  it('runs a detached spawnSync child in a session of its own', async () => {
    const r = await inBoth((impl) => {
      const out = impl.spawnSync('sh', ['-c', 'echo $$; ps -o sid= -p $$'], { detached: true, encoding: 'utf8' }).stdout.trim().split(/\s+/);
      return out[0] === out[1];
    });
    expect(r).toBe(true);
  });
});

describe('exec and execFile options', () => {
  it.each([['hex'], ['base64'], ['utf16le'], ['ascii'], ['an unknown encoding (Buffers)', 'no-such-encoding']])('decodes with encoding %s', async (name, encoding = name) => {
    await inBoth((impl) => execResult(impl, 'exec', 'printf "\\303\\251A"; printf "\\377" >&2', { encoding }));
  });

  it('stops at the default maxBuffer (1 MiB) and at maxBuffer: Infinity reads everything', async () => {
    const strip = (r: Awaited<ReturnType<typeof execResult>>) => ({ err: r.err, stdoutLength: (r.stdout as string).length });
    const r = await inBoth(async (impl) => strip(await execResult(impl, 'exec', 'head -c 2000000 /dev/zero')));
    expect(r).toEqual({ err: expect.objectContaining({ code: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' }), stdoutLength: 1024 * 1024 });
    const all = await inBoth(async (impl) => strip(await execResult(impl, 'exec', 'head -c 2000000 /dev/zero', { maxBuffer: Infinity })));
    expect(all).toEqual({ err: null, stdoutLength: 2000000 });
  });

  it('counts maxBuffer in bytes of the decoded output, not characters (maxBuffer and Unicode)', async () => {
    const r = await inBoth(async (impl) => {
      const res = await execResult(impl, 'exec', 'printf "\\303\\251\\303\\251\\303\\251"', { maxBuffer: 4 });
      return { err: res.err?.code, stdout: res.stdout };
    });
    expect(r.err).toBe('ERR_CHILD_PROCESS_STDIO_MAXBUFFER');
  });

  it('aborts exec through an AbortSignal with an AbortError in the callback', async () => {
    const r = await inBoth(async (impl) => {
      const ac = new AbortController();
      const result = execResult(impl, 'exec', 'sleep 30', { signal: ac.signal });
      await sleep(100);
      ac.abort();
      return result;
    });
    expect(r.err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it('runs execFile through a shell with shell: true (arguments joined unquoted)', async () => {
    const r = await inBoth((impl) => execResult(impl, 'execFile', 'echo', ['$((6*7))', '"a  b"'], { shell: true }));
    expect(r.stdout).toBe('42 a  b\n');
  });

  it('gives exec a cwd that does not exist as an ENOENT error for the shell', async () => {
    const r = await inBoth((impl) => execResult(impl, 'exec', 'true', { cwd: '/nonexistent-procguard-dir' }));
    expect(r.err).toMatchObject({ code: 'ENOENT', syscall: 'spawn /bin/sh' });
  });

  it('uses a numeric killSignal for the timeout of execFile', async () => {
    const r = await inBoth((impl) => execResult(impl, 'execFile', 'sleep', ['30'], { timeout: 100, killSignal: 9 }));
    expect(r.err).toMatchObject({ killed: true, signal: 'SIGKILL' });
  });

  it('rejects promisify(execFile) with code, killed, signal, cmd, stdout and stderr', async () => {
    const r = await inBoth(async (impl) => {
      try {
        await promisify(impl.execFile)('sh', ['-c', 'echo o; echo e >&2; exit 5']);
        return { resolved: true };
      } catch (err) {
        const f = errorFields(err);
        delete f.stack;
        return f;
      }
    });
    expect(r).toMatchObject({ code: 5, killed: false, signal: null, cmd: 'sh -c echo o; echo e >&2; exit 5', stdout: 'o\n', stderr: 'e\n' });
  });
});

describe('sync functions: options the async tests cover', () => {
  it('take cwd as a file: URL and a shell with argv0', async () => {
    await inBoth((impl) => {
      const a = impl.spawnSync('pwd', [], { cwd: pathToFileURL('/tmp') as unknown as string, encoding: 'utf8' });
      const b = impl.spawnSync('echo "$0"', { shell: true, argv0: 'zero', encoding: 'utf8' });
      return { a: [a.status, a.stdout], b: [b.status, b.stdout] };
    });
  });

  it('run execFileSync through a shell and execSync with a timeout and killSignal', async () => {
    const r = await inBoth((impl) => {
      const out = impl.execFileSync('echo', ['$((1+1))'], { shell: true, encoding: 'utf8' });
      let thrown: Record<string, unknown> | undefined;
      try {
        impl.execSync('sleep 30', { timeout: 100, killSignal: 'SIGKILL', stdio: 'pipe' });
      } catch (err) {
        const e = err as Record<string, unknown>;
        thrown = { code: e.code, signal: e.signal, status: e.status };
      }
      return { out, thrown };
    });
    expect(r).toEqual({ out: '2\n', thrown: { code: 'ETIMEDOUT', signal: 'SIGKILL', status: null } });
  });
});

describe('fork options', () => {
  it('runs a forked child in the given cwd, with the given env and args', async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.fork(path.join(FIXTURES, 'fork-child.cjs'), ['serve', 'a1'], { cwd: '/tmp', env: { ONLY_THIS: 'x', PATH: '/usr/bin:/bin' } });
      const message = await new Promise<any>((resolve) => child.once('message', resolve));
      child.disconnect();
      await firstOf(child, ['exit']);
      return { cwd: message.hello.cwd, env: message.hello.env, argv: message.hello.argv, spawnargs: child.spawnargs.slice(1) };
    });
    expect(r).toMatchObject({ cwd: '/tmp', argv: ['serve', 'a1'], env: { ONLY_THIS: 'x', PATH: '/usr/bin:/bin' } });
  });

  it('runs a detached forked child in a session of its own', async () => {
    const r = await inBoth(async (impl) => {
      const child = impl.fork(path.join(FIXTURES, 'fork-child.cjs'), ['serve'], { detached: true });
      const message = await new Promise<any>((resolve) => child.once('message', resolve));
      const ownSession = readSession(child.pid!) === child.pid;
      child.disconnect();
      await firstOf(child, ['exit']);
      return { ownSession, connected: message.hello.connected };
    });
    expect(r).toEqual({ ownSession: true, connected: true });
  });
});
