#!/usr/bin/env node
// `npm run check:abi [-- FILE|DIR...]`: the ABI floor of every .node under prebuilds/ and
// build/ (or the given files and folders). Reads each ELF's dynamic symbols and version needs
// itself (no binutils needed, any architecture) and fails when a binary
//   - needs a glibc symbol version newer than GLIBC_2.28 (or GLIBC_PRIVATE),
//   - needs any GLIBCXX_/CXXABI_/GCC_ version or links libstdc++.so / libgcc_s.so
//     (the prebuilds link them statically),
//   - references a glibc wrapper of a kernel feature newer than the oldest supported kernel
//     (procguard calls those through syscall()),
//   - references a libuv function strongly: Deno lacks uv_signal_*, and with `-z now` one strong
//     reference to a missing function fails the load (native/uv_optional.h makes them weak).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const GLIBC_LIMIT = '2.28';
const FORBIDDEN_WRAPPERS = ['pidfd_open', 'pidfd_send_signal', 'pidfd_getfd', 'clone3', 'close_range'];
const MACHINES = { 3: 'x86', 40: 'arm', 62: 'x86_64', 183: 'aarch64', 243: 'riscv', 21: 'ppc64', 22: 's390' };

function parseElf(file) {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (b[4] !== 2 || b[5] !== 1) throw new Error('only 64-bit little-endian ELF is supported');
  const machine = MACHINES[b.readUInt16LE(0x12)] || `machine ${b.readUInt16LE(0x12)}`;
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({
      type: b.readUInt32LE(o + 4),
      offset: Number(b.readBigUInt64LE(o + 0x18)),
      size: Number(b.readBigUInt64LE(o + 0x20)),
      link: b.readUInt32LE(o + 0x28),
      info: b.readUInt32LE(o + 0x2c),
    });
  }
  const str = (sec, off) => {
    const start = sec.offset + off;
    return b.toString('latin1', start, b.indexOf(0, start));
  };
  const find = (type) => sections.find((s) => s.type === type);
  const dynsym = find(11);
  const versym = find(0x6fffffff);
  const verneed = find(0x6ffffffe);
  const dynamic = find(6);

  // version index -> { name, file }
  const versions = new Map();
  if (verneed) {
    const strs = sections[verneed.link];
    let o = verneed.offset;
    for (let i = 0; i < verneed.info; i++) {
      const cnt = b.readUInt16LE(o + 2);
      const fileName = str(strs, b.readUInt32LE(o + 4));
      let a = o + b.readUInt32LE(o + 8);
      for (let j = 0; j < cnt; j++) {
        versions.set(b.readUInt16LE(a + 6), { name: str(strs, b.readUInt32LE(a + 8)), file: fileName });
        a += b.readUInt32LE(a + 12);
      }
      o += b.readUInt32LE(o + 12);
    }
  }
  const imports = [];
  if (dynsym) {
    const strs = sections[dynsym.link];
    const count = dynsym.size / 24;
    for (let i = 1; i < count; i++) {
      const o = dynsym.offset + i * 24;
      if (b.readUInt16LE(o + 6) !== 0) continue; // defined here: not an import
      const name = str(strs, b.readUInt32LE(o));
      const idx = versym ? b.readUInt16LE(versym.offset + i * 2) & 0x7fff : 0;
      const v = versions.get(idx);
      const weak = b[o + 4] >> 4 === 2; // STB_WEAK
      imports.push({ name, version: v ? v.name : null, from: v ? v.file : null, weak });
    }
  }
  const needed = [];
  if (dynamic) {
    const strs = sections[dynamic.link];
    for (let o = dynamic.offset; o < dynamic.offset + dynamic.size; o += 16) {
      const tag = b.readBigInt64LE(o);
      if (tag === 0n) break;
      if (tag === 1n) needed.push(str(strs, Number(b.readBigUInt64LE(o + 8))));
    }
  }
  return { machine, imports, needed };
}

function cmpVersion(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d) return d;
  }
  return 0;
}

function newest(imports, prefix) {
  let best = null;
  for (const s of imports) {
    if (!s.version || !s.version.startsWith(prefix)) continue;
    const v = s.version.slice(prefix.length);
    if (!/^[\d.]+$/.test(v)) continue;
    if (!best || cmpVersion(v, best.v) > 0) best = { v, syms: [s.name] };
    else if (cmpVersion(v, best.v) === 0) best.syms.push(s.name);
  }
  return best;
}

