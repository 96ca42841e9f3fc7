#!/usr/bin/env node
// `npm run prebuild [-- --arch x64,arm64]`: the prebuilt addons shipped in the npm package,
// built with prebuildify as N-API binaries (one file serves every Node version), tagged for
// node-gyp-build: prebuilds/linux-x64/procguard.glibc.node and
// prebuilds/linux-arm64/procguard.glibc.node (cross-compiled with Debian's
// g++-aarch64-linux-gnu). Each is built in its own copy of the sources under
// .cache/prebuild/, so the developer build in build/ is left alone. Then check-abi verifies
// the floor: glibc 2.28, libstdc++/libgcc linked statically.
//
// No musl (Alpine) prebuilds: there is no musl C++ toolchain in Debian or on the npm registry
// to build them with (see the Installing section of the README); on Alpine, install.js builds
// from source.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ensureDebs } = require('./ensure-debs');
const { ARCHES, STAMP, writeStamp } = require('./prebuilds');

const root = path.join(__dirname, '..');

// npm runs a "prebuild" script before "build" too; `npm run build` must not cross-compile.
function invokedAsBuildHook() {
  if (process.env.npm_lifecycle_event !== 'prebuild') return false;
  try {
    for (let pid = process.ppid, i = 0; pid > 1 && i < 8; i++) {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (/\bnpm(-cli\.js)?\b/.test(cmd)) return !/\bprebuild\b/.test(cmd);
      pid = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    }
  } catch {
    // no /proc: assume a direct call
  }
  return false;
}

const TARGETS = {
  x64: { env: {}, strip: 'strip' },
  arm64: {
    debs: ['g++-aarch64-linux-gnu', 'binutils-aarch64-linux-gnu'],
    env: {
      CC: 'aarch64-linux-gnu-gcc',
      CXX: 'aarch64-linux-gnu-g++',
      LINK: 'aarch64-linux-gnu-g++',
      AR: 'aarch64-linux-gnu-ar',
      CC_host: 'gcc',
      CXX_host: 'g++',
    },
    strip: 'aarch64-linux-gnu-strip',
  },
};

function parseArgs(argv) {
  const i = argv.indexOf('--arch');
  const list = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--arch='))?.slice(7);
  return list ? list.split(',') : Object.keys(TARGETS);
}

/** node-gyp needs the headers; offline, they must come from a local Node installation. */
function nodedir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

function stage(arch) {
  const dir = path.join(root, '.cache', 'prebuild', arch);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(dir, 'binding.gyp'));
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  fs.copyFileSync(path.join(root, 'scripts', 'static-runtime.js'), path.join(dir, 'scripts', 'static-runtime.js'));
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true });
  return dir;
}

function build(arch) {
  const t = TARGETS[arch];
  if (!t) throw new Error(`unknown arch ${arch} (known: ${Object.keys(TARGETS).join(', ')})`);
  if (t.debs) ensureDebs(t.debs, `the linux-${arch} prebuild`);
  const cwd = stage(arch);
  const outDir = path.join(root, 'prebuilds', `linux-${arch}`);
  fs.rmSync(outDir, { recursive: true, force: true });
  const env = {
    ...process.env,
    ...t.env,
    PROCGUARD_STATIC_RUNTIME: '1', // a prebuild must not depend on the system's libstdc++
    JOBS: process.env.JOBS || 'max',
  };
  const dir = nodedir();
  if (dir) env.npm_config_nodedir = dir;
  const bin = require.resolve('prebuildify/bin.js', { paths: [root] });
  const args = [bin, '--napi', '--tag-libc', '--strip', '--strip-bin', t.strip, '--arch', arch, '--out', root, '--cwd', cwd];
  console.log(`[prebuild] linux-${arch}: prebuildify ${args.slice(1).join(' ')}`);
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd, env, stdio: 'inherit', timeout: 15 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`prebuildify for linux-${arch} failed (${r.error ? r.error.message : r.status ?? r.signal})`);
  const files = fs.readdirSync(outDir).filter((f) => f.endsWith('.node'));
  for (const f of files) {
    const size = fs.statSync(path.join(outDir, f)).size;
    console.log(`[prebuild] prebuilds/linux-${arch}/${f} (${Math.round(size / 1024)} KiB, ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  return files.map((f) => path.join(outDir, f));
}

function main() {
  if (invokedAsBuildHook()) return 0;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error('prebuild: runs on linux-x64 (it cross-compiles arm64)');
    return 1;
  }
  const arches = parseArgs(process.argv.slice(2));
  fs.rmSync(path.join(root, STAMP), { force: true }); // valid again only once every architecture is rebuilt
  const built = [];
  for (const arch of arches) built.push(...build(arch));
  const check = spawnSync(process.execPath, [path.join(__dirname, 'check-abi.js'), ...built], { stdio: 'inherit', timeout: 60000 });
  if (check.status !== 0) return 1;
  // Every architecture built from these sources: say so (prepack ships nothing older).
  if (ARCHES.every((arch) => arches.includes(arch))) writeStamp();
  return 0;
}

try {
  process.exit(main());
} catch (err) {
  console.error(`prebuild: ${err.message}`);
  process.exit(1);
}
