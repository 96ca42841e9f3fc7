#!/usr/bin/env node
'use strict';
// npm run bench (second part) — spawn cost under Node, Bun and Deno, beside each runtime's own way.
// A .cjs file: the same file runs as the worker under Bun and Deno, and Deno reads .js as ESM.
//
// Spawn-to-close latency of /bin/true, one at a time, stdio ignored, with the agent holding
// 50 MB and 1 GB of resident memory, under each runtime (Bun and Deno from scripts/runtimes.js):
//   procguard      procguard.spawn with CODER_PROC_PRIO_MGMT=1 (priorities set in the child)
//   child_process  the runtime's own node:child_process.spawn
//   Bun.spawn      Bun's native API (under Bun)
//   Deno.Command   Deno's native API (under Deno)
// and the sync forms: procguard.spawnSync, child_process.spawnSync, Bun.spawnSync,
// Deno.Command#outputSync. Each runtime and size runs in a fresh process of that runtime.
//
//   node scripts/bench-runtimes.cjs [--quick] [--sizes 50M,1G] [--out file]
// Results: a markdown table on stdout, the numbers in .cache/bench-runtimes.json (or --out).
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const childProcess = require('node:child_process');

const REPO = path.join(__dirname, '..');
const MARK = 'BENCH_RUNTIME ';

// ---------------------------------------------------------------- the worker (any runtime)

async function worker(config) {
  const pg = require(path.join(REPO, 'dist', 'cjs', 'index.js'));
  const cp = require('node:child_process');
  const runtime = pg.status().runtime.name;
  // The agent's memory: touched, so it is resident (a fork copies the page tables of all of it).
  // Held from globalThis so no collector can take it while the spawns run.
  const ballast = (globalThis.procguardBenchBallast = Buffer.allocUnsafeSlow(config.bytes));
  for (let i = 0; i < ballast.length; i += 4096) ballast[i] = (i >> 12) & 0xff;
  const residentBytes = () => Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
  const rssBefore = residentBytes();

  const closed = (child) => new Promise((resolve) => child.once('close', resolve));
  const approaches = {
    procguard: { run: () => closed(pg.spawn('/bin/true', [], { stdio: 'ignore' })), sync: () => pg.spawnSync('/bin/true', [], { stdio: 'ignore' }) },
    child_process: { run: () => closed(cp.spawn('/bin/true', [], { stdio: 'ignore' })), sync: () => cp.spawnSync('/bin/true', [], { stdio: 'ignore' }) },
  };
  if (runtime === 'bun') {
    approaches['Bun.spawn'] = {
      run: () => globalThis.Bun.spawn(['/bin/true'], { stdio: ['ignore', 'ignore', 'ignore'] }).exited,
      sync: () => globalThis.Bun.spawnSync(['/bin/true'], { stdio: ['ignore', 'ignore', 'ignore'] }),
    };
  }
  if (runtime === 'deno') {
    const command = () => new globalThis.Deno.Command('/bin/true', { stdin: 'null', stdout: 'null', stderr: 'null' });
    approaches['Deno.Command'] = { run: () => command().spawn().status, sync: () => command().outputSync() };
  }
  const now = () => Number(process.hrtime.bigint()) / 1000;
  const rows = [];
  for (const [name, approach] of Object.entries(approaches)) {
    // fork()-based spawns get slow with a large agent: fewer samples there.
    const n = name === 'child_process' && runtime === 'node' && config.bytes > 256 * 2 ** 20 ? config.slowIterations : config.iterations;
    for (const mode of ['async', 'sync']) {
      const once = mode === 'async' ? approach.run : async () => approach.sync();
      for (let i = 0; i < config.warmup; i++) await once();
      const samples = [];
      for (let i = 0; i < n; i++) {
        const start = now();
        await once();
        samples.push(now() - start);
      }
      samples.sort((a, b) => a - b);
      const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
      rows.push({ approach: name, mode, n, median: at(0.5), p90: at(0.9) });
    }
  }
  const rss = Math.min(rssBefore, residentBytes());
  let checksum = 0;
  for (let i = 0; i < ballast.length; i += 4096 * 1024) checksum += ballast[i];
  process.stdout.write(`${MARK}${JSON.stringify({ runtime, version: pg.status().runtime.version, rss, checksum, rows })}\n`);
}

// ---------------------------------------------------------------- the driver (node)

function parseBytes(text) {
  const m = /^(\d+)([MG])$/i.exec(text);
  if (!m) throw new Error(`bad size ${text} (e.g. 50M, 1G)`);
  return Number(m[1]) * 2 ** (m[2].toUpperCase() === 'G' ? 30 : 20);
}

const micros = (v) => (v < 1000 ? `${v.toFixed(0)} µs` : `${(v / 1000).toFixed(2)} ms`);

function main() {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, sizes: { type: 'string', default: '50M,1G' }, out: { type: 'string' } } });
  const { runtimes } = require('./runtimes');
  const bins = runtimes();
  const config = values.quick ? { warmup: 10, iterations: 100, slowIterations: 30 } : { warmup: 30, iterations: 400, slowIterations: 100 };
  const results = [];
  for (const size of values.sizes.split(',')) {
    for (const runtime of ['node', 'bun', 'deno']) {
      const job = JSON.stringify({ ...config, bytes: parseBytes(size) });
      const cmd = runtime === 'node' ? [process.execPath, __filename, '--worker', job]
        : runtime === 'bun' ? [bins.bun.path, __filename, '--worker', job]
          : [bins.deno.path, 'run', '-A', '--quiet', __filename, '--worker', job];
      const r = childProcess.spawnSync(cmd[0], cmd.slice(1), {
        cwd: REPO,
        encoding: 'utf8',
        env: { ...process.env, CODER_PROC_PRIO_MGMT: '1', DENO_DIR: path.join(REPO, '.cache', 'deno'), DENO_NO_UPDATE_CHECK: '1' },
        maxBuffer: 16 * 2 ** 20,
        timeout: 600_000,
      });
      const line = (r.stdout || '').split('\n').find((l) => l.startsWith(MARK));
      if (!line) throw new Error(`${runtime} at ${size}: no result (status ${r.status})\n${r.stderr}`);
      results.push({ size, ...JSON.parse(line.slice(MARK.length)) });
      process.stderr.write(`[bench-runtimes] ${runtime} at ${size} done\n`);
    }
  }
  console.log('| runtime | agent RSS | approach | spawn → close (median / p90) | spawnSync (median / p90) |');
  console.log('|---|---|---|---|---|');
  for (const r of results) {
    for (const approach of [...new Set(r.rows.map((row) => row.approach))]) {
      const cell = (mode) => {
        const row = r.rows.find((x) => x.approach === approach && x.mode === mode);
        return `${micros(row.median)} / ${micros(row.p90)} (n=${row.n})`;
      };
      console.log(`| ${r.runtime} ${r.version} | ${Math.round(r.rss / 2 ** 20)} MB | ${approach} | ${cell('async')} | ${cell('sync')} |`);
    }
  }
  const out = values.out || path.join(REPO, '.cache', 'bench-runtimes.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n(numbers in ${path.relative(REPO, out)})`);
}

const workerAt = process.argv.indexOf('--worker');
if (workerAt >= 0) worker(JSON.parse(process.argv[workerAt + 1])).catch((e) => { console.error(e); process.exitCode = 1; });
else main();
