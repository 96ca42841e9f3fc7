// A ChildProcess for runtimes that are not Node (Bun, Deno). Node's ChildProcess is driven by
// an internal process handle procguard swaps for its own; Bun's and Deno's have no such handle.
// So this class does, for procguard's engine, what Node's ChildProcess does for libuv: the same
// events in the same order ('spawn', 'error', 'exit', 'close'), the same fields and kill(), with
// stdio streams that runtime reads and writes well over the engine's socketpair ends:
// Bun's fs streams, Deno's net.Socket (each measured; the other one fails or stalls there).
import { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import { codedError, errnoException, invalidArgValue } from '../errors';
import type { NativeBinding, NativeExit, NativeSpawnResult, NativeStdio } from '../native';
import { closePipes, launchRequest, signalName } from '../process-handle';
import type { PriorityPlan } from '../process-handle';
import type { Containment } from '../cgroup/containment';
import { toSignalNumber } from '../spawn';
import type { NormalizedSpawn } from '../spawn';
import { currentRuntime } from './detect';

type Stream = Readable | Writable;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const ESRCH = 3;
const EINVAL = 22;
const ENOSYS = 38;

/** fork() and 'ipc' need Node's IPC channel, which only Node's own ChildProcess can carry. */
export function ipcUnavailable(what: string): Error {
  const { label } = currentRuntime();
  return codedError(
    Error,
    'ERR_PROCGUARD_IPC_UNAVAILABLE',
    `procguard: ${what} is not available under ${label}: its IPC channel cannot be given to a child procguard starts. ` +
      `Use spawn() with stdio pipes and a protocol of your own, or ${label}'s own child_process.fork() (without procguard's protection).`,
  );
}

/** Node's getValidStdio(), for the entries procguard's engine can give a child. */
export function runtimeStdio(stdio: unknown): NativeStdio[] {
  let list: unknown[];
  if (stdio == null) list = ['pipe', 'pipe', 'pipe'];
  else if (typeof stdio === 'string') {
    if (!['ignore', 'pipe', 'overlapped', 'inherit'].includes(stdio)) throw invalidArgValue('stdio', stdio);
    list = [stdio, stdio, stdio];
  } else if (Array.isArray(stdio)) list = stdio.slice();
  else throw invalidArgValue('stdio', stdio);
  while (list.length < 3) list.push(undefined);
  return list.map((entry, i): NativeStdio => {
    if (entry == null) entry = i < 3 ? 'pipe' : 'ignore';
    if (entry === 'ignore') return { kind: 'ignore' };
    if (entry === 'pipe' || entry === 'overlapped' || (typeof entry === 'number' && entry < 0)) return { kind: 'pipe' };
    if (entry === 'ipc') throw ipcUnavailable("stdio 'ipc'");
    if (entry === 'inherit') return { kind: 'fd', fd: i };
    if (typeof entry === 'number') return { kind: 'fd', fd: entry };
    const stream = entry as { fd?: unknown; _handle?: { fd?: unknown } };
    const fd = typeof stream.fd === 'number' ? stream.fd : stream._handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return { kind: 'fd', fd };
    throw invalidArgValue('stdio', entry);
  });
}

/**
 * Our end of one socketpair as a stream of this runtime: the child reads fd 0, writes the others.
 * Deno: net.Socket over the fd. Bun: its fs streams do blocking reads and writes on a small
 * thread pool (two readers starve a writer, a child that never reads its stdin stalls every
 * other pipe; non-blocking, they fail with EAGAIN), and its net.Socket never reads such an fd;
 * Bun.file(fd) polls it. Its stream and its writer use a dup of the fd (made at first use), so
 * ours is closed once the stream is: then the child sees its EOF.
 */
function pipeStream(fd: number, childReads: boolean): Stream {
  if (currentRuntime().name === 'deno') return new net.Socket({ fd, readable: !childReads, writable: childReads });
  const file = (globalThis as unknown as { Bun: { file(fd: number): BunFile } }).Bun.file(fd);
  const stream = childReads ? bunWriter(file) : Readable.fromWeb(file.stream() as import('node:stream/web').ReadableStream);
  stream.once('close', () => fs.close(fd, () => {}));
  return stream;
}

interface BunFileSink {
  write(chunk: Uint8Array | string): number;
  flush(): number | Promise<number>;
  end(): number | Promise<number>;
}
interface BunFile {
  stream(): ReadableStream;
  writer(): BunFileSink;
}

/** A Writable over Bun's FileSink: each chunk is done once the sink flushed it (backpressure as a socket's). */
function bunWriter(file: BunFile): Writable {
  const sink = file.writer();
  const settle = (result: number | Promise<number>, done: (err?: Error | null) => void) =>
    Promise.resolve(result).then(() => done(), (err: Error) => done(err));
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        sink.write(chunk);
        settle(sink.flush(), done);
      } catch (err) {
        done(err as Error);
      }
    },
    final(done) {
      try {
        settle(sink.end(), done);
      } catch (err) {
        done(err as Error);
      }
    },
    destroy(err, done) {
      // The child is gone or the user gave up: what is still buffered is dropped, as for a socket.
      try {
        Promise.resolve(sink.end()).catch(() => {});
      } catch {
        // already ended
      }
      done(err);
    },
  });
}

