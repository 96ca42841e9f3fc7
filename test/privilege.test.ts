// Agents without privileges: an unprivileged user's agent that asks for a lower nice (needs
// CAP_SYS_NICE) or a negative oom_score_adj (needs CAP_SYS_RESOURCE), and a non-dumpable agent
// (a node copy with a file capability run by that user: its /proc/self files belong to root, so
// the usual write to the child's /proc/self/oom_score_adj under a shared address space would fail).
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepareSystem } from './helpers/system';
import { runAgent, oneSleeper, onlyChild, type SpawnOutcome } from './helpers/agent';

const sys = prepareSystem();
const reason = sys.available ? '' : ` (skipped: ${sys.reason})`;

function marker(name: string): string {
  if (!sys.available) throw new Error('no test system');
  const file = path.join(sys.workDir, `${name}-${process.pid}-${Date.now()}`);
  fs.rmSync(file, { force: true });
  return file;
}

function expectNeverRan(s: SpawnOutcome, codes: string[]): void {
  expect(s.started).toBe('error');
  expect(s.events).not.toContain('spawn');
  expect(s.events).not.toContain('exit');
  expect(codes).toContain(s.error?.code);
  expect(s.markerExists).toBe(false);
}

describe.skipIf(!sys.available)(`an unprivileged agent${reason}`, () => {
  const user = sys.available ? { uid: sys.uid, gid: sys.gid } : {};

  it('runs as the test user without CAP_SYS_NICE nor CAP_SYS_RESOURCE', async () => {
    const run = await runAgent(oneSleeper(), { ...user, nice: 5, env: {} });
    expect(run.result.self.uid).toBe(sys.available && sys.uid);
    expect(BigInt('0x' + run.result.self.capEff)).toBe(0n);
    expect(run.result.self.nice).toBe(5);
  });

  it('warns "failed to adjust niceness" and still runs the child when it asks for a nice below its own', async () => {
    const run = await runAgent(oneSleeper(), {
      ...user,
      nice: 5,
      oomScoreAdj: 0,
      env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_NICE_SCORE: '0' },
    });
    const child = onlyChild(run);
    expect(child.proc.nice).toBe(5); // left as inherited
    expect(child.proc.oomScoreAdj).toBe(998); // the other step still applied
    expect(child.priority?.nice).toBeNull();
    expect(child.priority?.oomScoreAdj).toBe(998);
    expect(child.priority?.warnings).toHaveLength(1);
    const warning = child.priority!.warnings[0];
    expect(warning).toMatch(/failed to adjust niceness/);
    expect(warning).toMatch(/EACCES|EPERM/);
    expect(warning).toContain('sleep');
    const logged = run.result.logs.filter((l) => l.level === 'warn' && /failed to adjust niceness/.test(`${l.message} ${JSON.stringify(l.fields)}`));
    expect(logged, JSON.stringify(run.result.logs)).toHaveLength(1);
    expect(logged[0].code).toBe('PROCGUARD_PRIORITY_NOT_APPLIED');
    // And once as a process warning (the logger is in addition to it, not instead).
    expect(run.stderr.match(/\[PROCGUARD_PRIORITY_NOT_APPLIED\] Warning: procguard: failed to adjust niceness/g)).toHaveLength(1);
  });

  it('warns through process.emitWarning, with its code, when no logger is configured; --no-warnings silences it', async () => {
    const run = await runAgent({ ...oneSleeper({ nice: 0 }), captureLogs: false }, { ...user, nice: 5, env: {} });
    expect(onlyChild(run).proc.nice).toBe(5);
    expect(run.stderr).toMatch(/^\(node:\d+\) \[PROCGUARD_PRIORITY_NOT_APPLIED\] Warning: procguard: failed to adjust niceness to 0 for children: (EACCES|EPERM)/m);
    const quiet = await runAgent({ ...oneSleeper({ nice: 0 }), captureLogs: false }, { ...user, nice: 5, env: { NODE_NO_WARNINGS: '1' } });
    expect(onlyChild(quiet).priority?.warnings[0]).toMatch(/failed to adjust niceness/);
    expect(quiet.stderr).toBe('');
  });

  it("writes the warning to the agent's stderr, never into the child's output", async () => {
    const run = await runAgent(
      { captureLogs: false, spawns: [{ command: 'sh', args: ['-c', 'echo child-out; echo child-err >&2'], options: { nice: 0 }, read: false, waitExit: true }] },
      { ...user, nice: 5, env: {} },
    );
    const s = run.result.spawns[0];
    expect(s.events).toEqual(['spawn', 'exit', 'close']);
    expect(s.stdout).toBe('child-out\n');
    expect(s.stderr).toBe('child-err\n');
    expect(run.stderr).toMatch(/failed to adjust niceness/);
  });

  it('fails the spawn with strict: true when the nice step is refused, and the command never runs', async () => {
    const file = marker('strict-nice');
    const run = await runAgent(
      { spawns: [{ command: 'sh', args: ['-c', `touch ${file}`], options: { nice: 0, strict: true }, marker: file }] },
      { ...user, nice: 5, env: {} },
    );
    expectNeverRan(run.result.spawns[0], ['EACCES', 'EPERM']);
    expect(fs.existsSync(file)).toBe(false);
    expect(run.result.zombies).toEqual([]); // the child that gave up before exec was reaped
  });

  it('warns "failed to adjust oom score" with EACCES and still runs the child when it asks for a negative score', async () => {
    const run = await runAgent(oneSleeper(), {
      ...user,
      oomScoreAdj: 0,
      env: { CODER_PROC_PRIO_MGMT: '1', CODER_PROC_OOM_SCORE: '-500' },
    });
    const child = onlyChild(run);
    expect(child.proc.oomScoreAdj).toBe(0);
    expect(child.priority?.oomScoreAdj).toBeNull();
    expect(child.priority?.warnings).toHaveLength(1);
    expect(child.priority!.warnings[0]).toMatch(/failed to adjust oom score/);
    expect(child.priority!.warnings[0]).toContain('-500');
    expect(child.priority!.warnings[0]).toContain('EACCES');
  });

  it('fails the spawn with strict: true when the oom score step is refused, and the command never runs', async () => {
    const file = marker('strict-oom');
    const run = await runAgent(
      { spawns: [{ command: 'sh', args: ['-c', `touch ${file}`], options: { oomScoreAdj: -500, strict: true }, marker: file }] },
      { ...user, oomScoreAdj: 0, env: {} },
    );
    expectNeverRan(run.result.spawns[0], ['EACCES']);
    expect(run.result.zombies).toEqual([]);
  });

  it('runs a command that creates the marker when strict: true and every step succeeds (the marker proof works)', async () => {
    const file = marker('strict-ok');
    const run = await runAgent(
      { spawns: [{ command: 'sh', args: ['-c', `touch ${file}`], options: { nice: 7, oomScoreAdj: 900, strict: true }, marker: file, read: false, waitExit: true }] },
      { ...user, nice: 5, oomScoreAdj: 0, env: {} },
    );
    const s = run.result.spawns[0];
    expect(s.events).toEqual(['spawn', 'exit', 'close']);
    expect(s.markerExists).toBe(true);
    fs.rmSync(file, { force: true });
  });
});

