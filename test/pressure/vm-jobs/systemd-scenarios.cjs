// VM job under systemd 257 (PID 1): the agent (test/fixtures/cgroup-agent.cjs) as a service, once
// in a unit that delegates its cgroup to it, once in one that does not. Each unit is written to
// /run/systemd/system, started with `systemctl start --wait`, and its agent's report read back;
// one `PROCGUARD-RESULT {"kind":"unit",...}` per unit.
//
// argv[2]: JSON [{ name, directives: string[], plan }]
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const HERE = __dirname;

function runUnit({ name, directives, plan }) {
  const planFile = `/run/${name}.plan.json`;
  const outFile = `/run/${name}.out`;
  fs.writeFileSync(planFile, JSON.stringify(plan));
  const unit = [
    '[Service]',
    'Type=exec',
    `ExecStart=/bin/node ${path.join(HERE, 'cgroup-agent.cjs')} @${planFile}`,
    `StandardOutput=file:${outFile}`,
    'StandardError=journal',
    'Environment=PROCGUARD_ROOT=/project CODER_PROC_PRIO_MGMT=1 PATH=/usr/bin:/bin',
    ...directives,
    '',
  ].join('\n');
  fs.writeFileSync(`/run/systemd/system/${name}.service`, unit);
  execFileSync('systemctl', ['daemon-reload']);
  const started = Date.now();
  let failure = null;
  try {
    // No D-Bus in this minimal root: systemctl talks to PID 1 over its private socket, where
    // `start --wait` is not offered; start, then poll until the unit is done.
    execFileSync('systemctl', ['start', `${name}.service`], { stdio: 'pipe' });
    for (;;) {
      const state = execFileSync('systemctl', ['show', `${name}.service`, '-p', 'ActiveState', '--value'], { encoding: 'utf8' }).trim();
      if (state === 'inactive' || state === 'failed') break;
      if (Date.now() - started > 120_000) throw new Error(`${name}.service still ${state} after 120 s`);
      execFileSync('sleep', ['0.2']);
    }
  } catch (err) {
    failure = String(err.stderr || err.message);
  }
  const stdout = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : '';
  const line = stdout.split('\n').find((l) => l.startsWith('CGROUP_AGENT '));
  const show = execFileSync('systemctl', ['show', `${name}.service`, '-p', 'Delegate,DelegateSubgroup,MemoryMax,MemoryHigh,MemorySwapMax,OOMPolicy,MemoryPressureWatch,ControlGroup,Result'], { encoding: 'utf8' });
  const unitCgroup = `/sys/fs/cgroup/system.slice/${name}.service`;
  return {
    kind: 'unit',
    name,
    ms: Date.now() - started,
    failure,
    unit,
    show,
    agent: line ? JSON.parse(line.slice('CGROUP_AGENT '.length)) : null,
    stdout: line ? undefined : stdout.slice(-3000),
    journal: execFileSync('journalctl', ['-u', `${name}.service`, '-o', 'cat', '--no-pager'], { encoding: 'utf8' }).slice(-3000),
    unitCgroupGone: !fs.existsSync(unitCgroup),
  };
}

function main() {
  process.stdout.write(`PROCGUARD-RESULT ${JSON.stringify({ kind: 'systemd', version: execFileSync('systemctl', ['--version'], { encoding: 'utf8' }).split('\n')[0] })}\n`);
  for (const unit of JSON.parse(process.argv[2])) {
    let result;
    try {
      result = runUnit(unit);
    } catch (err) {
      result = { kind: 'unit', name: unit.name, error: err.stack };
    }
    process.stdout.write(`PROCGUARD-RESULT ${JSON.stringify(result)}\n`);
  }
}

main();
