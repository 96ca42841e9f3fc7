#!/usr/bin/env node
// binding.gyp asks this (via <!(...)) whether to link libstdc++ and libgcc statically:
// prints 1 when the C++ compiler ($CXX, else g++) has a static libstdc++.a, else 0.
// Static linking makes the addon independent of the system's libstdc++ (the prebuilds need
// no GLIBCXX_/CXXABI_ symbol); a from-source build on a system without libstdc++.a (Fedora
// and RHEL without libstdc++-static, for example) links it dynamically instead of failing.
// PROCGUARD_STATIC_RUNTIME=0 or =1 overrides the probe.
'use strict';
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function probe() {
  const forced = process.env.PROCGUARD_STATIC_RUNTIME;
  if (forced === '0' || forced === '1') return forced;
  if (process.platform !== 'linux') return '0';
  const cxx = process.env.CXX || 'g++';
  try {
    const out = execSync(`${cxx} -print-file-name=libstdc++.a`, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 30000,
    }).trim();
    return path.isAbsolute(out) && fs.existsSync(out) ? '1' : '0';
  } catch {
    return '0';
  }
}
process.stdout.write(probe() + '\n');
