// spawnSync, execSync and execFileSync behave as node:child_process's: the same call runs through
// both and the result (its keys in order, status, signal, output, error fields) or the thrown error
// must be equal. Then what procguard adds: the same priority management, strict, warnings and
// environment stripping as the async functions, reported on result.priority.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as cp from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as pg from 'procguard';
import { prepareSystem } from './helpers/system';
import { errorFields, readNice, readOomScoreAdj } from './helpers/proc';
import { inBoth, lastJson, runNode } from './helpers/run-node';

type SyncFns = Pick<typeof cp, 'spawnSync' | 'execSync' | 'execFileSync'>;
type Fn = keyof SyncFns;
const guard = pg as unknown as SyncFns;

/** The pid of a child is never the same twice: its type is compared (0, for no child, exactly). */
function pidOf(pid: unknown): unknown {
  return pid === 0 ? 0 : typeof pid;
}

/** Large outputs compared by length and digest: deep equality over megabytes of bytes is slow. */
function digest(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(digest);
  if ((Buffer.isBuffer(value) || typeof value === 'string') && value.length > 4096) {
    return { length: value.length, sha1: createHash('sha1').update(value).digest('hex'), kind: typeof value };
  }
  return value;
}

function withDigests(r: Record<string, unknown>): void {
  for (const key of ['output', 'stdout', 'stderr']) if (key in r) r[key] = digest(r[key]);
}

function normalizeError(err: unknown): Record<string, unknown> {
  const e = err as Error & Record<string, unknown>;
  const fields = errorFields(err);
  delete fields.stack;
  if ('pid' in e) fields.pid = pidOf(e.pid);
  if ('error' in e) fields.error = e.error === e ? '[the error itself]' : e.error ? normalizeError(e.error) : e.error;
  fields.keys = Object.keys(e);
  withDigests(fields);
  return fields;
}

function normalizeResult(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || !('status' in value)) return value;
  const r = value as Record<string, unknown>;
  const out = { keys: Object.keys(r), ...r, pid: pidOf(r.pid), error: r.error ? normalizeError(r.error) : r.error };
  withDigests(out);
  return out;
}

function outcome(impl: SyncFns, fn: Fn, args: unknown[]): { returned?: unknown; thrown?: Record<string, unknown> } {
  try {
    return { returned: digest(normalizeResult((impl[fn] as (...a: unknown[]) => unknown)(...args))) };
  } catch (err) {
    return { thrown: normalizeError(err) };
  }
}

function sameAsNode(fn: Fn, ...args: unknown[]) {
  const expected = outcome(cp, fn, args);
  const actual = outcome(guard, fn, args);
  expect(actual).toEqual(expected);
  return actual as { returned?: Record<string, any>; thrown?: Record<string, any> };
}

