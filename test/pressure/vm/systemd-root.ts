// The base initramfs of the systemd VM: a Debian 13 "trixie" root file system (systemd 257, for
// DelegateSubgroup= and MemoryPressureWatch=, both v254) built from Debian's packages with
// mmdebstrap by test/pressure/setup.sh into .cache/pressure-vm/trixie-rootfs.tar, plus this
// machine's node and the unit that runs the job. Packed once into a gzip'd newc cpio (cpio(1)),
// cached beside the tar; the kernel boots it with rdinit=/usr/lib/systemd/systemd.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { vmCacheDir, VmAssets } from './vm-assets';

export const SYSTEMD_ROOTFS_TAR = (): string => path.join(vmCacheDir(), 'trixie-rootfs.tar');

/** Why the systemd VM cannot boot here, or null. */
export function systemdRootMissing(): string | null {
  if (!fs.existsSync(SYSTEMD_ROOTFS_TAR())) return `${SYSTEMD_ROOTFS_TAR()} (run test/pressure/setup.sh: mmdebstrap builds it)`;
  for (const tool of ['/usr/bin/cpio', '/usr/bin/tar']) if (!fs.existsSync(tool)) return `${tool} (apt-get install cpio tar, or run test/pressure/setup.sh)`;
  return null;
}

export function systemdBaseArchive(assets: VmAssets): string {
  const unit = path.join(__dirname, 'systemd', 'procguard-job.service');
  const wrapper = path.join(__dirname, 'job-protocol.sh');
  const key = createHash('sha256');
  for (const file of [SYSTEMD_ROOTFS_TAR(), assets.node]) {
    const stat = fs.statSync(file);
    key.update(`${file}:${stat.size}:${stat.mtimeMs}\n`);
  }
  key.update(fs.readFileSync(unit)).update(fs.readFileSync(wrapper));
  const cached = path.join(vmCacheDir(), `trixie-${key.digest('hex').slice(0, 16)}.cpio.gz`);
  if (fs.existsSync(cached)) return cached;

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-trixie-'));
  try {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    execFileSync('tar', ['-xf', SYSTEMD_ROOTFS_TAR(), '-C', root, '--numeric-owner']);
    fs.copyFileSync(assets.node, path.join(root, 'usr/bin/node'));
    fs.chmodSync(path.join(root, 'usr/bin/node'), 0o755);
    fs.copyFileSync(unit, path.join(root, 'etc/systemd/system/procguard-job.service'));
    fs.mkdirSync(path.join(root, 'usr/local/sbin'), { recursive: true });
    fs.copyFileSync(wrapper, path.join(root, 'usr/local/sbin/procguard-vm-job'));
    fs.mkdirSync(path.join(root, 'project'), { recursive: true });
    // No console login, no waiting for devices a VM without disks never has.
    fs.writeFileSync(path.join(root, 'etc/hostname'), 'procguard-vm\n');
    const partial = `${cached}.${process.pid}.partial`;
    execFileSync('/bin/sh', ['-c', `cd "${root}" && find . -mindepth 1 | cpio --quiet -o -H newc | gzip -1 > "${partial}"`]);
    fs.renameSync(partial, cached);
    return cached;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
