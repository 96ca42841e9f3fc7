// Installs the Debian packages a packaging script needs, only those missing (idempotent).
// Used by scripts/prebuild.js and scripts/test-dist.js; as root with apt-get (CI, a developer's
// Debian machine) it installs them, elsewhere it says which to install and throws.
'use strict';
const { spawnSync } = require('node:child_process');

function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8', timeout: 30000 });
  return r.status === 0 && /install ok installed/.test(r.stdout);
}

/** Makes sure every package in `pkgs` is installed; `why` names the step that needs them. */
function ensureDebs(pkgs, why) {
  const hasDpkg = spawnSync('dpkg-query', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!hasDpkg) throw new Error(`${why} needs the Debian packages ${pkgs.join(' ')} (no dpkg here)`);
  const missing = pkgs.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid() !== 0) {
    throw new Error(`${why} needs the Debian packages: ${missing.join(' ')} (run: sudo apt-get install ${missing.join(' ')})`);
  }
  console.log(`[debs] ${why}: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 300000 });
  if (update.status !== 0) throw new Error(`apt-get update failed (${update.status ?? update.signal})`);
  const inst = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
    timeout: 600000,
  });
  if (inst.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed (${inst.status ?? inst.signal})`);
}

module.exports = { ensureDebs, installed };
