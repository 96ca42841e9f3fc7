// VM job: runs the memory scenarios given as JSON in argv[2], one after another, and prints
// one `PROCGUARD-RESULT {json}` line per scenario. It uses the scenario code procguard ships
// (dist/cjs/pressure), the same code the host test and `procguard demo` run. argv[3], when
// given, is a further job script run afterwards in the same boot, in a process of its own, its
// output going where this job's goes (the per-child cgroup scenarios: cgroup-scenarios.cjs).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { runMemoryScenario } = require(path.join(process.env.PROCGUARD_ROOT, 'dist/cjs/pressure/scenario.js'));

function result(value) {
  process.stdout.write(`PROCGUARD-RESULT ${JSON.stringify(value)}\n`);
}

async function main() {
  // This orchestrator is the test harness, not a subject: keep the kernel's choice among the agent and its child.
  fs.writeFileSync('/proc/self/oom_score_adj', '-1000');
  result({
    kind: 'environment',
    kernel: os.release(),
    memTotalBytes: os.totalmem(),
    swapTotalKb: Number(/^SwapTotal:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))[1]),
    rootSubtreeControl: fs.readFileSync('/sys/fs/cgroup/cgroup.subtree_control', 'utf8').trim(),
    cgroupV1Mounted: fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup '),
  });
  for (const { name, ...options } of JSON.parse(process.argv[2])) {
    try {
      result({ kind: 'scenario', name, outcome: await runMemoryScenario(options) });
    } catch (err) {
      result({ kind: 'scenario', name, error: String(err && err.stack) });
    }
  }
  if (process.argv[3]) {
    const started = Date.now();
    const code = await new Promise((resolve) => {
      const job = spawn(process.execPath, [process.argv[3]], { stdio: 'inherit' });
      job.on('error', (err) => resolve(String(err)));
      job.on('exit', (c, signal) => resolve(signal ?? c));
    });
    result({ kind: 'follow-up', script: process.argv[3], exit: code, ms: Date.now() - started });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
