#!/usr/bin/env node
// `npm install` hook. On Linux: use the addon that loads (a build in build/, else the prebuilt
// binary for this platform, arch and libc from prebuilds/), and build it from source only when
// none loads. Elsewhere there is nothing to build: procguard falls back to node:child_process
// and says so. A failed build never fails the install of a dependent project: procguard then
// imports normally and spawns through node:child_process until the addon is built.
//
// The prebuilt binary is tried in this process (no shell, no compiler, nothing else spawned).
// Set npm_config_build_from_source=true (`npm install --build-from-source`) to always build.
// The install fails on a failed build only for procguard's own checkout under CI, or with
// PROCGUARD_REQUIRE_ADDON=1.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

if (process.platform !== 'linux') {
  console.log(`procguard: ${process.platform} is not Linux; no native addon, children are spawned by node:child_process.`);
  process.exit(0);
}

const ownCheckout = !!process.env.INIT_CWD && path.resolve(process.env.INIT_CWD) === path.resolve(root);
const required = process.env.PROCGUARD_REQUIRE_ADDON === '1' || (!!process.env.CI && ownCheckout);
const fromSource = process.env.npm_config_build_from_source === 'true';
const load = require('node-gyp-build');

/** The path of the addon node-gyp-build picks, if it loads in this process; else the reason. */
function tryLoad() {
  let file;
  try {
    file = load.path(root);
    require(file);
    return { file };
  } catch (err) {
    return { error: String((err && err.message) || err).split('\n')[0], file };
  }
}

if (!fromSource) {
  const found = tryLoad();
  if (found.file && !found.error) {
    console.log(`procguard: using the native addon ${path.relative(root, found.file)}`);
    process.exit(0);
  }
  console.log(`procguard: no prebuilt addon loads here (${found.error}); building it from source.`);
}

/** node-gyp: our own dependency when present (a checkout), else the one npm ships with. */
function nodeGyp() {
  try {
    const pkgFile = require.resolve('node-gyp/package.json', { paths: [root] });
    const pkg = require(pkgFile);
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin['node-gyp'];
    return [process.execPath, path.join(path.dirname(pkgFile), bin)];
  } catch {
    // not installed
  }
  const npmGyp = process.env.npm_config_node_gyp;
  if (npmGyp && /\.js$/.test(npmGyp)) return [process.execPath, npmGyp];
  if (npmGyp) return [npmGyp];
  return ['node-gyp'];
}

const [cmd, ...args] = nodeGyp();
const result = spawnSync(cmd, [...args, 'rebuild'], { cwd: root, stdio: 'inherit' });
const built = result.status === 0 ? tryLoad() : { error: result.error ? result.error.message : `node-gyp exited with ${result.status ?? result.signal}` };
if (result.status === 0 && !built.error) {
  console.log(`procguard: built the native addon from source: ${path.relative(root, built.file)}`);
  process.exit(0);
}
console.error(`procguard: the native addon could not be built (${built.error}).`);
console.error('procguard: procguard still works: children are spawned by node:child_process, without priority');
console.error('procguard: management, until the addon is built (needs a C++ compiler, make and python3; then');
console.error('procguard: `npm rebuild procguard`). `npx procguard status` shows the state.');
process.exit(required ? 1 : 0);
