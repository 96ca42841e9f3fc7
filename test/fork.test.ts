// fork() and 'ipc' behave as node:child_process's: the same fixture (test/fixtures/fork-child.cjs)
// is forked through both and the event sequences, messages, connected states and errors must be
// equal. The child has its oom_score_adj and nice before its first statement runs.
import { describe, it, expect } from 'vitest';
import * as cp from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as pg from 'procguard';
import { FIXTURES } from './helpers/agent';
import { prepareSystem } from './helpers/system';
import { errorFields, readNice, readOomScoreAdj, sleep } from './helpers/proc';
import { lastJson, runNode } from './helpers/run-node';

const CHILD = path.join(FIXTURES, 'fork-child.cjs');
type Fork = typeof cp.fork;
const impls: [string, Fork][] = [
  ['node:child_process', cp.fork],
  ['procguard', pg.fork as unknown as Fork],
];

interface Run {
  child: cp.ChildProcess;
  /** Events and marks, in order. */
  log: unknown[];
  messages: any[];
  nextMessage(): Promise<any>;
  /** Resolves after 'exit' plus a moment for what follows it ('close' when it comes). */
  ended: Promise<void>;
}

/** Forks and records every event; a parent that disconnected gets no 'close' (in node either). */
function start(fork: Fork, args: string[], options: cp.ForkOptions = {}): Run {
  const child = fork(CHILD, args, options);
  const log: unknown[] = [];
  const messages: any[] = [];
  const waiting: ((m: any) => void)[] = [];
  for (const name of ['spawn', 'message', 'disconnect', 'exit', 'close', 'error']) {
    child.on(name, (...a: any[]) => {
      if (name === 'message') {
        log.push(['message', Object.keys(a[0])[0]]);
        messages.push(a[0]);
        waiting.shift()?.(a[0]);
      } else if (name === 'error') {
        log.push(['error', a[0]?.code ?? a[0]?.name]);
      } else {
        log.push(a.length ? [name, ...a] : name);
      }
    });
  }
  let seen = 0;
  const nextMessage = () => {
    if (messages.length > seen) return Promise.resolve(messages[seen++]);
    return new Promise<any>((resolve) => {
      waiting.push((m) => {
        seen++;
        resolve(m);
      });
    });
  };
  const ended = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'exit' within 20 s: ${JSON.stringify(log)}`)), 20000);
    child.once('exit', () => {
      clearTimeout(timer);
      setTimeout(resolve, 100);
    });
  });
  return { child, log, messages, nextMessage, ended };
}

async function inBoth<T>(scenario: (fork: Fork, name: string) => Promise<T>): Promise<T> {
  const expected = await scenario(cp.fork, 'node:child_process');
  const actual = await scenario(pg.fork as unknown as Fork, 'procguard');
  expect(actual).toEqual(expected);
  return actual;
}

function kind(s: unknown): string | null {
  if (s == null) return null;
  return (s as object).constructor?.name ?? typeof s;
}

const sys = prepareSystem();

describe('fork, compared with node:child_process', () => {
  it('gives the child a working channel: process.send, process.connected, process.channel', async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve', 'an arg']);
      const hello = (await run.nextMessage()).hello;
      run.child.disconnect();
      await run.ended;
      return { ...hello, pid: typeof hello.pid, oomScoreAdj: typeof hello.oomScoreAdj, nice: typeof hello.nice };
    });
    expect(r).toMatchObject({ argv: ['serve', 'an arg'], connected: true, hasChannel: true, channelRef: 'function' });
  });

  it('delivers send() with its callback, then disconnect(): the same events, connected and return values', async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve']);
      const initially = { isChildProcess: run.child instanceof cp.ChildProcess, connected: run.child.connected, stdio: run.child.stdio.map(kind), stdin: kind(run.child.stdin), channel: kind(run.child.channel), spawnfile: run.child.spawnfile, spawnargs: run.child.spawnargs.slice(1) };
      await run.nextMessage();
      const returned = run.child.send({ cmd: 'echo', value: { nested: [1, 'two', null] } }, (err) => run.log.push(['send callback', err]));
      const echo = await run.nextMessage();
      run.log.push(['connected before disconnect()', run.child.connected]);
      run.child.disconnect();
      run.log.push(['connected after disconnect()', run.child.connected]);
      await run.ended;
      return { initially, returned, echo, log: run.log, exitCode: run.child.exitCode, signalCode: run.child.signalCode, killed: run.child.killed };
    });
    expect(r.echo).toEqual({ echo: { nested: [1, 'two', null] } });
    expect(r.log).toEqual(['spawn', ['message', 'hello'], ['send callback', null], ['message', 'echo'], ['connected before disconnect()', true], ['connected after disconnect()', false], 'disconnect', ['exit', 0, null]]);
  });

  it('emits disconnect, exit and close when the child disconnects itself', async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['disconnect-self']);
      await run.ended;
      return { log: run.log, connected: run.child.connected };
    });
    expect(r.log).toEqual(['spawn', ['message', 'hello'], 'disconnect', ['exit', 0, null], ['close', 0, null]]);
  });

  it("reports the child's process.exit(code)", async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['exit-now', '3']);
      await run.ended;
      return run.log;
    });
    expect(r).toEqual(['spawn', 'disconnect', ['exit', 3, null], ['close', 3, null]]);
  });

  it('emits ERR_IPC_CHANNEL_CLOSED for a send() after disconnect, or gives it to the callback', async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve']);
      await run.nextMessage();
      run.child.disconnect();
      const noCallback = run.child.send({ late: 1 });
      let fromCallback: unknown;
      const withCallback = run.child.send({ late: 2 }, (err) => (fromCallback = errorFields(err)));
      await run.ended;
      return { noCallback, withCallback, fromCallback, log: run.log };
    });
    expect(r.fromCallback).toMatchObject({ code: 'ERR_IPC_CHANNEL_CLOSED' });
    expect(r.log).toContainEqual(['error', 'ERR_IPC_CHANNEL_CLOSED']);
  });

  it("ends the child on kill() and reports the signal; 'disconnect' comes first", async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['sleep']);
      await run.nextMessage();
      const returned = run.child.kill('SIGINT');
      await run.ended;
      return { returned, log: run.log, killed: run.child.killed, signalCode: run.child.signalCode };
    });
    expect(r).toMatchObject({ returned: true, killed: true, signalCode: 'SIGINT' });
  });

  it("carries Map, Set, BigInt, Date, typed arrays and nested objects with serialization 'advanced'", async () => {
    const value = () => ({ map: new Map<unknown, unknown>([['k', 1], [2, { deep: true }]]), set: new Set(['a', 'b']), big: 2n ** 70n, date: new Date(0), bytes: new Uint8Array([1, 2, 255]), floats: new Float64Array([0.5, -1]), buf: Buffer.from('buf'), undef: undefined, nested: { list: [1, [2, [3]]] } });
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve'], { serialization: 'advanced' });
      await run.nextMessage();
      run.child.send({ cmd: 'echo', value: value() });
      const echo = (await run.nextMessage()).echo;
      run.child.disconnect();
      await run.ended;
      return { echo, log: run.log };
    });
    expect(r.echo.map).toEqual(value().map);
    expect(r.echo.big).toBe(2n ** 70n);
    expect(r.echo.bytes).toEqual(new Uint8Array([1, 2, 255]));
    expect(r.echo.floats).toBeInstanceOf(Float64Array);
  });

  it("turns them into JSON with the default serialization 'json', as node does", async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve']);
      await run.nextMessage();
      run.child.send({ cmd: 'echo', value: { map: new Map([['k', 1]]), date: new Date(0), bytes: new Uint8Array([1]), undef: undefined } });
      const echo = (await run.nextMessage()).echo;
      run.child.disconnect();
      await run.ended;
      return { echo };
    });
    expect(r.echo).toEqual({ map: {}, date: '1970-01-01T00:00:00.000Z', bytes: { 0: 1 } });
  });

  it('gives the parent pipes with silent: true, and the child the parent\'s fds by default', async () => {
    const r = await inBoth(async (fork) => {
      const silent = start(fork, ['silent-output'], { silent: true });
      let out = '';
      let err = '';
      silent.child.stdout!.on('data', (d) => (out += d));
      silent.child.stderr!.on('data', (d) => (err += d));
      const shape = { stdio: silent.child.stdio.map(kind), stdin: kind(silent.child.stdin) };
      await silent.ended;
      const loud = start(fork, ['exit-now', '0']);
      const loudShape = loud.child.stdio.map(kind);
      await loud.ended;
      return { shape, out, err, loudShape };
    });
    expect(r).toEqual({ shape: { stdio: ['Socket', 'Socket', 'Socket', null], stdin: 'Socket' }, out: 'to stdout\n', err: 'to stderr\n', loudShape: [null, null, null, null] });
  });

  it.each([
    ["'ignore'", 'ignore'],
    ["'pipe'", 'pipe'],
    ["'inherit'", 'inherit'],
    ["[0, 'pipe', 'ignore', 'ipc']", [0, 'pipe', 'ignore', 'ipc']],
    ["['ipc', 'pipe', 'pipe'] (the channel on fd 0)", ['ipc', 'pipe', 'pipe']],
  ])('accepts stdio %s', async (_name, stdio) => {
    await inBoth(async (fork) => {
      const run = start(fork, ['exit-now', '4'], { stdio: stdio as cp.StdioOptions });
      const shape = run.child.stdio.map(kind);
      run.child.stdout?.resume();
      run.child.stderr?.resume();
      await run.ended;
      return { shape, log: run.log };
    });
  });

  it('passes execArgv to the child (and, without it, the parent\'s process.execArgv)', async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve'], { execArgv: ['--max-old-space-size=123', '--no-warnings'] });
      const hello = (await run.nextMessage()).hello;
      run.child.disconnect();
      await run.ended;
      return { execArgv: hello.execArgv, spawnargs: run.child.spawnargs };
    });
    expect(r.execArgv).toEqual(['--max-old-space-size=123', '--no-warnings']);
    const script = `
      const run = (m) => new Promise((resolve) => { const c = require(m).fork(${JSON.stringify(CHILD)}); c.once('message', (msg) => { c.disconnect(); resolve(msg.hello.execArgv); }); });
      run('node:child_process').then(async (a) => console.log(JSON.stringify([a, await run('procguard')])));
    `;
    const [fromNode, fromProcguard] = lastJson(runNode(script, { nodeArgs: ['--max-semi-space-size=2'] }));
    expect(fromProcguard).toEqual(fromNode);
    expect(fromProcguard).toEqual(['--max-semi-space-size=2']);
  });

  it.skipIf(!sys.available)('runs the given execPath', async () => {
    if (!sys.available) return;
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve'], { execPath: sys.capNode });
      const hello = (await run.nextMessage()).hello;
      run.child.disconnect();
      await run.ended;
      return { execPath: hello.execPath, spawnfile: run.child.spawnfile };
    });
    expect(r).toEqual({ execPath: sys.capNode, spawnfile: sys.capNode });
  });

  it('accepts a file: URL as modulePath, and options in place of args', async () => {
    await inBoth(async (fork) => {
      const run = (fork as (m: URL, o: cp.ForkOptions) => cp.ChildProcess)(pathToFileURL(CHILD), { cwd: '/tmp' });
      const first = await new Promise((resolve) => run.once('message', resolve));
      run.disconnect();
      await new Promise((resolve) => run.once('exit', resolve));
      return { argv: (first as any).hello.argv, spawnargs: run.spawnargs.slice(1) };
    });
  });

  it('kills a forked child after timeout with killSignal, as node does', async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['sleep'], { timeout: 300, killSignal: 'SIGUSR2' });
      await run.ended;
      // whether the child got to say 'sleeping' within the 300 ms depends on the machine's load
      return { log: run.log.filter((entry) => !(Array.isArray(entry) && entry[0] === 'message')), killed: run.child.killed };
    });
    expect(r.log).toContainEqual(['exit', null, 'SIGUSR2']);
  });

  it('aborts a forked child through an AbortSignal, with an AbortError', async () => {
    const r = await inBoth(async (fork) => {
      const ac = new AbortController();
      const run = start(fork, ['sleep'], { signal: ac.signal });
      await run.nextMessage();
      ac.abort();
      await run.ended;
      return { log: run.log, killed: run.child.killed };
    });
    expect(r.log).toContainEqual(['error', 'ABORT_ERR']);
  });

  it('sends a net.Socket to the child, which writes to it, as with node', async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve']);
      const { hello } = await run.nextMessage();
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      let received = '';
      client.on('data', (d) => (received += d));
      const clientClosed = new Promise((resolve) => client.once('close', resolve));
      const socket = await accepted;
      let callbackError: unknown = 'not called';
      run.child.send({ cmd: 'socket' }, socket, (err) => (callbackError = err));
      const done = await run.nextMessage();
      await clientClosed;
      server.close();
      run.child.disconnect();
      await run.ended;
      return { received: received.replace(String(hello.pid), '<pid>'), done, callbackError, socketDestroyed: socket.destroyed, log: run.log };
    });
    expect(r.received).toBe('child <pid> got the socket\n');
  });

  it('sends a net.Server to the child, which then serves its connections, as with node', async () => {
    const r = await inBoth(async (fork) => {
      const run = start(fork, ['serve']);
      const { hello } = await run.nextMessage();
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      run.child.send({ cmd: 'server' }, server);
      const ready = await run.nextMessage();
      server.close(); // the parent stops accepting: only the child's copy serves
      const replies: string[] = [];
      for (let i = 0; i < 2; i++) {
        replies.push(
          await new Promise<string>((resolve, reject) => {
            let text = '';
            const c = net.connect(port, '127.0.0.1');
            c.on('data', (d) => (text += d));
            c.on('close', () => resolve(text.replace(String(hello.pid), '<pid>')));
            c.on('error', reject);
          }),
        );
      }
      run.child.kill();
      await run.ended;
      return { ready, replies };
    });
    expect(r.replies).toEqual(['served by child <pid>\n', 'served by child <pid>\n']);
  });
});

describe('fork and ipc: errors as node gives them', () => {
  function thrownBy(fn: () => unknown): Record<string, unknown> {
    try {
      const child = fn() as cp.ChildProcess | undefined;
      child?.on?.('error', () => {});
      child?.kill?.('SIGKILL');
    } catch (err) {
      const f = errorFields(err);
      delete f.stack;
      return f;
    }
    return { didNotThrow: true };
  }

  it.each([
    ["stdio without 'ipc' (ERR_CHILD_PROCESS_IPC_REQUIRED)", [CHILD, [], { stdio: ['pipe', 'pipe', 'pipe'] }]],
    ["'ipc' twice (ERR_IPC_ONE_PIPE)", [CHILD, [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'ipc'] }]],
    ["stdio: 'bogus'", [CHILD, [], { stdio: 'bogus' }]],
    ['fork(123)', [123]],
    ["fork(path, 'not an array')", [CHILD, 'x']],
    ['fork(path, [], 1)', [CHILD, [], 1]],
    ['execPath with a null byte', [CHILD, [], { execPath: 'node\0x' }]],
    ['execArgv with a null byte', [CHILD, [], { execArgv: ['--a\0'] }]],
    ["serialization: 'bogus'", [CHILD, [], { serialization: 'bogus' }]],
    ['a Buffer in stdio (ERR_INVALID_SYNC_FORK_INPUT)', [CHILD, [], { stdio: ['pipe', Buffer.from('x'), 'pipe', 'ipc'] }]],
  ])('fork with %s throws what node throws', (_name, args) => {
    const expected = thrownBy(() => (cp.fork as (...a: unknown[]) => unknown)(...(args as unknown[])));
    const actual = thrownBy(() => (pg.fork as (...a: unknown[]) => unknown)(...(args as unknown[])));
    expect(actual).toEqual(expected);
  });

  it("spawn with 'ipc' twice throws ERR_IPC_ONE_PIPE, and spawnSync with 'ipc' ERR_IPC_SYNC_FORK, as node does", () => {
    const twice = ['pipe', 'pipe', 'pipe', 'ipc', 'ipc'];
    expect(thrownBy(() => pg.spawn('true', [], { stdio: twice as cp.StdioOptions }))).toEqual(thrownBy(() => cp.spawn('true', [], { stdio: twice as cp.StdioOptions })));
    expect(thrownBy(() => pg.spawnSync('true', [], { stdio: ['ipc'] as unknown as cp.StdioOptions }))).toEqual(thrownBy(() => cp.spawnSync('true', [], { stdio: ['ipc'] as unknown as cp.StdioOptions })));
    expect(thrownBy(() => pg.spawnSync('true', [], { stdio: ['ipc'] as unknown as cp.StdioOptions }))).toMatchObject({ code: 'ERR_IPC_SYNC_FORK' });
  });
});

describe('priority of a forked child', () => {
  it('is applied before the child runs its first statement (per-spawn options)', async () => {
    const own = { oom: readOomScoreAdj('self'), nice: readNice('self') };
    const run = start(pg.fork as unknown as Fork, ['serve'], { oomScoreAdj: 640, nice: 6 } as cp.ForkOptions);
    const { hello } = await run.nextMessage();
    expect((run.child as unknown as pg.GuardedChildProcess).priority).toEqual({ oomScoreAdj: 640, nice: 6, schedPolicy: null, ioPriority: null, warnings: [] });
    run.child.disconnect();
    await run.ended;
    expect({ oom: hello.oomScoreAdj, nice: hello.nice }).toEqual({ oom: 640, nice: 6 });
    // and the parent kept its own
    expect({ oom: readOomScoreAdj('self'), nice: readNice('self') }).toEqual(own);
  });

  it('gives a managed agent\'s forked child oom_score_adj 998, nice 5 and no CODER_PROC_* variable, also through spawn with \'ipc\'', () => {
    const script = `
      const pg = require('procguard');
      const viaFork = new Promise((resolve) => { const c = pg.fork(${JSON.stringify(CHILD)}); c.once('message', (m) => { c.disconnect(); resolve({ hello: m.hello, priority: c.priority }); }); });
      const viaSpawn = new Promise((resolve) => { const c = pg.spawn(process.execPath, [${JSON.stringify(CHILD)}], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] }); c.once('message', (m) => { c.disconnect(); resolve({ hello: m.hello, priority: c.priority }); }); });
      Promise.all([viaFork, viaSpawn]).then((r) => console.log(JSON.stringify(r)));
    `;
    const results = lastJson(runNode(script, { env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_OTHER: 'x' }, nice: 0 }));
    for (const r of results) {
      expect(r.hello).toMatchObject({ oomScoreAdj: 998, nice: 5, guardEnv: [], connected: true });
      expect(r.priority).toEqual({ oomScoreAdj: 998, nice: 5, schedPolicy: null, ioPriority: null, warnings: [] });
    }
  });

  it('keeps the channel working while the child runs at the lowest priority (nice 19, oom_score_adj 1000)', async () => {
    const run = start(pg.fork as unknown as Fork, ['serve'], { oomScoreAdj: 1000, nice: 19 } as cp.ForkOptions);
    const { hello } = await run.nextMessage();
    expect(hello).toMatchObject({ oomScoreAdj: 1000, nice: 19 });
    for (let i = 0; i < 20; i++) {
      run.child.send({ cmd: 'echo', value: i });
      expect(await run.nextMessage()).toEqual({ echo: i });
    }
    run.child.disconnect();
    await run.ended;
    await sleep(0);
  });
});
