#!/usr/bin/env node
'use strict';
// Node's own child_process tests (test/parallel/test-child-process-*), for the Node line being
// run, against plain Node and against procguard (`--require procguard/register`, so every
// function of node:child_process is procguard's). Prints a table of pass/fail counts and the
// tests that pass with Node but fail with procguard.
//
// The tests come from a local mirror of github:denoland/node_test (one commit per vendored
// Node version); they are extracted into .cache/node-test/<version>/, never into the repo.
//
//   node scripts/node-parity.js [--node PATH] [--jobs N] [--timeout SECONDS] [--verbose] [--json FILE] [name-filter ...]
//
//   --node      the node binary to test with (default: this one); its major picks the tests
//   --repo      the node_test git directory (default: $NODE_TEST_REPO or /work/.mirror/denoland+node_test/repo)
//   --jobs      tests run at once (default 1: the machine is shared)
//   --timeout   per test and mode, seconds (default 60)
//   --verbose   the end of each failing procguard run's output
//   filters     substrings of test names (default: all of them)
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const REGISTER = path.join(ROOT, 'dist', 'cjs', 'register-entry.js');

function parseArgs(argv) {
  const options = {
    node: process.execPath,
    repo: process.env.NODE_TEST_REPO || '/work/.mirror/denoland+node_test/repo',
    jobs: 1,
    timeout: 60,
    verbose: false,
    json: null,
    filters: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--node') options.node = path.resolve(value());
    else if (arg === '--repo') options.repo = value();
    else if (arg === '--jobs') options.jobs = Math.max(1, Number(value()) || 1);
    else if (arg === '--timeout') options.timeout = Number(value()) || 60;
    else if (arg === '--verbose') options.verbose = true;
    else if (arg === '--json') options.json = value();
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else options.filters.push(arg);
  }
  return options;
}

