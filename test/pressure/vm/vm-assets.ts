// What the pressure VM is built from, and where test/pressure/setup.sh caches it:
// QEMU, the Debian cloud kernel unpacked under .cache/pressure-vm/linux, busybox-static,
// and this machine's own node.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../../lib/package-root';

export interface VmAssets {
  qemu: string;
  kernel: string;
  busybox: string;
  node: string;
}

export const vmCacheDir = (): string => path.join(packageRoot(), '.cache', 'pressure-vm');

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The newest unpacked kernel image, or PROCGUARD_VM_KERNEL. */
function findKernel(): string | null {
  if (process.env.PROCGUARD_VM_KERNEL) return process.env.PROCGUARD_VM_KERNEL;
  const boot = path.join(vmCacheDir(), 'linux', 'boot');
  let images: string[];
  try {
    images = fs.readdirSync(boot).filter((name) => name.startsWith('vmlinuz-'));
  } catch {
    return null;
  }
  images.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return images.length ? path.join(boot, images[images.length - 1]) : null;
}

/** The assets, or what is missing and how to get it. */
export function findVmAssets(): VmAssets | { missing: string[] } {
  const missing: string[] = [];
  if (process.platform !== 'linux' || process.arch !== 'x64') missing.push(`the pressure VM needs Linux x86_64 (this is ${process.platform} ${process.arch})`);
  const qemu = onPath('qemu-system-x86_64');
  if (!qemu) missing.push('qemu-system-x86_64 (apt-get install qemu-system-x86, or run test/pressure/setup.sh)');
  const kernel = findKernel();
  if (!kernel) missing.push(`a kernel under ${path.join(vmCacheDir(), 'linux', 'boot')} (run test/pressure/setup.sh)`);
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((file) => fs.existsSync(file)) ?? null;
  if (!busybox) missing.push('busybox (apt-get install busybox-static, or run test/pressure/setup.sh)');
  if (missing.length) return { missing };
  return { qemu: qemu!, kernel: kernel!, busybox: busybox!, node: process.execPath };
}
