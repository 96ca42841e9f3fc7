#!/usr/bin/env node
// `npm install` hook: on Linux, load the prebuilt addon or build it from source; elsewhere
// there is nothing to build (procguard falls back to node:child_process and says so).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

if (process.platform !== 'linux') {
  console.log(`procguard: ${process.platform} is not Linux; no native addon, children are spawned by node:child_process.`);
  process.exit(0);
}
const bin = require.resolve('node-gyp-build/bin.js');
const result = spawnSync(process.execPath, [bin], { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
if (result.status !== 0) {
  console.error('procguard: the native addon could not be built; children will be spawned by node:child_process,');
  console.error('procguard: without priority management, until it is (a compiler, python3 and make are needed).');
  process.exit(process.env.CI ? 1 : 0);
}
