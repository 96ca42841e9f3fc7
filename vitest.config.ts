import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/pressure/ drives the machine into memory pressure: run separately, never with `npm test`.
    exclude: ['test/pressure/**', '**/node_modules/**', 'dist/**'],
    // The tests spawn real processes, read /proc/self and count this process's fds and children:
    // each test file runs in a process of its own (forks + isolate), never sharing it with another file.
    pool: 'forks',
    isolate: true,
    maxWorkers: 2,
    // Creates the unprivileged user and the capability-carrying node copy once, before any worker.
    globalSetup: ['test/helpers/system.ts'],
    setupFiles: ['test/helpers/clean-env.ts'],
    // 'procguard' resolves (by the package's own name) to dist/: let Node load it as a user's
    // program would, rather than vite transforming its ESM face and the CommonJS behind it.
    server: { deps: { external: [/\/dist\//] } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
