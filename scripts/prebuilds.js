// What a release must carry: the prebuilt addon for each architecture, built from the sources
// being packed. The sources' digest (native/, binding.gyp, static-runtime.js) is written next to
// the binaries by prebuild.js; a binary without it, or with another digest, is stale.
// Shared by prebuild.js (writes it), prepack.js (refuses a package without fresh binaries) and
// test-dist.js.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const ARCHES = ['x64', 'arm64'];
const STAMP = path.join('prebuilds', 'sources.sha256');

/** The prebuilt addon of `arch`, relative to the package root (node-gyp-build's name for it). */
const addonPath = (arch) => path.join('prebuilds', `linux-${arch}`, 'procguard.glibc.node');

/** sha256 over the files the addon is built from, in a stable order. */
function sourcesDigest(root = ROOT) {
  const files = ['binding.gyp', path.join('scripts', 'static-runtime.js')];
  // native/ and its subfolders (native/guard/...), every file in a stable order.
  const walk = (dir) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const f = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(f);
      else files.push(f);
    }
  };
  walk('native');
  const hash = crypto.createHash('sha256');
  for (const f of files) {
    hash.update(`${f}\0`);
    hash.update(fs.readFileSync(path.join(root, f)));
  }
  return hash.digest('hex');
}

/** Why the prebuilds under `root` cannot be shipped, or null when both are there and fresh. */
function prebuildsProblem(root = ROOT) {
  const missing = ARCHES.map(addonPath).filter((f) => !fs.existsSync(path.join(root, f)));
  if (missing.length) return `missing ${missing.join(' and ')}`;
  let stamp = '';
  try {
    stamp = fs.readFileSync(path.join(root, STAMP), 'utf8').trim();
  } catch {
    return `no ${STAMP}: which sources they were built from is unknown`;
  }
  if (stamp !== sourcesDigest(root)) return `they were built from other sources than native/ and binding.gyp now hold (${STAMP})`;
  return null;
}

function writeStamp(root = ROOT) {
  fs.writeFileSync(path.join(root, STAMP), `${sourcesDigest(root)}\n`);
}

module.exports = { ARCHES, STAMP, addonPath, sourcesDigest, prebuildsProblem, writeStamp };
