#!/usr/bin/env node
// The other runtimes procguard supports, from the npm registry (their official packages), into
// .cache/runtimes: `node scripts/runtimes.js` installs what is missing and prints the binaries'
// paths as JSON; test/runtimes.test.ts and scripts/bench-runtimes.js call runtimes().
// Versions are pinned so a run is repeatable; PROCGUARD_BUN_VERSION / PROCGUARD_DENO_VERSION
// pick others. Installed once: a later run only checks that each binary answers --version.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const CACHE = path.join(root, '.cache', 'runtimes');

const RUNTIMES = {
  bun: {
    pkg: '@oven/bun-linux-x64',
    version: process.env.PROCGUARD_BUN_VERSION || '1.4.5',
    bin: 'bin/bun',
  },
  deno: {
    pkg: '@deno/linux-x64-glibc',
    version: process.env.PROCGUARD_DENO_VERSION || '2.9.6',
    bin: 'deno',
  },
};

function installedVersion(name) {
  const { pkg } = RUNTIMES[name];
  try {
    return JSON.parse(fs.readFileSync(path.join(CACHE, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** { bun: { path, version }, deno: { path, version } }, installing what is missing. */
function runtimes() {
  if (process.arch !== 'x64') throw new Error(`scripts/runtimes.js: only linux-x64 runtimes are fetched (this is ${process.arch})`);
  const missing = Object.keys(RUNTIMES).filter((name) => installedVersion(name) !== RUNTIMES[name].version);
  if (missing.length) {
    fs.mkdirSync(CACHE, { recursive: true });
    const manifest = path.join(CACHE, 'package.json');
    if (!fs.existsSync(manifest)) fs.writeFileSync(manifest, '{ "private": true }\n');
    const npm = process.env.npm_execpath && process.env.npm_execpath.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];
    // --ignore-scripts: the binaries come in the tarballs; nothing of theirs runs at install.
    execFileSync(npm[0], [...npm.slice(1), 'install', '--no-audit', '--no-fund', '--ignore-scripts', '--save-exact',
      ...missing.map((name) => `${RUNTIMES[name].pkg}@${RUNTIMES[name].version}`)], { cwd: CACHE, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const out = {};
  for (const [name, { pkg, bin }] of Object.entries(RUNTIMES)) {
    const file = path.join(CACHE, 'node_modules', pkg, bin);
    fs.chmodSync(file, 0o755); // npm keeps the tarball's mode; make sure
    const version = execFileSync(file, ['--version'], { encoding: 'utf8' }).trim().split('\n')[0];
    out[name] = { path: file, version };
  }
  return out;
}

module.exports = { runtimes };
if (require.main === module) console.log(JSON.stringify(runtimes(), null, 2));
