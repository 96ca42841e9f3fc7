// The VM's initramfs, in two concatenated gzip'd cpio archives (the kernel unpacks both):
// a base with busybox, node and its shared libraries (cached: ~100 MB to compress), and the
// project (package.json, dist/, the addon, node-gyp-build) plus the job, rebuilt every run.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { packageRoot } from '../../../lib/package-root';
import { NewcArchive } from './cpio-newc';
import { vmCacheDir, VmAssets } from './vm-assets';

/** Where the project is inside the VM; /node_modules/procguard points at it. */
export const GUEST_PROJECT_DIR = '/project';

export interface GuestJob {
  /** Host path of the Node script to run. */
  script: string;
  args: string[];
  env: Record<string, string>;
  /** More files for the VM: guest path (absolute) to host path. */
  files: Record<string, string>;
}

/** The shared libraries and dynamic loader `ldd` lists for a binary (none for a static one). */
function sharedLibraries(binary: string): string[] {
  let output: string;
  try {
    output = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return []; // "not a dynamic executable"
  }
  return [...output.matchAll(/(\/\S+) \(0x/g)].map((match) => match[1]);
}

function guestName(absolute: string): string {
  return absolute.replace(/^\/+/, '');
}

function addWithLinks(archive: NewcArchive, hostFile: string): void {
  // Libraries are reached by their ldd name (often a symlink): store the real bytes under that name.
  archive.file(guestName(hostFile), fs.readFileSync(hostFile), 0o755);
}

function gzip(archive: NewcArchive): Buffer {
  return zlib.gzipSync(archive.toBuffer(), { level: 1 });
}

/** The base archive, built once per node/busybox/init combination and cached. */
export function baseArchive(assets: VmAssets): string {
  const init = fs.readFileSync(path.join(__dirname, 'init.sh'));
  const jobProtocol = fs.readFileSync(path.join(__dirname, 'job-protocol.sh'));
  const libraries = [...new Set([...sharedLibraries(assets.node), ...sharedLibraries(assets.busybox)])].sort();
  const key = createHash('sha256');
  for (const file of [assets.node, assets.busybox, ...libraries]) {
    const stat = fs.statSync(file);
    key.update(`${file}:${stat.size}:${stat.mtimeMs}\n`);
  }
  key.update(init).update(jobProtocol);
  const cached = path.join(vmCacheDir(), `base-${key.digest('hex').slice(0, 16)}.cpio.gz`);
  if (fs.existsSync(cached)) return cached;

  const archive = new NewcArchive();
  for (const dir of ['bin', 'dev', 'proc', 'sys', 'tmp', 'etc', 'project']) archive.directory(dir);
  archive.characterDevice('dev/console', 5, 1);
  archive.file('init', init, 0o755);
  archive.file('job-protocol.sh', jobProtocol, 0o755);
  archive.file('bin/busybox', fs.readFileSync(assets.busybox), 0o755);
  archive.file('bin/node', fs.readFileSync(assets.node), 0o755);
  for (const library of libraries) addWithLinks(archive, library);
  fs.mkdirSync(vmCacheDir(), { recursive: true });
  const partial = `${cached}.${process.pid}.partial`;
  fs.writeFileSync(partial, gzip(archive));
  fs.renameSync(partial, cached);
  return cached;
}

function addTree(archive: NewcArchive, hostDir: string, guestDir: string): void {
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const host = path.join(hostDir, entry.name);
    const guest = `${guestDir}/${entry.name}`;
    if (entry.isDirectory()) addTree(archive, host, guest);
    else if (entry.isFile()) archive.file(guest, fs.readFileSync(host), fs.statSync(host).mode & 0o777);
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The project archive for one run: what `require('procguard')` needs, and the job. */
export function projectArchive(job: GuestJob): Buffer {
  const root = packageRoot();
  const project = guestName(GUEST_PROJECT_DIR);
  const archive = new NewcArchive();
  archive.file(`${project}/package.json`, fs.readFileSync(path.join(root, 'package.json')));
  addTree(archive, path.join(root, 'dist'), `${project}/dist`);
  const release = path.join(root, 'build', 'Release');
  if (fs.existsSync(release)) {
    for (const name of fs.readdirSync(release).filter((n) => n.endsWith('.node'))) {
      archive.file(`${project}/build/Release/${name}`, fs.readFileSync(path.join(release, name)), 0o755);
    }
  }
  if (fs.existsSync(path.join(root, 'prebuilds'))) addTree(archive, path.join(root, 'prebuilds'), `${project}/prebuilds`);
  addTree(archive, path.join(root, 'node_modules', 'node-gyp-build'), `${project}/node_modules/node-gyp-build`);
  archive.symlink('node_modules/procguard', GUEST_PROJECT_DIR);

  const guestScript = `${GUEST_PROJECT_DIR}/.vm-job/${path.basename(job.script)}`;
  archive.file(guestName(guestScript), fs.readFileSync(job.script));
  for (const [guest, host] of Object.entries(job.files)) archive.file(guestName(guest), fs.readFileSync(host), fs.statSync(host).mode & 0o777);
  const env = { PATH: '/bin', HOME: '/tmp', PROCGUARD_ROOT: GUEST_PROJECT_DIR, ...job.env };
  const jobShell = [
    `cd ${GUEST_PROJECT_DIR}`,
    ...Object.entries(env).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
    ['/bin/node', guestScript, ...job.args].map(shellQuote).join(' '),
    '',
  ].join('\n');
  archive.file('vm-job.sh', Buffer.from(jobShell), 0o755);
  return gzip(archive);
}
