#!/usr/bin/env node
'use strict';
// npm run soak — does the agent keep anything per spawn? 50,000 children, the way an agent lives:
// spawn, exec and execFile in turn, some of them failing (a command that does not exist: the
// error paths), some in a cgroup of their own, a few in flight at once, each awaited to 'close'.
// Every 5,000 spawns the agent's RSS and V8 heap are printed (after a full GC). After the warm-up (the first checkpoint: code
// compiled, pools and caches at their size) both must stay flat: growth under 5 MB, else it
// exits 1.
//
//   node --expose-gc scripts/soak.js [--spawns 50000] [--every 5000] [--in-flight 4] [--limit-mb 5]
//
// A leak of one ChildProcess per spawn (its sockets, listeners and Node's handle) is about 4 KB:
// 200 MB over the run. The soak runs dist/ (npm run build first).

const path = require('node:path');
const { parseArgs } = require('node:util');

if (typeof globalThis.gc !== 'function') {
  // Re-run with the GC exposed, so that a checkpoint measures what is retained, not garbage.
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const { values } = parseArgs({
  options: {
    spawns: { type: 'string', default: '50000' },
    every: { type: 'string', default: '5000' },
    'in-flight': { type: 'string', default: '4' },
    'limit-mb': { type: 'string', default: '5' },
  },
});
const total = Number(values.spawns);
const every = Number(values.every);
const inFlight = Number(values['in-flight']);
const limitBytes = Number(values['limit-mb']) * 2 ** 20;

const procguard = require(path.join(__dirname, '..'));

// One spawn of the mix, resolved at 'close' (or at the error of a command that cannot start).
const kinds = [
  () => procguard.spawn('/bin/true'),
  () => procguard.spawn('/bin/true', [], { stdio: 'ignore' }),
  () => procguard.execFile('/bin/echo', ['soak']),
  () => procguard.exec('exit 0'),
  () => procguard.spawn('/nonexistent/procguard-soak'), // ENOENT: the failed-exec path
  // A per-child cgroup: made (ahead, in a burst like this one), read at exit, removed. Where the
  // machine has no cgroup to give, the child runs without one (one warning).
  () => procguard.spawn('/bin/true', [], { stdio: 'ignore', cgroup: { memoryMax: '64M', required: false } }),
];

function once(n) {
  return new Promise((resolve) => {
    const child = kinds[n % kinds.length]();
    child.on('error', () => {});
    child.on('close', resolve);
  });
}

async function settle() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
const signedMb = (bytes) => `${bytes >= 0 ? '+' : ''}${mb(bytes)}`;

async function main() {
  const started = Date.now();
  const start = await settle();
  const rows = [];
  console.log(`soak: ${total} spawns (spawn, exec, execFile, ENOENT, spawn with a cgroup in turn), ${inFlight} in flight, node ${process.version}`);
  console.log('| spawns | RSS MB | heap MB | spawns/s |');
  console.log('|-------:|-------:|--------:|---------:|');
  console.log(`| 0 | ${mb(start.rss)} | ${mb(start.heapUsed)} | |`);
  let next = 0;
  let last = Date.now();
  while (next < total) {
    const end = Math.min(next + every, total);
    const workers = [];
    for (let w = 0; w < inFlight; w++) {
      workers.push((async () => {
        while (next < end) await once(next++);
      })());
    }
    await Promise.all(workers);
    const m = await settle();
    const now = Date.now();
    rows.push({ spawns: next, ...m });
    console.log(`| ${next} | ${mb(m.rss)} | ${mb(m.heapUsed)} | ${Math.round((every * 1000) / (now - last))} |`);
    last = now;
  }
  const warm = rows[0];
  const final = rows[rows.length - 1];
  const maxOf = (key) => Math.max(...rows.map((r) => r[key]));
  const rssGrowth = maxOf('rss') - warm.rss;
  const heapGrowth = maxOf('heapUsed') - warm.heapUsed;
  const ok = rssGrowth < limitBytes && heapGrowth < limitBytes;
  console.log('');
  console.log(`after warm-up (${warm.spawns} spawns) to ${final.spawns}: RSS ${signedMb(rssGrowth)} MB at most, heap ${signedMb(heapGrowth)} MB at most (limit ${mb(limitBytes)} MB)`);
  console.log(`${ok ? 'PASS' : 'FAIL'}: ${ok ? 'flat' : 'grows'} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
