// @ts-check
// An ES module consumer of the installed procguard tarball (see ../README.md).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import procguard, { spawn, execFileSync, status, isInstalled } from 'procguard';

const require = createRequire(import.meta.url);
const expectNative = (process.env.SMOKE_EXPECT || 'native') === 'native';
const env = { PATH: '/usr/bin:/bin' };
const script = 'cat /proc/self/oom_score_adj; cut -d" " -f19 /proc/self/stat';
/** @type {Record<string, unknown>} */
const report = { consumer: 'esm', node: process.version, arch: process.arch };

/** @param {string | Buffer} out */
const lines = (out) => String(out).trim().split('\n');

async function main() {
  // The default export is the same module as the named ones (one instance for import and require).
  assert.equal(procguard.spawn, spawn);
  assert.equal(require('procguard').spawn, spawn);
  /** @type {import('procguard').Status} */
  const st = status();
  report.native = st.native;
  if (!expectNative) {
    assert.equal(st.native, false, 'the addon loaded where it should not');
    assert.match(String(st.nativeError), /No native build was found/);
    report.nativeError = st.nativeError;
    const own = readFileSync('/proc/self/oom_score_adj', 'utf8').trim();
    assert.equal(lines(execFileSync('sh', ['-c', script], { oomScoreAdj: 500, env }))[0], own);
    const child = spawn('sh', ['-c', 'exit 3'], { oomScoreAdj: 500, env });
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 3);
    assert.deepEqual(child.priority, { oomScoreAdj: null, nice: null, schedPolicy: null, ioPriority: null, warnings: [] });
    return;
  }
  assert.equal(st.native, true, `the addon did not load: ${st.nativeError}`);

  const root = path.dirname(require.resolve('procguard/package.json'));
  const nodeGypBuild = 'node-gyp-build'; // untyped: required by name, as any
  const file = require(nodeGypBuild).path(root);
  report.addon = path.relative(root, file);
  if (process.env.SMOKE_ADDON) assert.equal(report.addon, process.env.SMOKE_ADDON);
  const binding = require(file);
  assert.throws(() => binding.spawnSync({ get file() { throw new Error('thrown-in-a-getter'); } }), /thrown-in-a-getter/);
  assert.throws(() => binding.spawnSync({ file: 42 }), TypeError);
  report.exceptions = 'ok';

  report.sync = lines(execFileSync('sh', ['-c', script], { oomScoreAdj: 500, nice: 7, env }));
  assert.deepEqual(report.sync, ['500', '7']);
  const child = spawn('sh', ['-c', script], { oomScoreAdj: 500, nice: 7, env });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  const code = await new Promise((resolve) => child.on('close', resolve));
  report.async = lines(out);
  assert.equal(code, 0);
  assert.deepEqual(report.async, ['500', '7']);
  assert.equal(child.priority.oomScoreAdj, 500);
  assert.equal(child.priority.nice, 7);

  // procguard/register through `import`: node:child_process's ESM named exports too.
  await import('procguard/register');
  assert.equal(isInstalled(), true);
  const { execFileSync: cpExecFileSync } = await import('node:child_process');
  /** @type {any} */
  const options = { oomScoreAdj: 500, nice: 7, env };
  report.register = lines(cpExecFileSync('sh', ['-c', script], options));
  assert.deepEqual(report.register, ['500', '7']);
}

main().then(
  () => console.log(JSON.stringify({ ok: true, ...report })),
  (err) => {
    console.log(JSON.stringify({ ok: false, error: String(err && err.message), ...report }));
    process.exitCode = 1;
  },
);