describe.skipIf(!sys.available)(`a non-dumpable agent (file-capability node run by an unprivileged user)${reason}`, () => {
  it('is non-dumpable, and its child still gets oom_score_adj 998 and nice + 5', async () => {
    if (!sys.available) return;
    const run = await runAgent(oneSleeper(), {
      uid: sys.uid,
      gid: sys.gid,
      node: sys.capNode,
      oomScoreAdj: 0,
      nice: 0,
      env: { CODER_PROC_PRIO_MGMT: '1' },
    });
    // Non-dumpable: the kernel makes its /proc/<pid>/* files belong to root although it runs as the user.
    expect(run.result.self.uid).toBe(sys.uid);
    expect(run.result.self.procOwner).toBe(0);
    expect(run.result.statusBefore.agent.dumpable).toBe(0);
    const child = onlyChild(run);
    expect(child.proc.oomScoreAdj).toBe(998);
    expect(child.proc.nice).toBe(5);
    expect(child.priority).toEqual({ oomScoreAdj: 998, nice: 5, schedPolicy: null, ioPriority: null, warnings: [] });
    expect(child.proc.uid.split(/\s+/).map(Number)).toEqual([sys.uid, sys.uid, sys.uid, sys.uid]);
  });

  it('gives the child of a non-dumpable agent the per-spawn values, and strict: true succeeds', async () => {
    if (!sys.available) return;
    const run = await runAgent(oneSleeper({ oomScoreAdj: 1000, nice: 12, strict: true }), {
      uid: sys.uid,
      gid: sys.gid,
      node: sys.capNode,
      oomScoreAdj: 0,
      nice: 0,
      env: {},
    });
    expect(run.result.self.procOwner).toBe(0);
    expect(onlyChild(run).proc).toMatchObject({ oomScoreAdj: 1000, nice: 12 });
  });
});

describe.skipIf(!sys.available)(`spawning with uid/gid${reason}`, () => {
  it('runs the child as the given user and still applies its oom score and nice', async () => {
    if (!sys.available) return;
    const run = await runAgent(oneSleeper({ uid: sys.uid, gid: sys.gid }), { oomScoreAdj: 0, nice: 0, env: { CODER_PROC_PRIO_MGMT: '1' } });
    expect(run.result.self.uid).toBe(0);
    const child = onlyChild(run);
    expect(child.proc.uid.split(/\s+/).map(Number)).toEqual([sys.uid, sys.uid, sys.uid, sys.uid]);
    expect(child.proc.gid.split(/\s+/).map(Number)).toEqual([sys.gid, sys.gid, sys.gid, sys.gid]);
    expect(child.proc).toMatchObject({ oomScoreAdj: 998, nice: 5 });
  });

  it('applies a nice below the agent\'s (root has CAP_SYS_NICE) to a child that then drops to the user', async () => {
    if (!sys.available) return;
    const run = await runAgent(oneSleeper({ uid: sys.uid, gid: sys.gid, nice: -3, oomScoreAdj: 600 }), { oomScoreAdj: 0, nice: 0, env: {} });
    expect(onlyChild(run).proc).toMatchObject({ oomScoreAdj: 600, nice: -3 });
  });
});