/** Checks one .node; returns { ok, lines }. */
function checkFile(file) {
  const { machine, imports, needed } = parseElf(file);
  const problems = [];
  const glibc = newest(imports, 'GLIBC_');
  if (glibc && cmpVersion(glibc.v, GLIBC_LIMIT) > 0) {
    const over = imports.filter((s) => s.version && s.version.startsWith('GLIBC_') && /^[\d.]+$/.test(s.version.slice(6)) && cmpVersion(s.version.slice(6), GLIBC_LIMIT) > 0);
    problems.push(`newer than GLIBC_${GLIBC_LIMIT}: ${over.map((s) => `${s.name}@${s.version}`).join(', ')}`);
  }
  const priv = imports.filter((s) => s.version === 'GLIBC_PRIVATE');
  if (priv.length) problems.push(`GLIBC_PRIVATE: ${priv.map((s) => s.name).join(', ')}`);
  const cxx = imports.filter((s) => s.version && /^(GLIBCXX_|CXXABI_|GCC_)/.test(s.version));
  if (cxx.length) {
    const byVersion = [...new Set(cxx.map((s) => s.version))].sort();
    problems.push(`${cxx.length} symbols from the C++ runtime (${byVersion.join(', ')}), e.g. ${cxx.slice(0, 3).map((s) => s.name).join(', ')}`);
  }
  const runtimeLibs = needed.filter((n) => /^lib(stdc\+\+|gcc_s|c\+\+)\.so/.test(n));
  if (runtimeLibs.length) problems.push(`links ${runtimeLibs.join(', ')} dynamically`);
  const wrappers = imports.filter((s) => FORBIDDEN_WRAPPERS.includes(s.name));
  if (wrappers.length) problems.push(`glibc wrappers of new kernel features: ${wrappers.map((s) => s.name).join(', ')} (use syscall())`);

  const strongUv = imports.filter((s) => s.name.startsWith('uv_') && !s.weak);
  if (strongUv.length) problems.push(`strong libuv references (a runtime without them cannot load the addon): ${strongUv.map((s) => s.name).join(', ')} (see native/uv_optional.h)`);
  const uv = imports.filter((s) => s.name.startsWith('uv_'));

  const lines = [
    `${file}`,
    `  arch ${machine}; needs ${needed.join(', ') || '(nothing)'}`,
    `  newest GLIBC_: ${glibc ? `GLIBC_${glibc.v} (${glibc.syms.join(', ')})` : 'none'}`,
    `  newest GLIBCXX_: ${(newest(imports, 'GLIBCXX_') || { v: 'none' }).v}; CXXABI_: ${(newest(imports, 'CXXABI_') || { v: 'none' }).v}; GCC_: ${(newest(imports, 'GCC_') || { v: 'none' }).v}`,
    `  kernel-feature wrappers (${FORBIDDEN_WRAPPERS.join(', ')}): ${wrappers.length ? 'REFERENCED' : 'none'}`,
    `  libuv: ${uv.length} functions, ${strongUv.length ? `${strongUv.length} STRONG` : 'all weak'}`,
  ];
  for (const p of problems) lines.push(`  FAIL: ${p}`);
  lines.push(`  ${problems.length ? 'FAIL' : 'ok'} (limit GLIBC_${GLIBC_LIMIT}, no C++ runtime symbols, libuv weak)`);
  return { ok: problems.length === 0, lines };
}

function collect(target, out) {
  let st;
  try {
    st = fs.statSync(target);
  } catch {
    return out;
  }
  if (st.isFile()) {
    if (target.endsWith('.node')) out.push(target);
  } else if (st.isDirectory()) {
    for (const e of fs.readdirSync(target).sort()) {
      if (e === 'obj.target' || e === '.deps') continue;
      collect(path.join(target, e), out);
    }
  }
  return out;
}

function main(argv) {
  const root = path.join(__dirname, '..');
  const targets = argv.length ? argv : [path.join(root, 'prebuilds'), path.join(root, 'build')];
  const files = targets.flatMap((t) => collect(path.resolve(t), []));
  if (files.length === 0) {
    console.error(`check:abi: no .node file under ${targets.join(', ')} (run npm run prebuild or npm run build:native)`);
    return 1;
  }
  let failed = 0;
  for (const f of files) {
    let res;
    try {
      res = checkFile(f);
    } catch (err) {
      res = { ok: false, lines: [f, `  FAIL: ${err.message}`] };
    }
    console.log(res.lines.map((l) => l.replace(root + path.sep, '')).join('\n'));
    if (!res.ok) failed++;
  }
  console.log(`check:abi: ${files.length - failed} of ${files.length} binaries within the floor (GLIBC_${GLIBC_LIMIT}, static libstdc++/libgcc)`);
  return failed ? 1 : 0;
}

module.exports = { checkFile, parseElf };
if (require.main === module) process.exit(main(process.argv.slice(2)));
