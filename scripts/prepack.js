#!/usr/bin/env node
// npm's prepack (npm pack, npm publish): a package never goes out without its prebuilt addons.
// Both (linux-x64 and linux-arm64) must be there and built from the sources being packed; when
// they are not, they are built (npm run prebuild: on linux-x64, cross-compiling arm64), and when
// that cannot be done here the packing stops with what to do. PROCGUARD_PREPACK_BUILD=0 only
// checks (a release pipeline that builds the binaries elsewhere and must never rebuild them).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { prebuildsProblem } = require('./prebuilds');

function refuse(problem) {
  console.error(
    `procguard prepack: refusing to pack without both prebuilt addons: ${problem}.\n` +
      'Build them with `npm run prebuild` on linux-x64 (it cross-compiles arm64), then pack again.',
  );
  return 1;
}

function main() {
  let problem = prebuildsProblem();
  if (!problem) return 0;
  if (process.env.PROCGUARD_PREPACK_BUILD === '0') return refuse(problem);
  if (process.platform !== 'linux' || process.arch !== 'x64') return refuse(`${problem}; they are built on linux-x64 only`);
  console.error(`procguard prepack: ${problem}: building them (npm run prebuild)`);
  const r = spawnSync(process.execPath, [path.join(__dirname, 'prebuild.js')], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) return refuse(`${problem}, and npm run prebuild failed (${r.status ?? r.signal})`);
  problem = prebuildsProblem();
  return problem ? refuse(problem) : 0;
}

process.exit(main());
