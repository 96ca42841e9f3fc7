import { defineConfig } from 'vitest/config';

// `npm run test:pressure`: drives real memory cgroups and a VM into OOM. Needs root (cgroups)
// and test/pressure/setup.sh (QEMU, busybox, the VM kernel). Never part of `npm test`.
export default defineConfig({
  test: {
    include: ['test/pressure/**/*.test.ts'],
    pool: 'forks',
    // One file at a time: the VM's emulated CPUs and the host scenario's timing should not compete.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