/** A pipe the child never got (the spawn failed before the clone): ended at once, as an EOF. */
function endedStream(): Stream {
  const stream = new PassThrough();
  stream.end();
  stream.resume();
  return stream;
}

export class RuntimeChildProcess extends ChildProcess {
  /** Called with the raw exit before 'exit', so the caller can attach data first. */
  beforeExit?: (exit: NativeExit) => void;
  private native?: NativeSpawnResult['child'];
  private closesNeeded = 1;
  private closesGot = 0;

  constructor() {
    super();
    // Bun's ChildProcess has these as getters over its own handle: plain fields here, as in Node.
    for (const name of ['stdin', 'stdout', 'stderr', 'stdio', 'connected', 'pid', 'exitCode', 'signalCode', 'killed', 'spawnfile', 'spawnargs']) {
      Object.defineProperty(this, name, { value: null, writable: true, enumerable: true, configurable: true });
    }
    this.own.connected = false;
    this.own.killed = false;
    this.own.stdio = [] as unknown as ChildProcess['stdio'];
  }

  /** ChildProcess.prototype.spawn of Node, over procguard's engine. Returns the engine's outcome. */
  launch(binding: NativeBinding, normalized: NormalizedSpawn, plan: PriorityPlan, containment: Pick<Containment, 'launch'>): NativeSpawnResult {
    const stdio = runtimeStdio(normalized.options.stdio);
    this.own.spawnfile = normalized.file;
    this.own.spawnargs = normalized.args;
    const result = containment.launch((joinFiles?: string[]) => binding.spawn({
      ...launchRequest({ ...normalized, uid: normalized.options.uid as number | undefined, gid: normalized.options.gid as number | undefined }, plan, joinFiles),
      stdio,
      onExit: (exit) => this.exited(exit),
    }), closePipes);
    // As libuv: a failed exec still hands back our ends, which then read EOF and close.
    const streams = stdio.map((entry, i): Stream | null => {
      if (entry.kind !== 'pipe') return null;
      const fd = result.pipes[i] ?? -1;
      const stream = fd >= 0 ? pipeStream(fd, i === 0) : endedStream();
      if (i > 0) {
        this.closesNeeded++;
        stream.on('close', () => this.maybeClose());
      }
      return stream;
    });
    this.own.stdio = streams as unknown as ChildProcess['stdio'];
    this.stdin = (streams[0] as Writable | null) ?? null;
    this.stdout = (streams[1] as Readable | null) ?? null;
    this.stderr = (streams[2] as Readable | null) ?? null;

    if (result.errno !== 0) {
      // Node emits a spawn failure as 'error' on the next tick, then 'close' once the pipes are.
      process.nextTick(() => this.exited(null, result.errno));
      return result;
    }
    this.own.pid = result.pid;
    this.native = result.child;
    process.nextTick(() => this.emit('spawn'));
    return result;
  }

  private exited(exit: NativeExit | null, errno = 0): void {
    this.native = undefined;
    if (exit) {
      this.beforeExit?.(exit);
      if (exit.signal) this.own.signalCode = signalName(exit.signal) as NodeJS.Signals;
      else this.own.exitCode = exit.exitCode;
    } else {
      this.own.exitCode = -errno;
    }
    (this.stdin as Writable | null)?.destroy();
    if (errno) {
      const err = errnoException(errno, `spawn ${this.spawnfile}`);
      err.path = this.spawnfile;
      err.spawnargs = this.spawnargs.slice(1);
      this.emit('error', err);
    } else {
      this.emit('exit', this.exitCode, this.signalCode);
    }
    process.nextTick(() => this.flushStdio());
    this.maybeClose();
  }

  /** The fields Node's own code sets on its ChildProcess (read-only to its users). */
  private get own(): Mutable<ChildProcess> {
    return this;
  }

  /** As Node: output nobody reads is drained after the exit, so the pipes close and 'close' comes. */
  private flushStdio(): void {
    for (const stream of this.stdio as unknown as (Stream | null)[]) {
      const readable = stream as (Readable & { _readableState?: { readableListening?: boolean } }) | null;
      if (!readable || !readable.readable || readable._readableState?.readableListening) continue;
      readable.resume();
    }
  }

  private maybeClose(): void {
    if (++this.closesGot === this.closesNeeded) this.emit('close', this.exitCode, this.signalCode);
  }

  kill(sig?: NodeJS.Signals | number): boolean {
    const signal = sig === 0 ? 0 : toSignalNumber(sig === undefined ? 'SIGTERM' : sig);
    if (!this.native) return false;
    const err = -this.native.kill(signal);
    if (err === 0) {
      this.own.killed = true;
      return true;
    }
    if (err === ESRCH) return false; // already dead
    const failure = errnoException(err, 'kill');
    if (err === EINVAL || err === ENOSYS) throw failure;
    this.emit('error', failure);
    return false;
  }

  ref(): void {
    this.native?.ref();
  }

  unref(): void {
    this.native?.unref();
  }

  disconnect(): void {
    throw ipcUnavailable('disconnect()');
  }
}
