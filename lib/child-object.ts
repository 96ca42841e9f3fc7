// Node's ChildProcess object, made around procguard's process handle.
//
// `new ChildProcess()` would also make Node's own native process handle, which procguard never
// spawns: Node keeps such a handle (and through it the child, its sockets and listeners) alive
// until it is closed, and an unspawned handle cannot be closed. So the object is made as Node's
// constructor makes it (the same fields, in the same order, the same 'exit'/'error' handling,
// the same diagnostics_channel message), with procguard's handle in place of Node's from the
// start; everything after (spawn(), kill(), stdio, 'close') is Node's own prototype.
import { ChildProcess } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { errnoException } from './errors';
import type { GuardedProcessHandle } from './process-handle';

const childProcessChannel = diagnosticsChannel.channel('child_process');

interface ChildFields {
  _closesNeeded: number;
  _closesGot: number;
  connected: boolean;
  signalCode: string | null;
  exitCode: number | null;
  killed: boolean;
  spawnfile: string | null;
  spawnargs: string[];
  _handle: GuardedProcessHandle | null;
  stdin: { destroy(): void } | null;
  stdio: ({ readable?: boolean; resume(): void } | null)[] | null;
}

/** A ChildProcess whose handle is `handle`: what Node's constructor does, with no handle of Node's. */
export function childProcessAround(handle: GuardedProcessHandle): ChildProcess {
  const child = Object.create(ChildProcess.prototype) as ChildFields & EventEmitter;
  EventEmitter.call(child);
  child._closesNeeded = 1;
  child._closesGot = 0;
  child.connected = false;
  child.signalCode = null;
  child.exitCode = null;
  child.killed = false;
  child.spawnfile = null;
  child._handle = handle;
  handle.onexit = (exitCode, signalCode) => {
    if (signalCode) child.signalCode = signalCode;
    else child.exitCode = exitCode;
    child.stdin?.destroy();
    child._handle?.close();
    child._handle = null;
    if (exitCode < 0) {
      const err = errnoException(exitCode, child.spawnfile ? `spawn ${child.spawnfile}` : 'spawn');
      if (child.spawnfile) err.path = child.spawnfile;
      err.spawnargs = child.spawnargs.slice(1);
      child.emit('error', err);
    } else {
      child.emit('exit', child.exitCode, child.signalCode);
    }
    // Streams nobody touched are read through, so that they end and 'close' comes; on the next
    // tick, so that an 'exit' listener can still start reading.
    process.nextTick(flushStdio, child);
    maybeClose(child);
  };
  if (childProcessChannel.hasSubscribers) childProcessChannel.publish({ process: child });
  return child as unknown as ChildProcess;
}

/** Node's flushStdio(): resume every readable stream of the child that no one reads. */
function flushStdio(child: ChildFields): void {
  for (const stream of child.stdio ?? []) {
    if (!stream || !stream.readable || usedAsStdio(stream)) continue;
    stream.resume();
  }
}

/** Node's maybeClose(): 'close' once the exit and every stream's close are in. */
function maybeClose(child: ChildFields & EventEmitter): void {
  child._closesGot++;
  if (child._closesGot === child._closesNeeded) child.emit('close', child.exitCode, child.signalCode);
}

/** A stream the user passed as stdio (Node marks it with its kIsUsedAsStdio symbol): not ours to drain. */
function usedAsStdio(stream: object): boolean {
  return Object.getOwnPropertySymbols(stream).some((s) => s.description === 'kIsUsedAsStdio' && (stream as Record<symbol, unknown>)[s]);
}
