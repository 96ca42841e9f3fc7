// procguard under Bun and Deno (from the npm registry, scripts/runtimes.js), beside Node: the
// checks a user relies on give the same answers in all three; what a runtime cannot give
// (fork, 'ipc') is a clear error; without the addon, everything falls back with one warning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from './helpers/run-node';
import { FIXTURES } from './helpers/agent';
import { commandFor, markedJson, runIn, runSource, runtimeBinaries, RUNTIMES } from './helpers/runtimes';
import type { RuntimeName } from './helpers/runtimes';

const DIST = path.join(REPO, 'dist', 'cjs', 'index.js');
const LABEL = { node: 'Node', bun: 'Bun', deno: 'Deno' } as const;
const OTHERS: RuntimeName[] = ['bun', 'deno'];

beforeAll(() => {
  runtimeBinaries(); // installs Bun and Deno into .cache/runtimes the first time
}, 300_000);

describe.each(RUNTIMES)('under %s', (runtime) => {
  it('applies priorities, strips the agent variables, reports errors, timeouts, maxBuffer and kill as Node does, runs many at once, caps a cgroup, and leaves no fd or zombie', () => {
    const run = runIn(runtime, path.join(FIXTURES, 'runtime-checks.cjs'), {
      args: [DIST],
      env: {
        CODER_PROC_PRIO_MGMT: '1',
        CODER_PROC_OOM_SCORE: '700',
        CODER_PROC_NICE_SCORE: '6',
        RUNTIME_CHECK_VAR: '1',
        PROCGUARD_TEST_NODE: process.execPath,
        PROCGUARD_TEST_BALLOON: path.join(FIXTURES, 'cgroup-balloon.cjs'),
      },
    });
    const seen = markedJson(run, 'RUNTIME_CHECKS');
    const ours = '700\n6\n';
    const spawnError = { name: 'Error', code: 'ENOENT', errno: -2, path: '/nonexistent/command' };
    expect(seen.crashed, run.stderr).toBeUndefined();
    expect(seen).toEqual({
      priorities: {
        defaults: { oomScoreAdj: 700, nice: 6 },
        priority: { oomScoreAdj: 700, nice: 6, warnings: [] },
        explicit: { oomScoreAdj: 600, nice: 9 },
      },
      everyFunction: { spawn: ours, exec: ours, execFile: ours, spawnSync: ours, execSync: ours, execFileSync: ours },
      env: { inherited: ['RUNTIME_CHECK_VAR=1'], given: ['KEEP=yes'] },
      errors: {
        spawn: { ...spawnError, syscall: 'spawn /nonexistent/command', spawnargs: ['a'], message: 'spawn /nonexistent/command ENOENT', closeCode: -2, exitCode: -2 },
        execFile: { ...spawnError, syscall: 'spawn /nonexistent/command', spawnargs: [] },
        exec: { code: 3, killed: false, stdout: 'out\n', stderr: 'err\n', message: 'Command failed: echo out; echo err >&2; exit 3\nerr\n' },
        spawnSync: { ...spawnError, syscall: 'spawnSync /nonexistent/command', spawnargs: [] },
        execSync: { status: 4, message: 'Command failed: exit 4' },
        argument: { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: 'The "file" argument must be of type string. Received type number (42)' },
      },
      limits: {
        execFileTimeout: { name: 'Error', code: null, killed: true, signal: 'SIGTERM' },
        spawnTimeout: { code: null, signal: 'SIGTERM', killed: true },
        spawnSyncTimeout: { code: 'ETIMEDOUT', signal: 'SIGTERM' },
        maxBuffer: { code: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER', kept: 1000 },
        spawnSyncMaxBuffer: 'ENOBUFS',
      },
      kill: {
        sent: true, code: null, signal: 'SIGKILL', killed: true, exitCode: null, signalCode: 'SIGKILL', afterExit: false,
        abort: { name: 'AbortError', code: 'ABORT_ERR', signal: 'SIGTERM' },
      },
      stdin: ['12'],
      unreadStdin: { echoed: 100_000, beforeTheSleepersEnded: true },
      concurrency: true,
      cgroup: { signal: 'SIGKILL', hadCgroup: true, oomKill: 'cgroup-limit', peakWithinCap: true, rusage: true },
      leftovers: { fds: [], zombies: 0 },
      status: { runtime, exitWatcher: runtime === 'node' ? 'libuv' : 'thread' },
    });
  });
});

describe.each(OTHERS)('%s: what it cannot give', (runtime) => {
  it("refuses fork() and 'ipc' with an error naming the runtime and the alternative, and status() says so", () => {
    const run = runSource(runtime, 'ipc.cjs', `
      const pg = require(${JSON.stringify(DIST)});
      const caught = (fn) => { try { fn(); return null; } catch (e) { return { code: e.code, message: e.message }; } };
      const s = pg.status();
      console.log('IPC ' + JSON.stringify({
        fork: caught(() => pg.fork('/dev/null')),
        ipc: caught(() => pg.spawn('true', { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] })),
        native: s.native, runtime: s.runtime,
      }));
    `);
    const seen = markedJson(run, 'IPC');
    const version = runtimeBinaries()[runtime as 'bun' | 'deno'].version.match(/\d+\.\d+\.\d+/)![0];
    for (const refused of [seen.fork, seen.ipc]) {
      expect(refused.code).toBe('ERR_PROCGUARD_IPC_UNAVAILABLE');
      expect(refused.message).toContain(`under ${LABEL[runtime]} ${version}`);
      expect(refused.message).toContain('spawn() with stdio pipes');
      expect(refused.message).toContain(`${LABEL[runtime]} ${version}'s own child_process.fork()`);
    }
    expect(seen.fork.message).toMatch(/^procguard: fork\(\) is not available/);
    expect(seen.ipc.message).toMatch(/^procguard: stdio 'ipc' is not available/);
    expect(seen.native).toBe(true);
    expect(seen.runtime).toMatchObject({
      name: runtime,
      version,
      exitWatcher: 'thread',
      protectedFunctions: ['spawn', 'exec', 'execFile', 'spawnSync', 'execSync', 'execFileSync'],
    });
    expect(Object.keys(seen.runtime.unprotected)).toEqual(['fork']);
    expect(seen.runtime.unprotected.fork).toContain('ERR_PROCGUARD_IPC_UNAVAILABLE');
  });

  it('lets an unref()ed child go without waiting for it, and waits for a refed one', () => {
    const agent = (unref: boolean) => runSource(runtime, 'ref.cjs', `
      const child = require(${JSON.stringify(DIST)}).spawn('sleep', ['0.6'], { stdio: 'ignore' });
      ${unref ? 'child.unref();' : ''}
      const started = Date.now();
      child.on('exit', () => console.log('exit'));
      process.on('exit', () => console.log(Date.now() - started >= 500 ? 'waited' : 'did not wait'));
    `);
    expect(agent(true).stdout).toBe('did not wait\n');
    expect(agent(false).stdout).toBe('exit\nwaited\n');
  });

  it('keeps no ChildProcess once it closed: every one is collected (FinalizationRegistry)', () => {
    const run = runSource(runtime, 'gc.cjs', `
      const pg = require(${JSON.stringify(DIST)});
      const gc = globalThis.Bun ? () => globalThis.Bun.gc(true) : globalThis.gc;
      let collected = 0;
      const registry = new FinalizationRegistry(() => collected++);
      (async () => {
        for (let i = 0; i < 200; i++) {
          const child = pg.spawn('/bin/true', [], { stdio: i % 2 ? 'pipe' : 'ignore' });
          registry.register(child, i);
          child.stdout?.resume();
          await new Promise((resolve) => child.on('close', resolve));
        }
        for (let i = 0; i < 10; i++) {
          gc();
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        console.log('GC ' + JSON.stringify({ collected }));
      })();
    `, { runtimeArgs: runtime === 'deno' ? ['--v8-flags=--expose-gc'] : [] });
    // Bun's collector scans the stack conservatively: a stale slot may hold the last child or two.
    expect(markedJson(run, 'GC').collected).toBeGreaterThanOrEqual(runtime === 'bun' ? 198 : 200);
  });
});

describe.each(OTHERS)('%s without the addon', (runtime) => {
  let pkg: string;
  beforeAll(() => {
    // procguard as installed where no prebuilt binary fits and nothing was built: no build/, no prebuilds/.
    pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-noaddon-'));
    fs.copyFileSync(path.join(REPO, 'package.json'), path.join(pkg, 'package.json'));
    fs.cpSync(path.join(REPO, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(pkg, 'node_modules'));
    fs.writeFileSync(path.join(pkg, 'forked.cjs'), 'process.exit(0);\n');
  });
  afterAll(() => fs.rmSync(pkg, { recursive: true, force: true }));

  it("falls back to the runtime's own child_process for every function, with one PROCGUARD_RUNTIME_FALLBACK warning", () => {
    const run = runSource(runtime, 'fallback.cjs', `
      const pg = require(${JSON.stringify('PKG/dist/cjs/index.js')}.replace('PKG', process.argv[2]));
      const warnings = [];
      process.on('warning', (w) => warnings.push(w.code));
      const out = {};
      const child = pg.spawn('sh', ['-c', 'echo spawned'], { oomScoreAdj: 500 });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.on('close', (code) => {
        // Nothing was applied: every setting of child.priority is null.
        const applied = Object.keys(child.priority).filter((k) => k !== 'warnings' && child.priority[k] !== null);
        out.spawn = { code, text, applied, warnings: child.priority.warnings };
        pg.exec('echo exec', (err, stdout) => {
          out.exec = stdout;
          out.execSync = String(pg.execSync('echo sync'));
          const forked = pg.fork(process.argv[3], [], { stdio: 'ignore' });
          forked.on('exit', (code) => {
            out.fork = code;
            setTimeout(() => {
              const s = pg.status();
              out.warnings = warnings.filter((c) => c === 'PROCGUARD_RUNTIME_FALLBACK').length;
              out.native = s.native;
              out.exitWatcher = s.runtime.exitWatcher;
              out.protectedFunctions = s.runtime.protectedFunctions;
              console.log('FALLBACK ' + JSON.stringify(out));
            }, 50);
          });
        });
      });
    `, { args: [pkg, path.join(pkg, 'forked.cjs')], env: { CODER_PROC_PRIO_MGMT: '1' } });
    const seen = markedJson(run, 'FALLBACK');
    expect(seen).toEqual({
      spawn: { code: 0, text: 'spawned\n', applied: [], warnings: [] },
      exec: 'exec\n',
      execSync: 'sync\n',
      fork: 0,
      warnings: 1,
      native: false,
      exitWatcher: 'none',
      protectedFunctions: [],
    });
    expect(run.stderr).not.toMatch(/TypeError|panic|unsupported uv function/);
  });
});

describe('loading', () => {
  it('Bun imports the ESM entry and gets the same functions as require()', () => {
    const run = runSource('bun', 'esm.mjs', `
      import { createRequire } from 'node:module';
      import procguard, { spawn, status } from ${JSON.stringify(path.join(REPO, 'dist', 'esm', 'index.mjs'))};
      const required = createRequire(import.meta.url)(${JSON.stringify(DIST)});
      console.log('ESM ' + JSON.stringify({ same: spawn === required.spawn && procguard.spawn === spawn, native: status().native }));
    `);
    expect(markedJson(run, 'ESM')).toEqual({ same: true, native: true });
  });

  it('the built addon references libuv only weakly (check:abi), and check:abi refuses a strong uv_* reference', () => {
    const abi = require(path.join(REPO, 'scripts', 'check-abi.js')) as { checkFile(f: string): { ok: boolean; lines: string[] } };
    const built = abi.checkFile(path.join(REPO, 'build', 'Release', 'procguard.node'));
    expect(built.lines.join('\n')).toMatch(/libuv: \d+ functions, all weak/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-abi-'));
    try {
      fs.writeFileSync(path.join(dir, 'strong.c'), 'int uv_signal_init(void *, void *);\nint call(void) { return uv_signal_init(0, 0); }\n');
      execFileSync('gcc', ['-shared', '-fPIC', '-o', path.join(dir, 'strong.node'), path.join(dir, 'strong.c')]);
      const strong = abi.checkFile(path.join(dir, 'strong.node'));
      expect(strong.ok).toBe(false);
      expect(strong.lines.join('\n')).toContain('strong libuv references (a runtime without them cannot load the addon): uv_signal_init');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// procguard installed into a Deno project from a local path (`deno install`), as a user would.
describe('Deno project', () => {
  let project: string;
  const run = (name: string, source: string, runtimeArgs: string[] = []) => {
    fs.writeFileSync(path.join(project, name), source);
    return runIn('deno', path.join(project, name), { cwd: project, runtimeArgs });
  };
  beforeAll(() => {
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-deno-'));
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'agent', private: true, dependencies: { procguard: `file:${REPO}` } }));
    const [deno] = commandFor('deno', '');
    execFileSync(deno, ['install', '--quiet'], { cwd: project, env: { ...process.env, DENO_DIR: path.join(REPO, '.cache', 'deno'), DENO_NO_UPDATE_CHECK: '1' }, stdio: 'pipe', timeout: 180_000 });
  }, 200_000);
  afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

  it("imports the ESM entry by the package's name (dist/cjs is marked CommonJS) and gets the same functions as require()", () => {
    const seen = markedJson(run('esm.mjs', `
      import { createRequire } from 'node:module';
      import procguard, { spawn, status } from 'procguard';
      const required = createRequire(import.meta.url)('procguard');
      console.log('ESM ' + JSON.stringify({ same: spawn === required.spawn && procguard.spawn === spawn, native: status().native }));
    `), 'ESM');
    expect(seen).toEqual({ same: true, native: true });
  });

  it('a preloaded procguard/register covers named ESM imports of node:child_process too, and status() says so', () => {
    fs.writeFileSync(path.join(project, 'register.mjs'), "import 'procguard/register';\n");
    const seen = markedJson(run('reg.mjs', `
      import { spawn } from 'node:child_process';
      import * as namespace from 'node:child_process';
      import { createRequire } from 'node:module';
      import pg from 'procguard';
      console.log('REGISTER ' + JSON.stringify({
        named: spawn === pg.spawn, namespace: namespace.spawn === pg.spawn,
        required: createRequire(import.meta.url)('node:child_process').spawn === pg.spawn,
        isInstalled: pg.isInstalled(), covers: pg.status().runtime.register,
      }));
    `, ['--preload', './register.mjs']), 'REGISTER');
    expect(seen).toMatchObject({ named: true, namespace: true, required: true, isInstalled: true });
    expect(seen.covers).toContain('every import of node:child_process');
  });
});

describe('Bun register', () => {
  it('bun --preload procguard/register covers named ESM imports; status() says what an in-graph import would not', () => {
    const seen = markedJson(runSource('bun', 'reg.mjs', `
      import { spawn } from 'node:child_process';
      import * as namespace from 'node:child_process';
      import { createRequire } from 'node:module';
      const pg = createRequire(import.meta.url)(${JSON.stringify(DIST)});
      console.log('REGISTER ' + JSON.stringify({
        named: spawn === pg.spawn, namespace: namespace.spawn === pg.spawn,
        required: createRequire(import.meta.url)('node:child_process').spawn === pg.spawn,
        isInstalled: pg.isInstalled(), covers: pg.status().runtime.register,
      }));
    `, { runtimeArgs: ['--preload', path.join(REPO, 'dist', 'esm', 'register.mjs')] }), 'REGISTER');
    expect(seen).toMatchObject({ named: true, namespace: true, required: true, isInstalled: true });
    expect(seen.covers).toContain('bun --preload procguard/register');
    expect(seen.covers).toContain('not named imports linked before install() ran');
  });
});

describe('bun build --compile', () => {
  // Where the addon is in the package: a local build, or the prebuilt binary the tarball ships.
  it.each(['build/Release/procguard.node', 'prebuilds/linux-x64/procguard.glibc.node'])('embeds the addon (%s) in the executable: it applies priorities after the package it was built from is gone', (addon) => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-compile-'));
    try {
      // procguard as installed in the project being compiled, its addon built for this machine.
      const pkg = path.join(work, 'node_modules', 'procguard');
      fs.mkdirSync(path.dirname(path.join(pkg, addon)), { recursive: true });
      fs.copyFileSync(path.join(REPO, 'package.json'), path.join(pkg, 'package.json'));
      fs.cpSync(path.join(REPO, 'dist'), path.join(pkg, 'dist'), { recursive: true });
      fs.copyFileSync(path.join(REPO, 'build', 'Release', 'procguard.node'), path.join(pkg, addon));
      fs.symlinkSync(path.join(REPO, 'node_modules', 'node-gyp-build'), path.join(work, 'node_modules', 'node-gyp-build'));
      fs.writeFileSync(path.join(work, 'agent.cjs'), `
        const { spawn, status } = require('procguard');
        const child = spawn('cat', ['/proc/self/oom_score_adj']);
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', () => {
          const s = status();
          console.log('COMPILED ' + JSON.stringify({ native: s.native, exitWatcher: s.runtime.exitWatcher, child: out.trim() }));
        });
      `);
      const exe = path.join(os.tmpdir(), `procguard-agent-${process.pid}`);
      const [bun] = commandFor('bun', '');
      execFileSync(bun, ['build', '--compile', path.join(work, 'agent.cjs'), '--outfile', exe], { cwd: work, stdio: 'pipe', timeout: 120_000 });
      fs.rmSync(work, { recursive: true, force: true });
      try {
        const out = execFileSync(exe, [], { cwd: '/', env: { PATH: process.env.PATH, CODER_PROC_PRIO_MGMT: '1', CODER_PROC_OOM_SCORE: '700' }, encoding: 'utf8', timeout: 30_000 });
        expect(markedJson({ status: 0, signal: null, stdout: out, stderr: '' }, 'COMPILED')).toEqual({ native: true, exitWatcher: 'thread', child: '700' });
      } finally {
        fs.rmSync(exe, { force: true });
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
