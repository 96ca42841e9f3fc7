// Prepares what the integration tests need from the machine, idempotently:
// - a non-root user (procguard-test) for agents that lack CAP_SYS_NICE and for uid/gid spawns;
// - a copy of the node binary with a file capability (cap_net_bind_service+ep): run as that user,
//   the agent is non-dumpable, exactly as Coder's own test makes its agent;
// - a scratch directory that user can write to (marker files).
// All under /tmp/procguard-test (/var/tmp/procguard-test where /tmp is mounted nosuid).
// Used as vitest's globalSetup (runs once, before any worker) and called again by the test files,
// where it only checks (everything already exists), so concurrent callers never race on creation.
//
// Needs: passwd (useradd), libcap2-bin (setcap, getcap), coreutils.
// Failure to prepare is an error (never a skip), unless the run is neither as root nor in CI:
// then the facilities are really missing and prepareSystem() returns them as unavailable.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const TEST_USER = 'procguard-test';
const CAPABILITY = 'cap_net_bind_service+ep';

/** Whether the filesystem holding `dir` (or its nearest existing parent) is mounted nosuid: file capabilities are ignored there. */
function onNosuidMount(dir: string): boolean {
  let best = { point: '', options: '' };
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    const point = f[4];
    const inside = dir === point || dir.startsWith(point.endsWith('/') ? point : point + '/');
    if (inside && point.length >= best.point.length) best = { point, options: f[5] };
  }
  return best.options.split(',').includes('nosuid');
}

/** /tmp/procguard-test, or /var/tmp/procguard-test where /tmp is mounted nosuid. */
const TEST_ROOT = ['/tmp/procguard-test', '/var/tmp/procguard-test'].find((d) => !onNosuidMount(d)) ?? '/tmp/procguard-test';
export const CAP_NODE = path.join(TEST_ROOT, 'node-cap');
export const WORK_DIR = path.join(TEST_ROOT, 'work');

export interface TestSystem {
  available: true;
  user: string;
  uid: number;
  gid: number;
  /** A copy of node carrying a file capability: non-dumpable when run by `user`. */
  capNode: string;
  /** World-writable (sticky) scratch directory. */
  workDir: string;
}

export interface MissingSystem {
  available: false;
  reason: string;
}

function run(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function lookupUser(): { uid: number; gid: number } | null {
  try {
    return { uid: Number(run('id', ['-u', TEST_USER])), gid: Number(run('id', ['-g', TEST_USER])) };
  } catch {
    return null;
  }
}

function ensureUser(): { uid: number; gid: number } {
  let ids = lookupUser();
  if (!ids) {
    try {
      run('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', TEST_USER]);
    } catch (err) {
      // A concurrent preparer may have created it between the lookup and useradd.
      if (!lookupUser()) throw new Error(`cannot create user ${TEST_USER} (useradd, package passwd): ${(err as Error).message}`);
    }
    ids = lookupUser();
  }
  if (!ids || ids.uid === 0) throw new Error(`user ${TEST_USER} is missing or is root`);
  return ids;
}

function hasCapability(file: string): boolean {
  try {
    return /cap_net_bind_service[=+]ep/.test(run('getcap', [file]));
  } catch {
    return false;
  }
}

function ensureCapNode(): void {
  fs.mkdirSync(TEST_ROOT, { recursive: true, mode: 0o755 });
  fs.chmodSync(TEST_ROOT, 0o755);
  const source = fs.statSync(process.execPath);
  const current = fs.statSync(CAP_NODE, { throwIfNoEntry: false });
  if (current && current.size === source.size && (current.mode & 0o005) === 0o005 && hasCapability(CAP_NODE)) return;
  // Copy under a private name, then rename: a reader never sees a half-written binary.
  const temp = `${CAP_NODE}.${process.pid}.tmp`;
  fs.copyFileSync(process.execPath, temp);
  fs.chmodSync(temp, 0o755);
  try {
    run('setcap', [CAPABILITY, temp]);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw new Error(`cannot setcap ${CAPABILITY} on a node copy (package libcap2-bin): ${(err as Error).message}`);
  }
  fs.renameSync(temp, CAP_NODE);
  if (!hasCapability(CAP_NODE)) throw new Error(`${CAP_NODE} does not carry ${CAPABILITY} (getcap)`);
}

/** Runs the capability node as the user once: its /proc/self files must belong to root (non-dumpable). */
function checkNonDumpable(uid: number, gid: number): void {
  let owner: string;
  try {
    owner = execFileSync(CAP_NODE, ['-e', "process.stdout.write(String(require('fs').statSync('/proc/self/oom_score_adj').uid))"], {
      uid,
      gid,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new Error(`${CAP_NODE} does not run as ${TEST_USER}: ${(err as Error).message}`);
  }
  if (owner !== '0') {
    throw new Error(`${CAP_NODE} run as ${TEST_USER} is still dumpable (its /proc/self files belong to uid ${owner}): are file capabilities honoured on ${TEST_ROOT}'s filesystem?`);
  }
}

function ensureWorkDir(): void {
  fs.mkdirSync(WORK_DIR, { recursive: true });
  fs.chmodSync(WORK_DIR, 0o1777);
}

let cached: TestSystem | MissingSystem | undefined;

/** Creates (first call on a machine) or checks (later calls) the user, the capability binary and the scratch dir. */
export function prepareSystem(): TestSystem | MissingSystem {
  if (cached) return cached;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot && !process.env.CI) {
    cached = { available: false, reason: 'not running as root: cannot create a user nor set file capabilities' };
    return cached;
  }
  if (!isRoot) throw new Error('the integration tests must run as root in CI (they create a user and set file capabilities)');
  const { uid, gid } = ensureUser();
  ensureCapNode();
  checkNonDumpable(uid, gid);
  ensureWorkDir();
  cached = { available: true, user: TEST_USER, uid, gid, capNode: CAP_NODE, workDir: WORK_DIR };
  return cached;
}

/** The prepared system; throws (fails the test) when it is unavailable. */
export function requireSystem(): TestSystem {
  const sys = prepareSystem();
  if (!sys.available) throw new Error(`test system unavailable: ${sys.reason}`);
  return sys;
}

/** vitest globalSetup entry. */
export default function setup(): void {
  prepareSystem();
}
