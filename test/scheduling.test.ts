// A child's CPU scheduling class and IO priority (issue 13), read back from the kernel while the
// child runs: the policy from /proc/<pid>/sched, the IO priority through ioprio_get (`ionice -p`).
// Per-spawn options, the operator's variables (with their prefix, stripped from the child), the
// defaults (Coder's: nothing changes), and the failure paths: an unprivileged agent under
// SCHED_IDLE asking for a class it may not leave to, and an agent whose ioprio_set a seccomp
// filter refuses, each as a warning or, under strict, a spawn that never ran its command.
import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync as nodeSpawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exec, spawn, spawnSync, status } from 'procguard';
import type { GuardedChildProcess } from 'procguard';
import { runAgent, oneSleeper, onlyChild, warnings } from './helpers/agent';
import { hostCgroups } from './helpers/cgroup';
import { prepareSystem, requireSystem } from './helpers/system';

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;
const SCHED_IDLE = 5;
const ON = { CODER_PROC_PRIO_MGMT: '1' };

function readSchedPolicy(pid: number | 'self'): number {
  return Number(/^policy\s*:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/sched`, 'utf8'))![1]);
}

function readIoPriority(pid: number | 'self'): string {
  return execFileSync('ionice', ['-p', String(pid === 'self' ? process.pid : pid)], { encoding: 'utf8' }).trim();
}

/** Spawns `sleep 30` with `options`, waits for 'spawn', and reads the kernel's view of it. */
async function sleeper(options: Record<string, unknown>): Promise<{ child: GuardedChildProcess; policy: number; io: string }> {
  const child = spawn('sleep', ['30'], options);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  try {
    return { child, policy: readSchedPolicy(child.pid!), io: readIoPriority(child.pid!) };
  } finally {
    child.kill('SIGKILL');
  }
}

describe('schedPolicy and ioPriority per spawn', () => {
  it.each([
    ['other', SCHED_OTHER],
    ['batch', SCHED_BATCH],
    ['idle', SCHED_IDLE],
  ] as const)("schedPolicy '%s' puts the child in policy %i before it runs", async (schedPolicy, number) => {
    const { child, policy } = await sleeper({ schedPolicy });
    expect(policy).toBe(number);
    expect(child.priority.schedPolicy).toBe(schedPolicy);
    expect(child.priority.warnings).toEqual([]);
  });

  it.each([
    [{ class: 'best-effort', level: 0 }, 'best-effort: prio 0', { class: 'best-effort', level: 0 }],
    [{ class: 'best-effort', level: 7 }, 'best-effort: prio 7', { class: 'best-effort', level: 7 }],
    [{ class: 'best-effort' }, 'best-effort: prio 4', { class: 'best-effort', level: 4 }],
    [{ class: 'idle' }, 'idle', { class: 'idle' }],
  ])('ioPriority %j gives ioprio_get %j', async (ioPriority, shown, applied) => {
    const { child, io } = await sleeper({ ioPriority });
    expect(io).toBe(shown);
    expect(child.priority.ioPriority).toEqual(applied);
  });

  it("leaves both as the agent's by default and with 'inherit'", async () => {
    const agentPolicy = readSchedPolicy('self');
    const agentIo = readIoPriority('self');
    for (const options of [{}, { schedPolicy: 'inherit', ioPriority: 'inherit' }]) {
      const { child, policy, io } = await sleeper(options);
      expect(policy).toBe(agentPolicy);
      expect(io).toBe(agentIo);
      expect(child.priority).toMatchObject({ schedPolicy: null, ioPriority: null });
    }
  });

  it('keeps the nice value beside SCHED_BATCH, and sets all four together', async () => {
    const child = spawn('sleep', ['30'], { nice: 7, oomScoreAdj: 600, schedPolicy: 'batch', ioPriority: { class: 'best-effort', level: 6 } });
    await new Promise((resolve) => child.once('spawn', resolve));
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19 - 3]);
    expect({ nice, policy: readSchedPolicy(child.pid!), io: readIoPriority(child.pid!) })
      .toEqual({ nice: 7, policy: SCHED_BATCH, io: 'best-effort: prio 6' });
    expect(child.priority).toEqual({ oomScoreAdj: 600, nice: 7, schedPolicy: 'batch', ioPriority: { class: 'best-effort', level: 6 }, warnings: [] });
    child.kill('SIGKILL');
  });

  it('applies to spawnSync and exec too', async () => {
    // The shell reports its own policy and IO priority: what the command runs with.
    const script = 'grep ^policy /proc/$$/sched; ionice -p $$';
    const r = spawnSync('sh', ['-c', script], { schedPolicy: 'idle', ioPriority: { class: 'idle' }, encoding: 'utf8' });
    expect(r.stdout).toMatch(/^policy\s*:\s*5\nidle\n$/);
    expect(r.priority).toMatchObject({ schedPolicy: 'idle', ioPriority: { class: 'idle' } });
    const out = await new Promise<string>((resolve, reject) =>
      exec(script, { schedPolicy: 'batch', ioPriority: { class: 'best-effort', level: 2 } }, (err, stdout) => (err ? reject(err) : resolve(String(stdout)))));
    expect(out).toMatch(/^policy\s*:\s*3\nbest-effort: prio 2\n$/);
  });

  it('rejects bad values with an error naming the option, the value and what is allowed', () => {
    expect(() => spawn('true', [], { schedPolicy: 'fifo' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/options\.schedPolicy.*'other', 'batch', 'idle' or 'inherit'.*'fifo'/) }));
    expect(() => spawn('true', [], { schedPolicy: 5 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => spawn('true', [], { ioPriority: { class: 'realtime' } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/options\.ioPriority\.class.*'best-effort' or 'idle'.*realtime/) }));
    expect(() => spawn('true', [], { ioPriority: { class: 'best-effort', level: 8 } })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(/options\.ioPriority\.level.*>= 0 && <= 7.*Received 8/) }));
    expect(() => spawn('true', [], { ioPriority: { class: 'idle', level: 3 } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/options\.ioPriority\.level.*no levels/) }));
    expect(() => spawn('true', [], { ioPriority: 'idle' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    // Only own properties count, as with Node's options.
    const inherited = Object.create({ class: 'idle' });
    expect(() => spawn('true', [], { ioPriority: inherited })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('CODER_PROC_SCHED_POLICY and CODER_PROC_IO_PRIORITY (management on)', () => {
  it('apply to every child, are stripped from its environment, and show in status()', async () => {
    const run = await runAgent(oneSleeper(), { env: { ...ON, CODER_PROC_SCHED_POLICY: 'idle', CODER_PROC_IO_PRIORITY: 'best-effort:7' } });
    const child = onlyChild(run);
    expect(child.proc.schedPolicy).toBe(SCHED_IDLE);
    expect(child.proc.ioPriority).toBe('best-effort: prio 7');
    expect(child.priority).toMatchObject({ schedPolicy: 'idle', ioPriority: { class: 'best-effort', level: 7 }, warnings: [] });
    expect(Object.keys(child.proc.environ).filter((k) => k.startsWith('CODER_PROC_'))).toEqual([]);
    expect(run.result.statusBefore.childDefaults).toMatchObject({
      schedPolicy: 'idle', ioPriority: { class: 'best-effort', level: 7 }, source: { schedPolicy: 'env', ioPriority: 'env' },
    });
    expect(run.result.statusBefore.env).toMatchObject({ CODER_PROC_SCHED_POLICY: 'idle', CODER_PROC_IO_PRIORITY: 'best-effort:7' });
  });

  it.each([
    ['batch', 'idle', SCHED_BATCH, 'idle'],
    ['SCHED_IDLE', 'best-effort', SCHED_IDLE, 'best-effort: prio 4'],
    ['other', 'best-effort:0', SCHED_OTHER, 'best-effort: prio 0'],
  ])('%s / %s', async (sched, io, policy, shown) => {
    const run = await runAgent(oneSleeper(), { env: { ...ON, CODER_PROC_SCHED_POLICY: sched, CODER_PROC_IO_PRIORITY: io } });
    expect(onlyChild(run).proc).toMatchObject({ schedPolicy: policy, ioPriority: shown });
  });

  it("change nothing by default, as Coder's agent: status() says the child inherits", async () => {
    const run = await runAgent(oneSleeper(), { env: ON });
    const child = onlyChild(run);
    expect(child.proc.schedPolicy).toBe(run.result.self.schedPolicy);
    expect(child.proc.ioPriority).toBe(run.result.self.ioPriority);
    expect(child.priority).toMatchObject({ schedPolicy: null, ioPriority: null });
    expect(run.result.statusBefore.childDefaults).toMatchObject({
      schedPolicy: null, ioPriority: null, source: { schedPolicy: 'default', ioPriority: 'default' },
    });
  });

  it('are not applied with management off, but still stripped', async () => {
    const run = await runAgent(oneSleeper(), { env: { CODER_PROC_SCHED_POLICY: 'idle', CODER_PROC_IO_PRIORITY: 'idle' } });
    const child = onlyChild(run);
    expect(child.proc.schedPolicy).toBe(run.result.self.schedPolicy);
    expect(child.proc.ioPriority).toBe(run.result.self.ioPriority);
    expect(Object.keys(child.proc.environ).filter((k) => k.startsWith('CODER_PROC_'))).toEqual([]);
  });

  it('give way to a per-spawn option, including inherit', async () => {
    const env = { ...ON, CODER_PROC_SCHED_POLICY: 'idle', CODER_PROC_IO_PRIORITY: 'idle' };
    const run = await runAgent({
      spawns: [
        { command: 'sleep', args: ['30'], options: { schedPolicy: 'batch', ioPriority: { class: 'best-effort', level: 1 } } },
        { command: 'sleep', args: ['30'], options: { schedPolicy: 'inherit', ioPriority: 'inherit' } },
      ],
    }, { env });
    const [given, inherited] = run.result.spawns;
    expect(given.proc).toMatchObject({ schedPolicy: SCHED_BATCH, ioPriority: 'best-effort: prio 1' });
    expect(inherited.proc).toMatchObject({ schedPolicy: SCHED_OTHER, ioPriority: run.result.self.ioPriority });
  });

  it('follow the configured prefix', async () => {
    const run = await runAgent(oneSleeper({}, { configure: { envPrefix: 'MYAGENT_' } }), {
      env: { MYAGENT_PRIO_MGMT: '1', MYAGENT_SCHED_POLICY: 'batch', MYAGENT_IO_PRIORITY: 'idle', CODER_PROC_SCHED_POLICY: 'idle' },
    });
    const child = onlyChild(run);
    expect(child.proc).toMatchObject({ schedPolicy: SCHED_BATCH, ioPriority: 'idle' });
    expect(Object.keys(child.proc.environ).filter((k) => k.startsWith('MYAGENT_'))).toEqual([]);
  });

  it('with a bad value: one clear warning per value, and the default', async () => {
    const run = await runAgent({
      spawns: [
        { command: 'sleep', args: ['30'] },
        { command: 'sleep', args: ['30'] },
      ],
    }, { env: { ...ON, CODER_PROC_SCHED_POLICY: 'fifo', CODER_PROC_IO_PRIORITY: 'best-effort:9' } });
    for (const s of run.result.spawns) {
      expect(s.proc).toMatchObject({ schedPolicy: SCHED_OTHER, ioPriority: run.result.self.ioPriority });
      expect(s.priority).toMatchObject({ schedPolicy: null, ioPriority: null });
    }
    // once to the logger and once as a process warning with its code, per variable
    for (const [name, value, allowed] of [
      ['CODER_PROC_SCHED_POLICY', 'fifo', "must be 'other', 'batch', 'idle' or 'inherit'"],
      ['CODER_PROC_IO_PRIORITY', 'best-effort:9', "must be 'best-effort', 'best-effort:N' (N from 0, highest, to 7), 'idle' or 'inherit'"],
    ]) {
      const line = `ignoring ${name}=${JSON.stringify(value)}: ${allowed}; using the default`;
      const logged = run.result.logs.filter((l) => l.level === 'warn' && l.message.includes(name));
      expect(logged, JSON.stringify(warnings(run))).toHaveLength(1);
      expect(logged[0]).toMatchObject({ code: 'PROCGUARD_INVALID_VARIABLE', message: expect.stringContaining(line) });
      const emitted = run.stderr.split('\n').filter((l) => l.includes(name));
      expect(emitted).toHaveLength(1);
      expect(emitted[0]).toContain(`[PROCGUARD_INVALID_VARIABLE] Warning: procguard: ${line}`);
    }
  });
});

describe('status()', () => {
  it("shows the agent's own class and the children's defaults", () => {
    const s = status();
    expect(s.agent.schedPolicy).toBe('SCHED_OTHER');
    expect(s.childDefaults).toMatchObject({ schedPolicy: null, ioPriority: null });
  });
});

const sys = prepareSystem();
const reason = sys.available ? '' : ` (skipped: ${sys.reason})`;

function marker(name: string): string {
  const file = path.join(requireSystem().workDir, `${name}-${process.pid}-${Date.now()}`);
  fs.rmSync(file, { force: true });
  return file;
}

describe.skipIf(!sys.available)(`what the kernel refuses${reason}`, () => {
  const user = () => ({ uid: requireSystem().uid, gid: requireSystem().gid });

  it('an unprivileged agent under SCHED_IDLE asking for SCHED_OTHER: a warning, and the child runs idle', async () => {
    const run = await runAgent(oneSleeper({ schedPolicy: 'other', ioPriority: { class: 'idle' } }), { ...user(), schedPolicy: 'idle', env: {} });
    expect(run.result.self.schedPolicy).toBe(SCHED_IDLE);
    const child = onlyChild(run);
    expect(child.proc.schedPolicy).toBe(SCHED_IDLE); // left as inherited
    expect(child.proc.ioPriority).toBe('idle'); // the other step still applied
    expect(child.priority).toMatchObject({ schedPolicy: null, ioPriority: { class: 'idle' } });
    expect(child.priority?.warnings).toHaveLength(1);
    expect(child.priority!.warnings[0]).toMatch(
      /^failed to adjust scheduling policy to SCHED_OTHER for "sleep 30": EPERM; the agent runs under SCHED_IDLE, which its children inherit, and leaving it needs CAP_SYS_NICE/);
    const logged = run.result.logs.filter((l) => l.level === 'warn' && /scheduling policy/.test(l.message));
    expect(logged).toHaveLength(1);
  });

  it('the same under strict: spawn throws EPERM (as Node does for EPERM) with the reason, and the command never runs', async () => {
    const file = marker('sched-strict');
    const run = await runAgent({
      spawns: [{ command: 'sh', args: ['-c', `touch ${file}`], options: { schedPolicy: 'batch', strict: true }, marker: file }],
    }, { ...user(), schedPolicy: 'idle', env: {} });
    const s = run.result.spawns[0];
    expect(s.thrown, JSON.stringify(s)).toMatchObject({ code: 'EPERM', syscall: 'spawn', step: 'sched_setscheduler' });
    expect(String(s.thrown?.message)).toMatch(/^spawn EPERM \(strict: failed to adjust scheduling policy to SCHED_BATCH for "sh -c touch .*": EPERM; the agent runs under SCHED_IDLE.*; the command did not run\)$/);
    expect(s.thrown?.priority).toMatchObject({ schedPolicy: null });
    expect(s.events).toEqual([]);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('ioprio_set refused by a seccomp filter: a warning, or under strict a spawn that never ran', async () => {
    const file = marker('ioprio-strict');
    const run = await runAgent({
      spawns: [
        { command: 'sleep', args: ['30'], options: { ioPriority: { class: 'idle' }, schedPolicy: 'batch' } },
        { command: 'sh', args: ['-c', `touch ${file}`], options: { ioPriority: { class: 'best-effort', level: 7 }, strict: true }, marker: file },
      ],
    }, { ...user(), denySyscalls: ['ioprio_set'], env: {} });
    const [warned, refused] = run.result.spawns;
    expect(warned.started).toBe('spawn');
    expect(warned.proc?.ioPriority).toBe(run.result.self.ioPriority);
    expect(warned.proc?.schedPolicy).toBe(SCHED_BATCH);
    expect(warned.priority).toMatchObject({ schedPolicy: 'batch', ioPriority: null });
    expect(warned.priority!.warnings).toEqual([
      'failed to adjust IO priority to idle for "sleep 30": EPERM; a seccomp filter or security module refused ioprio_set',
    ]);
    expect(refused.thrown).toMatchObject({ code: 'EPERM', step: 'ioprio_set' });
    expect(String(refused.thrown?.message)).toMatch(/strict: failed to adjust IO priority to best-effort:7 .*the command did not run/);
    expect(refused.events).toEqual([]);
    expect(fs.existsSync(file)).toBe(false);
  });

});

describe('procguard run --sched-policy / --io-priority', () => {
  const CLI = path.join(__dirname, '..', 'dist', 'cjs', 'cli', 'main.js');
  const cli = (args: string[]) => nodeSpawnSync(process.execPath, [CLI, 'run', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('runs the command in that class and IO priority, and says so in its report', () => {
    const r = cli(['--sched-policy', 'idle', '--io-priority', 'best-effort:6', '--', 'sh', '-c', 'grep ^policy /proc/$$/sched; ionice -p $$']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^policy\s*:\s*5\nbest-effort: prio 6\n$/);
    expect(r.stderr).toContain('scheduling policy SCHED_IDLE, IO priority best-effort:6');
  });

  it('refuses a bad value with usage, exit 2', () => {
    const r = cli(['--io-priority', 'realtime', '--', 'true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--io-priority must be 'best-effort', 'best-effort:N' .* not "realtime"/);
  });
});

describe('cgroup ioWeight, beside cpuWeight', () => {
  /** The child's directory in the v1 blkio hierarchy (this host's io controller). */
  function ioCgroupDir(pid: number): string {
    const dir = hostCgroups(pid).v1.get('blkio');
    if (!dir) throw new Error(`no blkio hierarchy for ${pid}`);
    return dir;
  }

  it('writes the weight into the child\'s own io cgroup, which it joined before exec', async () => {
    const child = spawn('sleep', ['30'], { cgroup: { ioWeight: 300, cpuWeight: 50 } });
    await new Promise((resolve) => child.once('spawn', resolve));
    try {
      const dir = ioCgroupDir(child.pid!);
      expect(path.basename(dir)).toMatch(/^procguard-\d+-\d+$/);
      expect(child.cgroup!.ioWeight).toEqual({ file: expect.stringMatching(/^\/sys\/fs\/cgroup\/(blkio|unified|.*)\/.*weight$/), value: 300 });
      const written = (child.cgroup!.ioWeight as { file: string }).file;
      expect(path.dirname(written)).toBe(dir);
      expect(fs.readFileSync(written, 'utf8')).toMatch(/(^|default )300\n/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('fits the weight into the range of the file it writes (BFQ takes 1..1000)', async () => {
    const child = spawn('sleep', ['30'], { cgroup: { ioWeight: 5000 } });
    await new Promise((resolve) => child.once('spawn', resolve));
    const outcome = child.cgroup!.ioWeight as { file: string; value: number };
    expect(outcome.value).toBe(/bfq\.weight$/.test(outcome.file) ? 1000 : 5000);
    child.kill('SIGKILL');
  });

  it('rejects a weight out of 1..10000, naming the option', () => {
    expect(() => spawn('true', [], { cgroup: { ioWeight: 0 } })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('options.cgroup.ioWeight') }));
  });

  it('without an io/blkio controller: the child still gets its cgroup, and one warning says the weight was not applied', async () => {
    const run = await runAgent({
      spawns: [
        { command: 'sleep', args: ['30'], options: { cgroup: { ioWeight: 200, memoryMax: '64M' } } },
        { command: 'sleep', args: ['30'], options: { cgroup: { ioWeight: 200 } } },
      ],
    }, { unmount: ['/sys/fs/cgroup/blkio'], env: {} });
    for (const s of run.result.spawns) expect(s.started, JSON.stringify(s)).toBe('spawn');
    const warned = run.result.logs.filter((l) => l.level === 'warn' && l.message.includes('ioWeight'));
    expect(warned, JSON.stringify(run.result.logs)).toHaveLength(1);
    expect(warned[0]).toMatchObject({
      code: 'PROCGUARD_CGROUP_IO_WEIGHT_UNAVAILABLE',
      message: expect.stringContaining('cgroup ioWeight not applied: no io (cgroup v2) or blkio (cgroup v1) controller is available for the child'),
    });
  });
});
