// A pressure test that cannot run here (not root, no memory cgroup, no QEMU) skips with the
// reason, except in CI, where the environment is supposed to provide it: there it fails.
import type { TestContext } from 'vitest';
import { createMemoryCgroup } from '../../lib/pressure/memory-cgroup';

export function requireOrSkip(context: TestContext, missing: string | null): void {
  if (!missing) return;
  if (process.env.CI) throw new Error(`${missing} (CI is set: a missing requirement is a failure)`);
  context.skip(missing);
}

/** Why a limited memory cgroup cannot be made here, or null when it can. */
export async function memoryCgroupMissing(): Promise<string | null> {
  try {
    const probe = createMemoryCgroup({ limitBytes: 64 * 2 ** 20, name: 'procguard-probe' });
    await probe.remove();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
