// procguard as a TypeScript user would use it (CommonJS face): compiled with `tsc --noEmit` under
// strict by test/types.test.ts. Each @ts-expect-error line must stay an error.
import type { ExecException, ExecFileException } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import {
  exec,
  execFile,
  execFileSync,
  execSync,
  fork,
  install,
  isInstalled,
  spawn,
  spawnSync,
  uninstall,
  type AppliedPriority,
  type GuardedChildProcess,
  type ResourceUsage,
} from 'procguard';

// exec / execFile: the callback's parameters are typed as node's.
exec('ls', (error, stdout, stderr) => {
  const e: ExecException | null = error;
  const out: string = stdout;
  const err: string = stderr;
  void [e, out, err];
});
exec('ls', { encoding: 'buffer', oomScoreAdj: 500 }, (_error, stdout, stderr) => {
  const out: Buffer = stdout;
  const err: Buffer = stderr;
  void [out, err];
});
exec('ls', { cwd: '/tmp', oomScoreAdj: 'inherit', nice: 3, strict: true }, (_error, stdout) => {
  const out: string = stdout;
  void out;
});
execFile('ls', ['-l'], { oomScoreAdj: 900, timeout: 1000 }, (error, stdout) => {
  const e: ExecFileException | null = error;
  const code: string | number | null | undefined = error?.code;
  const out: string = stdout;
  void [e, code, out];
});
execFile('ls', (_error, stdout) => {
  const out: string = stdout;
  void out;
});
const execChild: GuardedChildProcess = exec('ls');
const applied: AppliedPriority = execChild.priority;
const usage: ResourceUsage | undefined = execChild.resourceUsage;
void [applied, usage];

// util.promisify: { stdout, stderr } typed, and the child on the promise.
async function promised(): Promise<void> {
  const { stdout, stderr } = await promisify(exec)('ls');
  const out: string = stdout;
  const err: string = stderr;
  const asBuffers = await promisify(exec)('ls', { encoding: 'buffer', nice: 1 });
  const buf: Buffer = asBuffers.stdout;
  const pending = promisify(execFile)('ls', ['-l'], { nice: 2 });
  const child: GuardedChildProcess = pending.child;
  const priority: AppliedPriority = pending.child.priority;
  const { stdout: fileOut } = await pending;
  const fileText: string = fileOut;
  const { stdout: fileBuf } = await promisify(execFile)('ls', { encoding: 'buffer' });
  const fileBuffer: Buffer = fileBuf;
  void [out, err, buf, child, priority, fileText, fileBuffer];
}
void promised;

// spawn: node's stdio-dependent stream types, plus priority.
const sp = spawn('ls', ['-l'], { nice: 'inherit' });
const spOut: Readable = sp.stdout;
const spIn: Writable = sp.stdin;
const spOom: number | null = sp.priority.oomScoreAdj;
const partial = spawn('ls', { stdio: ['ignore', 'pipe', 'inherit'], oomScoreAdj: 1000 });
const noStdin: null = partial.stdin;
const someOut: Readable = partial.stdout;
const any = spawn('ls', [], { stdio: 'inherit', strict: true, signal: AbortSignal.timeout(10) });
any.on('exit', (code, signal) => {
  const c: number | null = code;
  const s: NodeJS.Signals | null = signal;
  void [c, s];
});
void [spOut, spIn, spOom, noStdin, someOut];

// the sync functions.
const sync = spawnSync('ls', ['-l'], { encoding: 'utf8', oomScoreAdj: 998 });
const syncText: string = sync.stdout;
const syncPriority: AppliedPriority = sync.priority;
const syncStatus: number | null = sync.status;
const raw = spawnSync('ls');
const rawOut: Buffer = raw.stdout;
const execText: string = execSync('ls', { encoding: 'utf8', nice: 1 });
const execBuffer: Buffer = execSync('ls');
const fileBuffer: Buffer = execFileSync('ls', ['-l'], { strict: true });
const fileText: string = execFileSync('ls', { encoding: 'latin1', oomScoreAdj: 'inherit' });
void [syncText, syncPriority, syncStatus, rawOut, execText, execBuffer, fileBuffer, fileText];

// fork.
const forked = fork('./worker.js', ['a'], { silent: true, oomScoreAdj: 10, serialization: 'advanced' });
forked.send({ hello: 1 }, (error) => void error);
forked.on('message', (message) => void message);
const forkWarnings: string[] = forked.priority.warnings;
const forkedUrl = fork(new URL('file:///worker.js'), { nice: 4 });
void [forkWarnings, forkedUrl];

// register.
install();
uninstall();
const installed: boolean = isInstalled();
void installed;

// What must stay an error.
// @ts-expect-error oomScoreAdj is a number or 'inherit'
spawn('ls', [], { oomScoreAdj: 'x' });
// @ts-expect-error nice is a number or 'inherit'
exec('ls', { nice: true }, () => {});
// @ts-expect-error strict is a boolean
spawnSync('ls', { strict: 'yes' });
// @ts-expect-error with a string encoding, stdout is a string
const notBuffer: Buffer = spawnSync('ls', { encoding: 'utf8' }).stdout;
// @ts-expect-error an option neither node nor procguard has
fork('./worker.js', { oomScore: 5 });
// @ts-expect-error the callback's stdout is a string, not a number
exec('ls', (_error, stdout: number) => void stdout);
async function wrongPromise(): Promise<void> {
  // @ts-expect-error promisify(exec) resolves { stdout, stderr }, not a string
  const notString: string = await promisify(exec)('ls');
  void notString;
}
void [notBuffer, wrongPromise];