function git(repo, ...args) {
  return execFileSync('git', ['--git-dir', repo, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** The newest commit of the mirror that vendors Node `major`, and its full version. */
function commitFor(repo, major) {
  const seen = [];
  for (const line of git(repo, 'log', '--format=%H %s').trim().split('\n')) {
    const [commit, ...subject] = line.split(' ');
    let version = null;
    try {
      version = /version = "([\d.]+)"/.exec(git(repo, 'show', `${commit}:node_version.ts`))?.[1] ?? null;
    } catch {
      version = /v?(\d+\.\d+\.\d+)/.exec(subject.join(' '))?.[1] ?? null; // before node_version.ts existed
    }
    if (!version) continue;
    seen.push(version);
    if (Number(version.split('.')[0]) === major) return { commit, version };
  }
  throw new Error(`no tests for Node ${major} in ${repo} (it has ${[...new Set(seen)].join(', ')})`);
}

/**
 * test/common, test/fixtures and the child_process tests of `commit`, under .cache once. File
 * by file through `git cat-file --batch`: a mirror may lack some large blobs (skipped).
 */
function extract(repo, commit, version) {
  const dir = path.join(ROOT, '.cache', 'node-test', version);
  const done = path.join(dir, '.extracted');
  if (fs.existsSync(done)) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  const entries = git(repo, 'ls-tree', '-r', '-z', commit, '--', 'test/common', 'test/fixtures', 'test/parallel')
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, file] = line.split('\t');
      const [mode, type, sha] = meta.split(' ');
      return { mode, type, sha, file };
    })
    .filter((e) => e.type === 'blob' && (!e.file.startsWith('test/parallel/') || /^test\/parallel\/test-child-process-/.test(e.file)));
  const batch = execFileSync('git', ['--git-dir', repo, 'cat-file', '--batch'], {
    input: entries.map((e) => e.sha).join('\n') + '\n',
    maxBuffer: 1 << 30,
  });
  let offset = 0;
  let missing = 0;
  for (const entry of entries) {
    const eol = batch.indexOf(10, offset);
    const header = batch.subarray(offset, eol).toString();
    offset = eol + 1;
    if (header.endsWith(' missing')) {
      missing++;
      continue;
    }
    const size = Number(header.split(' ')[2]);
    const target = path.join(dir, entry.file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (entry.mode === '120000') {
      fs.symlinkSync(batch.subarray(offset, offset + size).toString(), target);
    } else {
      fs.writeFileSync(target, batch.subarray(offset, offset + size), { mode: entry.mode === '100755' ? 0o755 : 0o644 });
    }
    offset += size + 1;
  }
  fs.writeFileSync(done, `${commit}\n${missing} blobs missing from the mirror\n`);
  return dir;
}

/** The `// Flags:` line Node's test runner passes to node. */
function flagsOf(file) {
  const match = /^\/\/ Flags: (.*)$/m.exec(fs.readFileSync(file, 'utf8'));
  return match ? match[1].trim().split(/\s+/) : [];
}

/** A test that swaps Node's internal child_process functions to watch Node's own calls. */
function patchesInternals(file) {
  return /internalCp\.[\w.]+\s*=[^=]|mock\.method\(internalCp/.test(fs.readFileSync(file, 'utf8'));
}

function runOne(options, dir, name, mode, slot) {
  const file = path.join(dir, 'test', 'parallel', name);
  const args = [...(mode === 'procguard' ? ['--require', REGISTER] : []), ...flagsOf(file), file];
  const env = { ...process.env, TEST_THREAD_ID: String(slot) };
  delete env.NODE_OPTIONS;
  delete env.NODE_DEBUG;
  for (const key of Object.keys(env)) if (key.startsWith('CODER_PROC_')) delete env[key];
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(options.node, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const keep = (chunk) => {
      output += chunk;
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL'); // the test and whatever it started
      } catch {}
    }, options.timeout * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ pass: code === 0 && !timedOut, code, signal, timedOut, ms: Date.now() - started, output });
    });
  });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run npm run build first`);
  if (!fs.existsSync(options.repo)) {
    throw new Error(`${options.repo} is missing: fetch github:denoland/node_test (a git directory) and pass --repo`);
  }
  const nodeVersion = execFileSync(options.node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  const { commit, version } = commitFor(options.repo, Number(nodeVersion.split('.')[0]));
  const dir = extract(options.repo, commit, version);
  const tests = fs.readdirSync(path.join(dir, 'test', 'parallel'))
    .filter((name) => /^test-child-process-.*\.m?js$/.test(name))
    .filter((name) => options.filters.length === 0 || options.filters.some((f) => name.includes(f)))
    .sort();
  console.log(`node ${nodeVersion} (${options.node}), Node's tests of v${version} (node_test ${commit.slice(0, 8)}), ${tests.length} tests, ${options.jobs} at a time`);

  const results = new Map();
  let next = 0;
  async function worker(slot) {
    while (next < tests.length) {
      const name = tests[next++];
      const node = await runOne(options, dir, name, 'node', slot);
      const procguard = await runOne(options, dir, name, 'procguard', slot);
      results.set(name, { node, procguard });
      const mark = (r) => (r.pass ? 'pass' : r.timedOut ? 'TIME' : 'FAIL');
      process.stderr.write(`${mark(node)} ${mark(procguard)}  ${name}\n`);
    }
  }
  await Promise.all(Array.from({ length: options.jobs }, (_, i) => worker(100 + i)));

  const rows = [...results.entries()].sort(([a], [b]) => a.localeCompare(b));
  const count = (mode, pass) => rows.filter(([, r]) => r[mode].pass === pass).length;
  const regressions = rows.filter(([, r]) => r.node.pass && !r.procguard.pass).map(([name]) => name);
  const improvements = rows.filter(([, r]) => !r.node.pass && r.procguard.pass).map(([name]) => name);
  console.log('');
  console.log('| mode | pass | fail |');
  console.log('|---|---|---|');
  console.log(`| node ${nodeVersion} | ${count('node', true)} | ${count('node', false)} |`);
  console.log(`| procguard (--require procguard/register) | ${count('procguard', true)} | ${count('procguard', false)} |`);
  console.log('');
  console.log(`pass with node, fail with procguard: ${regressions.length}`);
  for (const name of regressions) {
    const r = results.get(name).procguard;
    const internals = patchesInternals(path.join(dir, 'test', 'parallel', name))
      ? '; replaces a function of internal/child_process, which procguard does not call'
      : '';
    console.log(`  ${name}  (${r.timedOut ? 'timed out' : r.signal ? `signal ${r.signal}` : `exit ${r.code}`}${internals})`);
    if (options.verbose) console.log(r.output.trim().split('\n').slice(-25).map((l) => `      ${l}`).join('\n'));
  }
  if (improvements.length) console.log(`fail with node, pass with procguard: ${improvements.join(', ')}`);
  const failingBoth = rows.filter(([, r]) => !r.node.pass && !r.procguard.pass).map(([name]) => name);
  if (failingBoth.length) console.log(`fail with both: ${failingBoth.join(', ')}`);
  if (options.json) {
    const data = Object.fromEntries(rows.map(([name, r]) => [name, {
      node: { pass: r.node.pass, code: r.node.code, signal: r.node.signal, ms: r.node.ms },
      procguard: { pass: r.procguard.pass, code: r.procguard.code, signal: r.procguard.signal, ms: r.procguard.ms, output: r.procguard.pass ? undefined : r.procguard.output.slice(-4000) },
    }]));
    fs.writeFileSync(options.json, JSON.stringify({ nodeVersion, testsVersion: version, commit, results: data }, null, 2));
  }
  process.exitCode = regressions.length ? 1 : 0;
}

main().catch((err) => {
  console.error(`node-parity: ${err.message}`);
  process.exitCode = 2;
});