let dir: string;
let notExecutable: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-sync-'));
  notExecutable = path.join(dir, 'not-executable');
  fs.writeFileSync(notExecutable, '#!/bin/sh\necho ran\n', { mode: 0o644 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sys = prepareSystem();

describe('spawnSync, compared with node:child_process', () => {
  it('returns { status, signal, output, pid, stdout, stderr } as node does for a command exiting 3', () => {
    const r = sameAsNode('spawnSync', 'sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(r.returned).toMatchObject({ keys: ['status', 'signal', 'output', 'pid', 'stdout', 'stderr'], status: 3, signal: null });
    expect(r.returned!.stdout).toEqual(Buffer.from('out\n'));
    expect(r.returned!.output).toEqual([null, Buffer.from('out\n'), Buffer.from('err\n')]);
  });

  it('gives result.pid = the pid the child had', () => {
    const r = pg.spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
    expect(Number(r.stdout)).toBe(r.pid);
    expect(r.pid).toBeGreaterThan(0);
  });

  const inputs: [string, () => unknown][] = [
    ['a string', () => 'from a string'],
    ['a Buffer', () => Buffer.from('from a buffer')],
    ['a Uint8Array view into a larger buffer', () => new Uint8Array(Buffer.from('..view..').buffer, 0, 8).subarray(2, 6)],
    ['a Uint16Array', () => new Uint16Array([0x6968, 0x0a21])],
    ['a DataView', () => new DataView(Buffer.from('xxdataviewxx').buffer.slice(0), 2, 8)],
  ];
  it.each(inputs)('writes input given as %s to stdin', (_name, make) => {
    const r = sameAsNode('spawnSync', 'od', ['-An', '-c'], { input: make() });
    expect(r.returned!.status).toBe(0);
    expect(String(r.returned!.stdout).trim()).not.toBe('');
  });

  it('encodes a string input with options.encoding, as node does', () => {
    const r = sameAsNode('spawnSync', 'od', ['-An', '-tx1'], { input: 'é', encoding: 'latin1' });
    expect(r.returned!.stdout.trim()).toBe('e9');
  });

  it('ignores an empty input (stdin stays the pipe, at EOF)', () => {
    sameAsNode('spawnSync', 'cat', [], { input: '' });
  });

  it('throws ERR_INVALID_ARG_TYPE for an input that is not a string, Buffer, TypedArray or DataView', () => {
    const r = sameAsNode('spawnSync', 'cat', [], { input: 5 });
    expect(r.thrown).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });

  it("replaces a 'pipe' stdio[0] with input, but not an 'inherit' one (the child reads the parent's stdin), as node does", () => {
    expect(String(sameAsNode('spawnSync', 'cat', [], { input: 'over', stdio: ['pipe', 'pipe', 'pipe'] }).returned!.stdout)).toBe('over');
    const runs = inBoth("process.stdout.write(cp.spawnSync('cat', [], { input: 'over', stdio: ['inherit', 'pipe', 'pipe'] }).stdout);", { input: 'parent stdin' });
    expect(runs.procguard).toEqual(runs.node);
    expect(runs.procguard.stdout).toBe('parent stdin');
  });

  it.each(['utf8', 'latin1', 'hex', 'base64', 'buffer', 'no-such-encoding'])('decodes stdout and stderr with encoding %s as node does', (encoding) => {
    sameAsNode('spawnSync', 'sh', ['-c', 'printf "\\303\\251\\377"; printf "e\\351" >&2'], { encoding });
  });

  it.each([
    ['ignore', 'ignore'],
    ['pipe', 'pipe'],
    ["['ignore', 'pipe', 'ignore']", ['ignore', 'pipe', 'ignore']],
    ['[null, undefined, pipe]', [null, undefined, 'pipe']],
    ["['pipe', 'pipe', 'pipe', 'pipe'] (an extra pipe, not read into output)", ['pipe', 'pipe', 'pipe', 'pipe']],
  ])('handles stdio %s as node does', (_name, stdio) => {
    sameAsNode('spawnSync', 'sh', ['-c', 'echo out; echo err >&2; echo three >&3 2>/dev/null; true'], { stdio });
  });

  // node 20's spawnSync aborts the whole process on 'overlapped' (spawn_sync.cc: "invalid child stdio
  // type"); the documentation says it is 'pipe' on other platforms than Windows, which procguard does.
  it("treats stdio 'overlapped' as 'pipe' (where node 20's spawnSync aborts)", () => {
    const r = pg.spawnSync('sh', ['-c', 'cat; echo err >&2'], { stdio: 'overlapped', input: 'in', encoding: 'utf8' });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: 'in', stderr: 'err\n' });
  });

  it("sends output to the parent's own fds with stdio 'inherit' and [0, 1, 2], as node does", () => {
    for (const stdio of ["'inherit'", '[0, 1, 2]', "['inherit', 'inherit', 'pipe']"]) {
      const runs = inBoth(`
        const r = cp.spawnSync('sh', ['-c', 'echo to-out; echo to-err >&2'], { stdio: ${stdio} });
        console.log(JSON.stringify({ status: r.status, output: r.output && r.output.map((o) => o && String(o)) }));
      `);
      expect(runs.procguard, stdio).toEqual(runs.node);
      expect(runs.procguard.stdout.startsWith('to-out\n')).toBe(true);
    }
  });

  it('writes to an fd number and to a stream with an fd given in stdio', () => {
    const file = path.join(dir, 'sync-fd.txt');
    const fd = fs.openSync(file, 'w');
    const r = pg.spawnSync('sh', ['-c', 'echo to-fd; echo err-to-fd >&2'], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    expect(r.status).toBe(0);
    expect(r.output).toEqual([null, null, null]);
    expect(fs.readFileSync(file, 'utf8')).toBe('to-fd\nerr-to-fd\n');
  });

  it('kills the child after timeout and reports ETIMEDOUT with signal SIGTERM, as node does', () => {
    const started = Date.now();
    const r = sameAsNode('spawnSync', 'sleep', ['30'], { timeout: 200 });
    expect(Date.now() - started).toBeLessThan(10000);
    expect(r.returned).toMatchObject({ status: null, signal: 'SIGTERM', error: { code: 'ETIMEDOUT', errno: -110, syscall: 'spawnSync sleep', path: 'sleep', spawnargs: ['30'] } });
  });

  it.each([['SIGKILL'], ['SIGUSR2'], [9]])('kills with killSignal %s on timeout', (killSignal) => {
    const r = sameAsNode('spawnSync', 'sleep', ['30'], { timeout: 150, killSignal });
    expect(r.returned!.error.code).toBe('ETIMEDOUT');
  });

  it('reports ENOBUFS and kills the child (signal SIGTERM) when stdout exceeds maxBuffer, as node does', () => {
    // How much more than maxBuffer was read before the kill depends on the pipe's chunks: not compared.
    const strip = (o: ReturnType<typeof outcome>) => ({ ...o, returned: { ...(o.returned as object), output: 'compared below', stdout: 'compared below', stderr: 'compared below' } });
    for (const [args, options] of [
      [['-c', 'yes'], { maxBuffer: 100 }],
      [['-c', 'yes >&2'], { maxBuffer: 100 }],
      [['-c', 'head -c 2000000 /dev/zero'], {}], // the default maxBuffer: 1 MiB
      [['-c', 'yes'], { maxBuffer: 100, killSignal: 'SIGKILL' }],
    ] as const) {
      const expected = outcome(cp, 'spawnSync', ['sh', args, options]);
      const actual = outcome(guard, 'spawnSync', ['sh', args, options]);
      expect(strip(actual)).toEqual(strip(expected));
      const r = (guard.spawnSync as (...a: unknown[]) => Record<string, any>)('sh', args, options);
      expect(r.error.code).toBe('ENOBUFS');
      expect(r.signal).toBe(options.killSignal ?? 'SIGTERM');
      const limit = (options as { maxBuffer?: number }).maxBuffer ?? 1024 * 1024;
      const over = args[1].includes('>&2') ? r.stderr : r.stdout;
      expect(over.length).toBeGreaterThan(limit);
    }
  });

  it('accepts output of exactly maxBuffer bytes', () => {
    const r = sameAsNode('spawnSync', 'printf', ['12345'], { maxBuffer: 5 });
    expect(r.returned!.error).toBeUndefined();
  });

  it('reads any amount with maxBuffer: Infinity', () => {
    const r = sameAsNode('spawnSync', 'head', ['-c', '3000000', '/dev/zero'], { maxBuffer: Infinity });
    expect(r.returned!.stdout.length).toBe(3000000);
    expect(r.returned!.error).toBeUndefined();
  });

  it('runs in the given cwd', () => {
    const r = sameAsNode('spawnSync', 'pwd', [], { cwd: dir, encoding: 'utf8' });
    expect(r.returned!.stdout).toBe(`${fs.realpathSync(dir)}\n`);
  });

  it('passes exactly the given env', () => {
    const r = sameAsNode('spawnSync', 'env', [], { env: { ONLY: 'this', PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
    expect(r.returned!.stdout.split('\n').filter(Boolean).sort()).toEqual(['ONLY=this', 'PATH=/usr/bin:/bin']);
  });

  it.each([
    ['shell: true', 'echo "$0" $((20+22)) "a  b" \'c d\'', {}, { shell: true }],
    ["shell: '/bin/bash'", 'echo "${BASH_VERSION:+bash}"', {}, { shell: '/bin/bash' }],
    ['shell: true with args (joined with spaces, unquoted)', 'echo', ['a b', "'c  d'", '"e"'], { shell: true }],
    ['shell: true, a command not found (127)', 'procguard-no-such-command-here', [], { shell: true }],
  ])('runs through the shell with %s as node does', (_name, command, args, options) => {
    sameAsNode('spawnSync', command, args, { ...options, encoding: 'utf8' });
  });

  it('exits 127 from a shell that cannot find the command, as node does', () => {
    const r = sameAsNode('spawnSync', 'procguard-no-such-command-here', { shell: true, encoding: 'utf8' });
    expect(r.returned!.status).toBe(127);
  });

  it('sets argv[0] from argv0 (what $0 and /proc/<pid>/cmdline show)', () => {
    const r = sameAsNode('spawnSync', 'sh', ['-c', 'echo "$0"; cat /proc/$$/cmdline'], { argv0: 'renamed-sh', encoding: 'latin1' });
    expect(r.returned!.stdout).toBe('renamed-sh\nrenamed-sh\u0000-c\u0000echo "$0"; cat /proc/$$/cmdline\u0000');
  });

  it('accepts windowsHide and windowsVerbatimArguments and does nothing with them on Linux', () => {
    sameAsNode('spawnSync', 'echo', ['a'], { windowsHide: true, windowsVerbatimArguments: true });
  });

  it('reports the signal of a child that killed itself', () => {
    const r = sameAsNode('spawnSync', 'sh', ['-c', 'kill -9 $$']);
    expect(r.returned).toMatchObject({ status: null, signal: 'SIGKILL' });
  });

  it.skipIf(!sys.available)('runs the child as uid/gid', () => {
    if (!sys.available) return;
    const r = sameAsNode('spawnSync', 'id', ['-u'], { uid: sys.uid, gid: sys.gid, encoding: 'utf8' });
    expect(r.returned!.stdout).toBe(`${sys.uid}\n`);
    const g = pg.spawnSync('id', ['-g'], { uid: sys.uid, gid: sys.gid, encoding: 'utf8' });
    expect(g.stdout).toBe(`${sys.gid}\n`);
  });

  const failures: [string, () => [string, string[], object]][] = [
    ['ENOENT for a command not on the PATH', () => ['procguard-no-such-command', ['a'], {}]],
    ['ENOENT for a missing absolute path', () => ['/nonexistent/dir/cmd', [], {}]],
    ['EACCES for a non-executable file', () => [notExecutable, ['x'], {}]],
    ['EACCES for a directory', () => [dir, [], {}]],
    ['ENOENT for a cwd that does not exist', () => ['true', [], { cwd: '/nonexistent-cwd' }]],
    ['ENOTDIR for a cwd that is a file', () => ['true', [], { cwd: notExecutable }]],
  ];
  it.each(failures)('gives %s the same error and result as node', (_name, make) => {
    const r = sameAsNode('spawnSync', ...make());
    expect(r.returned!.error).toBeDefined();
    // stdout and stderr: null on Node 20, undefined on Node 24 (sameAsNode compared them with the running Node's)
    expect(r.returned).toMatchObject({ status: null, signal: null, output: null, pid: 0 });
    expect(r.returned!.stdout ?? null).toBeNull();
  });

  const invalid: [string, unknown[]][] = [
    ["stdio: ['pipe', 'pipe', 'pipe', 'ipc'] (ERR_IPC_SYNC_FORK)", ['true', [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }]],
    ["stdio: 'foo'", ['true', [], { stdio: 'foo' }]],
    ['timeout: -1', ['true', [], { timeout: -1 }]],
    ['maxBuffer: -1', ['true', [], { maxBuffer: -1 }]],
    ["killSignal: 'SIGNOPE'", ['true', [], { killSignal: 'SIGNOPE' }]],
    ['spawnSync(1)', [1]],
    ["cwd: '/tmp\\0x'", ['true', [], { cwd: '/tmp\0x' }]],
  ];
  it.each(invalid)('throws for %s what node throws', (_name, args) => {
    const r = sameAsNode('spawnSync', ...args);
    expect(r.thrown).toBeDefined();
  });

  it("does not deadlock on a child that writes several MB to stdout and stderr at once", () => {
    const script = 'const b = Buffer.alloc(4 << 20, 120); for (let i = 0; i < 3; i++) { process.stdout.write(b); process.stderr.write(b); }';
    const r = pg.spawnSync(process.execPath, ['-e', script], { maxBuffer: 64 << 20, timeout: 30000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(12 << 20);
    expect(r.stderr.length).toBe(12 << 20);
    expect(r.stdout.every((c) => c === 120)).toBe(true);
  });

  it('does not deadlock writing 8 MB to a child that echoes it back (cat)', () => {
    const input = Buffer.alloc(8 << 20);
    for (let i = 0; i < input.length; i++) input[i] = i % 251;
    const r = pg.spawnSync('cat', [], { input, maxBuffer: 64 << 20, timeout: 30000 });
    expect(r.error).toBeUndefined();
    expect(Buffer.compare(r.stdout, input)).toBe(0);
  });

  it('does not deadlock on a child that never reads its stdin while 10 MB are written: EPIPE, as node reports it', () => {
    for (const command of [['true'], ['sh', '-c', 'sleep 0.2; echo done']]) {
      const options = { input: Buffer.alloc(10 << 20, 97), timeout: 30000 };
      const r = sameAsNode('spawnSync', command[0], command.slice(1), options);
      expect(r.returned).toMatchObject({ status: 0, error: { code: 'EPIPE', errno: -32, syscall: `spawnSync ${command[0]}` } });
    }
  });

  // Not documented for Node 20, which drops such an entry (the later fds move down one: a child's
  // stdin then is a pipe nobody closes and `cat` waits forever, fd 3 is missing). procguard gives the
  // child a pipe on that fd with the data, then end-of-file.
  it('gives the child a Buffer placed at stdio[0] as its stdin', () => {
    const zero = pg.spawnSync('cat', [], { stdio: [Buffer.from('on fd 0'), 'pipe', 'pipe'], encoding: 'utf8', timeout: 5000 });
    expect({ error: zero.error?.message, stdout: zero.stdout }).toEqual({ error: undefined, stdout: 'on fd 0' });
  });

  it('gives the child a Buffer or string placed at stdio[3] as input on fd 3, then end-of-file', () => {
    const three = pg.spawnSync('sh', ['-c', 'cat <&3'], { stdio: ['pipe', 'pipe', 'pipe', Buffer.from('on fd 3')], encoding: 'utf8', timeout: 2000 });
    expect({ error: three.error?.message, stdout: three.stdout, status: three.status }).toEqual({ error: undefined, stdout: 'on fd 3', status: 0 });
    const string3 = pg.spawnSync('sh', ['-c', 'cat <&3'], { stdio: ['pipe', 'pipe', 'pipe', 'a string on fd 3'], encoding: 'utf8', timeout: 2000 });
    expect({ error: string3.error?.message, stdout: string3.stdout }).toEqual({ error: undefined, stdout: 'a string on fd 3' });
  });
});

describe('execSync and execFileSync, compared with node:child_process', () => {
  it('return stdout as a Buffer, or a string with an encoding', () => {
    expect(sameAsNode('execSync', 'echo hi').returned).toEqual(Buffer.from('hi\n'));
    expect(sameAsNode('execSync', 'echo hi', { encoding: 'utf8' }).returned).toBe('hi\n');
    expect(sameAsNode('execFileSync', 'echo', ['a', '$HOME']).returned).toEqual(Buffer.from('a $HOME\n'));
    expect(sameAsNode('execFileSync', 'pwd', { cwd: '/tmp', encoding: 'utf8' }).returned).toBe('/tmp\n');
  });

  it('pass input, shell and env through', () => {
    expect(sameAsNode('execSync', 'cat; echo "$X"', { input: 'in:', env: { X: 'x', PATH: '/usr/bin:/bin' }, encoding: 'utf8' }).returned).toBe('in:x\n');
    expect(sameAsNode('execSync', 'echo "${BASH_VERSION:+bash}"', { shell: '/bin/bash', encoding: 'utf8' }).returned).toBe('bash\n');
    expect(sameAsNode('execFileSync', 'cat', [], { input: Buffer.from('buf') }).returned).toEqual(Buffer.from('buf'));
  });

  it('throw an error carrying status, signal, output, pid, stdout and stderr for a non-zero exit', () => {
    const a = sameAsNode('execSync', 'echo partial; echo bad >&2; exit 7', { stdio: 'pipe' });
    expect(a.thrown).toMatchObject({ status: 7, signal: null, message: 'Command failed: echo partial; echo bad >&2; exit 7\nbad\n' });
    expect(a.thrown!.stdout).toEqual(Buffer.from('partial\n'));
    const b = sameAsNode('execFileSync', 'sh', ['-c', 'echo e >&2; exit 4'], { stdio: 'pipe', encoding: 'utf8' });
    expect(b.thrown).toMatchObject({ status: 4, stderr: 'e\n', message: 'Command failed: sh -c echo e >&2; exit 4\ne\n' });
    const c = sameAsNode('execFileSync', 'sh', ['-c', 'exit 3'], { stdio: 'pipe', argv0: 'named' });
    expect(c.thrown!.message).toBe('Command failed: named -c exit 3');
  });

  it('throw for a child killed by a signal, on timeout (ETIMEDOUT) and over maxBuffer (ENOBUFS)', () => {
    expect(sameAsNode('execSync', 'kill -TERM $$', { stdio: 'pipe' }).thrown).toMatchObject({ status: null, signal: 'SIGTERM' });
    expect(sameAsNode('execFileSync', 'sleep', ['30'], { timeout: 150, stdio: 'pipe' }).thrown).toMatchObject({ code: 'ETIMEDOUT', signal: 'SIGTERM', error: '[the error itself]' });
    const strip = (o: ReturnType<typeof outcome>) => ({ ...o.thrown, output: 'racy', stdout: 'racy' });
    const expected = outcome(cp, 'execSync', ['yes', { maxBuffer: 100, stdio: 'pipe' }]);
    const actual = outcome(guard, 'execSync', ['yes', { maxBuffer: 100, stdio: 'pipe' }]);
    expect(strip(actual)).toEqual(strip(expected));
    expect(actual.thrown).toMatchObject({ code: 'ENOBUFS', signal: 'SIGTERM' });
  });

  it('throw the spawn error (ENOENT) with the result assigned to it', () => {
    const r = sameAsNode('execFileSync', 'procguard-no-such-command', ['x'], { stdio: 'pipe' });
    expect(r.thrown).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'spawnSync procguard-no-such-command', path: 'procguard-no-such-command', spawnargs: ['x'], status: null, pid: 0 });
  });

  it("write the child's stderr to the parent's stderr when stdio is not given (and throw it too), as node does", () => {
    const runs = inBoth(`
      const out = cp.execSync('echo to-out; echo to-err >&2', { encoding: 'utf8' });
      console.log(JSON.stringify({ out }));
      try { cp.execFileSync('sh', ['-c', 'echo failing-err >&2; exit 2']); } catch (e) { console.log(JSON.stringify({ status: e.status, stderr: String(e.stderr) })); }
      const quiet = cp.execSync('echo piped-err >&2', { stdio: 'pipe' });
    `);
    expect(runs.procguard).toEqual(runs.node);
    expect(runs.procguard.stderr).toBe('to-err\nfailing-err\n');
    expect(runs.procguard.stdout).toBe('{"out":"to-out\\n"}\n{"status":2,"stderr":"failing-err\\n"}\n');
  });

  it('throw what node throws for invalid arguments', () => {
    for (const [fn, args] of [
      ['execSync', [1]],
      ['execSync', ['true', { maxBuffer: 'x' }]],
      ['execFileSync', [1]],
      ['execFileSync', ['true', 'x']],
      ['execFileSync', ['true', [], { argv0: 1 }]],
      ['execSync', ['true', { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }]],
    ] as [Fn, unknown[]][]) {
      expect(sameAsNode(fn, ...args).thrown, `${fn} ${JSON.stringify(args)}`).toBeDefined();
    }
  });
});

describe('priority management in sync children', () => {
  /** A node child that reports, as its first statements, what it was given. */
  const REPORT = [
    "const fs = require('fs');",
    "const oom = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));",
    "const stat = fs.readFileSync('/proc/self/stat', 'utf8');",
    "const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);",
    "process.stdout.write(JSON.stringify({ oom, nice, guardEnv: Object.keys(process.env).filter((k) => k.startsWith('CODER_PROC_')), keep: process.env.KEEP_ME }));",
  ].join(' ');

  it('gives spawnSync, execSync and execFileSync children of a managed agent oom_score_adj 998, nice 5 and no CODER_PROC_* variable', () => {
    const run = runNode(
      `
      const pg = require('procguard');
      const report = ${JSON.stringify(REPORT)};
      const r = pg.spawnSync(process.execPath, ['-e', report], { encoding: 'utf8' });
      const viaExecFile = pg.execFileSync(process.execPath, ['-e', report], { encoding: 'utf8' });
      const viaExec = pg.execSync(JSON.stringify(process.execPath) + ' -e ' + JSON.stringify(report), { encoding: 'utf8' });
      const withEnv = pg.spawnSync(process.execPath, ['-e', report], { encoding: 'utf8', env: { CODER_PROC_GIVEN: '1', KEEP_ME: 'given' } });
      console.log(JSON.stringify({ spawnSync: JSON.parse(r.stdout), priority: r.priority, keys: Object.keys(r), execFileSync: JSON.parse(viaExecFile), execSync: JSON.parse(viaExec), withEnv: JSON.parse(withEnv.stdout) }));
    `,
      { env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_OTHER: 'x', KEEP_ME: 'kept' }, nice: 0 },
    );
    const r = lastJson(run);
    const expected = { oom: 998, nice: 5, guardEnv: [], keep: 'kept' };
    expect(r.spawnSync).toEqual(expected);
    expect(r.execFileSync).toEqual(expected);
    expect(r.execSync).toEqual(expected);
    expect(r.withEnv).toEqual({ ...expected, keep: 'given' });
    expect(r.priority).toEqual({ oomScoreAdj: 998, nice: 5, schedPolicy: null, ioPriority: null, warnings: [] });
    expect(r.keys).toEqual(['status', 'signal', 'output', 'pid', 'stdout', 'stderr']);
  });

  it('applies per-spawn oomScoreAdj and nice, and leaves them with "inherit"', () => {
    const set = pg.spawnSync(process.execPath, ['-e', REPORT], { encoding: 'utf8', oomScoreAdj: 640, nice: 6 });
    expect(JSON.parse(set.stdout)).toMatchObject({ oom: 640, nice: 6 });
    expect(set.priority).toEqual({ oomScoreAdj: 640, nice: 6, schedPolicy: null, ioPriority: null, warnings: [] });
    const inherit = pg.spawnSync(process.execPath, ['-e', REPORT], { encoding: 'utf8', oomScoreAdj: 'inherit', nice: 'inherit' });
    expect(JSON.parse(inherit.stdout)).toMatchObject({ oom: readOomScoreAdj('self'), nice: readNice('self') });
    expect(inherit.priority).toEqual({ oomScoreAdj: null, nice: null, schedPolicy: null, ioPriority: null, warnings: [] });
    const viaExec = pg.execSync(`${process.execPath} -e ${JSON.stringify(REPORT)}`, { encoding: 'utf8', oomScoreAdj: 700, nice: 2 } as cp.ExecSyncOptions);
    expect(JSON.parse(viaExec as string)).toMatchObject({ oom: 700, nice: 2 });
  });

  it('strips CODER_PROC_* from a given env with management off, and reports nothing applied', () => {
    const r = pg.spawnSync(process.execPath, ['-e', REPORT], { encoding: 'utf8', env: { CODER_PROC_PRIO_MGMT: '1', KEEP_ME: 'k' } });
    expect(JSON.parse(r.stdout)).toEqual({ oom: readOomScoreAdj('self'), nice: readNice('self'), guardEnv: [], keep: 'k' });
    expect(r.priority).toEqual({ oomScoreAdj: null, nice: null, schedPolicy: null, ioPriority: null, warnings: [] });
  });

  it('keeps priority and resourceUsage off the result\'s keys (they are not enumerable)', () => {
    const r = pg.spawnSync('true');
    expect(Object.keys(r)).toEqual(Object.keys(cp.spawnSync('true')));
    expect(r.priority).toBeDefined();
    expect(r.resourceUsage).toMatchObject({ maxRssBytes: expect.any(Number), wallMicros: expect.any(Number) });
  });

  describe.skipIf(!sys.available)('in an unprivileged agent (the test user, at nice 5)', () => {
    const user = sys.available ? { uid: sys.uid, gid: sys.gid } : {};
    const markerIn = (name: string) => (sys.available ? path.join(sys.workDir, `${name}-${process.pid}-${Date.now()}`) : '');

    it('warns and still runs a child asking for a nice below the agent\'s own', () => {
      const marker = markerIn('sync-warn');
      const run = runNode(
        `
        const pg = require('procguard');
        const warnings = [];
        pg.configure({ logger: { info() {}, warn: (m, f) => warnings.push(m + ' ' + JSON.stringify(f || {})) } });
        const r = pg.spawnSync('sh', ['-c', 'touch ${marker}; cut -d" " -f19 /proc/$$/stat'], { nice: 0, encoding: 'utf8' });
        console.log(JSON.stringify({ status: r.status, error: r.error && r.error.message, stdout: r.stdout, priority: r.priority, logged: warnings.length }));
      `,
        { ...user, nice: 5 },
      );
      const r = lastJson(run);
      expect(r).toMatchObject({ status: 0, stdout: '5\n', logged: 1, priority: { nice: null, oomScoreAdj: null } });
      expect(r.error).toBeUndefined();
      expect(r.priority.warnings).toHaveLength(1);
      expect(r.priority.warnings[0]).toMatch(/failed to adjust niceness.*(EACCES|EPERM)/);
      expect(fs.existsSync(marker)).toBe(true);
      fs.rmSync(marker, { force: true });
    });

    it('fails with strict: true, never runs the command, and says why (spawnSync result, execFileSync throw)', () => {
      const marker = markerIn('sync-strict');
      const run = runNode(
        `
        const pg = require('procguard');
        pg.configure({ logger: { info() {}, warn() {} } });
        const r = pg.spawnSync('sh', ['-c', 'touch ${marker}'], { nice: 0, strict: true });
        let thrown;
        try { pg.execFileSync('sh', ['-c', 'touch ${marker}'], { oomScoreAdj: -500, strict: true, stdio: 'pipe' }); } catch (e) { thrown = { code: e.code, message: e.message, status: e.status }; }
        console.log(JSON.stringify({ status: r.status, signal: r.signal, output: r.output, pid: r.pid, error: r.error && { code: r.error.code, message: r.error.message, syscall: r.error.syscall }, priority: r.priority, thrown }));
      `,
        { ...user, nice: 5 },
      );
      const r = lastJson(run);
      expect(r).toMatchObject({ status: null, signal: null, output: null, pid: 0 });
      expect(['EACCES', 'EPERM']).toContain(r.error?.code);
      expect(r.error.syscall).toBe('spawnSync sh');
      expect(r.error.message).toMatch(/strict: .*failed to adjust niceness.*the command did not run/);
      expect(r.priority.nice).toBeNull();
      expect(['EACCES', 'EPERM']).toContain(r.thrown?.code);
      expect(r.thrown.message).toMatch(/strict: .*failed to adjust oom score.*the command did not run/);
      expect(fs.existsSync(marker)).toBe(false);
    });
  });
});
