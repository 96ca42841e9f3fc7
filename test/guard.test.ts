// The guard on this machine's kernel: an agent in a 400 MiB memory cgroup (cgroup v1 here, the
// hybrid host; v2 where that is what the host has) with the guard running, and children that
// grow. The guard must act before the kernel has to: the cgroup's oom_kill stays 0.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BALLOON, MB, runCgroupAgent } from './helpers/cgroup';
import { FIXTURES } from './helpers/agent';
import { memoryCgroupMissing, requireOrSkip } from './pressure/requirements';
import { REPO, runNode } from './helpers/run-node';

const GUARD_AGENT = path.join(FIXTURES, 'guard-agent.cjs');
const LIMIT = 400 * MB;

interface GuardAgentChild {
  name: string;
  module: string;
  pid: number;
  code: number | null;
  signal: string | null;
  oomKill: { cause: string; trigger?: string; signal?: string; evidence: string[] } | null;
  aliveAtEnd: boolean;
  lines: string[];
}

interface GuardAgentResult {
  pid: number;
  events: (Record<string, any> & { type: string; at: number })[];
  children: GuardAgentChild[];
  counters: { failcnt?: number; oomKill?: number; maxUsage?: number };
  logs: { message: string; fields?: Record<string, unknown> }[];
  guardStatus: Record<string, any> | null;
}

/** A balloon child: grows 8 MB at a time to `touchMb` (then holds), or until it is killed. */
function balloon(name: string, plan: { touchMb?: number; holdMs?: number }, options: Record<string, unknown> = {}, module = 'procguard') {
  return { name, module, command: process.execPath, args: [BALLOON, JSON.stringify(plan)], options, ready: plan.touchMb && plan.holdMs ? 'BALLOON {"event":"done"' : 'BALLOON {"event":"started"' };
}

async function runAgent(plan: Record<string, unknown>): Promise<GuardAgentResult> {
  const run = await runCgroupAgent(plan, { memoryLimitBytes: LIMIT, script: GUARD_AGENT, timeoutMs: 90_000 });
  return run.result as unknown as GuardAgentResult;
}

const kills = (r: GuardAgentResult) => r.events.filter((e) => e.type === 'kill');
const facts = (r: GuardAgentResult) => JSON.stringify({ ...r, logs: r.logs.slice(-20) }, null, 1).slice(0, 6000);

describe('the guard in a 400 MiB memory cgroup on this machine', () => {
  let missing: string | null = null;
  beforeAll(async () => {
    missing = await memoryCgroupMissing();
  });

  it('kills a ballooning child before the limit: SIGTERM, oomKill says procguard-guard / headroom, the kernel never had to (oom_kill 0)', async (context) => {
    requireOrSkip(context, missing);
    const r = await runAgent({ guard: {}, children: [balloon('balloon', {})] });
    const [child] = r.children;
    expect(child.signal, facts(r)).toMatch(/^SIG(TERM|KILL)$/);
    expect(child.oomKill, facts(r)).toMatchObject({ cause: 'procguard-guard', trigger: 'headroom' });
    expect(child.oomKill!.evidence.join('\n')).toMatch(/memory\.usage_in_bytes|memory\.current/);
    const [first] = kills(r);
    expect(first, facts(r)).toMatchObject({ pid: child.pid, trigger: 'headroom', dryRun: false, policy: 'normal' });
    expect(first.signal).toBe('SIGTERM'); // the soft threshold first: the child gets its grace
    expect(r.counters.oomKill, facts(r)).toBe(0);
    expect(r.counters.maxUsage!, facts(r)).toBeLessThan(LIMIT);
    // One log line for the kill.
    expect(r.logs.filter((l) => l.message === 'guard killed a child').length).toBeGreaterThanOrEqual(1);
  });

  it("watches a spawnSync child too: the agent's JavaScript is blocked in the call, the guard's thread is not", async (context) => {
    requireOrSkip(context, missing);
    const r = await runAgent({ guard: {}, children: [{ ...balloon('sync-balloon', {}), sync: true }] });
    const [child] = r.children;
    expect(child.signal, facts(r)).toMatch(/^SIG(TERM|KILL)$/);
    expect(child.oomKill, facts(r)).toMatchObject({ cause: 'procguard-guard', trigger: 'headroom' });
    expect(kills(r)[0], facts(r)).toMatchObject({ pid: child.pid, trigger: 'headroom', dryRun: false });
    expect(r.counters.oomKill, facts(r)).toBe(0);
  });

  it("never kills a 'never' child: with a smaller 'normal' child beside it, the smaller one is the victim", async (context) => {
    requireOrSkip(context, missing);
    const r = await runAgent({
      guard: { cooldownMs: 60_000 },
      children: [
        balloon('small', { touchMb: 48, holdMs: 60_000 }),
        balloon('never', { touchMb: 272, holdMs: 60_000 }, { guard: 'never' }),
      ],
      afterFirstKillMs: 1500,
      maxMs: 30_000,
    });
    const [small, never] = r.children;
    expect(kills(r).map((k) => k.pid), facts(r)).toEqual([small.pid]);
    expect(small.oomKill, facts(r)).toMatchObject({ cause: 'procguard-guard', trigger: 'headroom' });
    expect(never.aliveAtEnd, facts(r)).toBe(true);
    expect(r.counters.oomKill, facts(r)).toBe(0);
  });

  it('never kills a process procguard did not start: a bigger node:child_process child lives, the procguard child goes', async (context) => {
    requireOrSkip(context, missing);
    const r = await runAgent({
      guard: { cooldownMs: 60_000 },
      children: [
        balloon('plain', { touchMb: 200, holdMs: 60_000 }, {}, 'node:child_process'),
        balloon('guarded', { touchMb: 120, holdMs: 60_000 }),
      ],
      afterFirstKillMs: 1500,
      maxMs: 30_000,
    });
    const [plain, guarded] = r.children;
    expect(kills(r).map((k) => k.pid), facts(r)).toEqual([guarded.pid]);
    expect(plain.aliveAtEnd, facts(r)).toBe(true);
    expect(guarded.signal, facts(r)).toMatch(/^SIG(TERM|KILL)$/);
  });

  it("reclaims first: a child near its own cap with clean page cache is reclaimed, not killed, and its usage drops", async (context) => {
    requireOrSkip(context, missing);
    // Read through once by the child only (fallocate: no page of it is cached yet), so the page
    // cache is charged to the child's own cgroup.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-reclaim-'));
    const file = path.join(dir, 'big');
    try {
      execFileSync('fallocate', ['-l', String(400 * MB), file]);
      const r = await runAgent({
        guard: {},
        children: [{
          name: 'reader',
          command: '/bin/sh',
          args: ['-c', `cat ${file} > /dev/null; echo READ; exec sleep 30`],
          options: { cgroup: { memoryMax: '256M' } },
          ready: 'READ',
        }],
        endAfterMs: 3000,
        maxMs: 30_000,
      });
      const [reader] = r.children;
      const reclaims = r.events.filter((e) => e.type === 'reclaim');
      expect(reclaims.length, facts(r)).toBeGreaterThanOrEqual(1);
      expect(reclaims[0], facts(r)).toMatchObject({ pid: reader.pid, trigger: 'child cap', dryRun: false, error: null });
      expect(reclaims[0].beforeBytes).toBeGreaterThan(200 * MB);
      expect(reclaims[0].afterBytes, facts(r)).toBeLessThan(reclaims[0].beforeBytes / 2);
      expect(kills(r), facts(r)).toEqual([]);
      expect(reader.aliveAtEnd, facts(r)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dryRun: the event names the child it would kill, and nothing is killed', async (context) => {
    requireOrSkip(context, missing);
    const r = await runAgent({
      guard: { dryRun: true },
      children: [balloon('balloon', { touchMb: 336, holdMs: 60_000 })],
      afterFirstKillMs: 500,
      maxMs: 30_000,
    });
    const [child] = r.children;
    const [first] = kills(r);
    expect(first, facts(r)).toMatchObject({ pid: child.pid, dryRun: true, trigger: 'headroom' });
    expect(first.evidence.join('\n')).toContain('dry run');
    expect(child.aliveAtEnd, facts(r)).toBe(true);
    expect(r.logs.some((l) => l.message === 'guard would kill a child (dry run)')).toBe(true);
  });
});

describe('guard(): the API', () => {
  it('is idempotent, unref\'d (the process exits with it running), and stop() ends it', () => {
    const run = runNode(`
      const pg = require('procguard');
      const a = pg.guard();
      const b = pg.guard();
      const s = pg.status().guard;
      console.log(JSON.stringify({ same: a === b, emitter: typeof a.on === 'function', running: s.running, watches: s.watches.map((w) => w.what) }));
      a.stop();
      console.log(JSON.stringify({ after: pg.status().guard.running, again: pg.guard() !== a }));
    `);
    expect(run.status, run.stderr).toBe(0);
    const [first, second] = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(first).toEqual({ same: true, emitter: true, running: true, watches: expect.arrayContaining(['MemAvailable']) });
    expect(second).toEqual({ after: false, again: true });
  });

  it('worker threads share the one guard of the process; a worker ending leaves it running', () => {
    const run = runNode(`
      const { Worker } = require('node:worker_threads');
      const pg = require('procguard');
      const g = pg.guard();
      const w = new Worker("const pg = require('procguard'); const g = pg.guard(); require('node:worker_threads').parentPort.postMessage({ running: g.snapshot().running, tid: g.snapshot().tid });", { eval: true });
      w.on('message', (m) => {
        w.on('exit', () => console.log(JSON.stringify({ worker: m, mainTid: g.snapshot().tid, stillRunning: g.snapshot().running })));
      });
    `);
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.worker.running).toBe(true);
    expect(out.worker.tid).toBe(out.mainTid); // one thread for both
    expect(out.stillRunning).toBe(true);
  });

  it('a bad option is an ERR_OUT_OF_RANGE / ERR_INVALID_ARG_VALUE naming it', () => {
    const run = runNode(`
      const pg = require('procguard');
      const codes = [];
      for (const o of [{ graceMs: -1 }, { headroom: '150%' }, { headroom: 'lots' }, { stallWindowMs: 100 }, { dryRun: 'yes' }]) {
        try { pg.guard(o); codes.push('none'); } catch (e) { codes.push(e.code + ' ' + e.message); }
      }
      try { pg.spawn('true', [], { guard: 'sometimes' }); } catch (e) { codes.push(e.code + ' ' + e.message); }
      console.log(JSON.stringify(codes));
    `);
    const codes = JSON.parse(run.stdout);
    expect(codes[0]).toMatch(/^ERR_OUT_OF_RANGE .*"options\.graceMs"/);
    expect(codes[1]).toMatch(/^ERR_OUT_OF_RANGE .*"options\.headroom"/);
    expect(codes[2]).toMatch(/^ERR_INVALID_ARG_VALUE .*'options\.headroom'/);
    expect(codes[3]).toMatch(/^ERR_OUT_OF_RANGE .*"options\.stallWindowMs".*>= 500/);
    expect(codes[4]).toMatch(/^ERR_INVALID_ARG_TYPE .*"options\.dryRun"/);
    expect(codes[5]).toMatch(/^ERR_INVALID_ARG_VALUE The property 'options\.guard' must be one of 'prefer', 'normal', 'avoid', 'never'\. Received 'sometimes'/);
  });

  it('CODER_PROC_GUARD (with the configured prefix) starts it at the first spawn, and never reaches the child', () => {
    const run = runNode(`
      const pg = require('procguard');
      const before = pg.status().guard.running;
      const child = pg.spawn('sh', ['-c', 'echo "$CODER_PROC_GUARD|$MYAGENT_GUARD"'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('close', () => console.log(JSON.stringify({ before, after: pg.status().guard.running, reason: pg.status().guard.reason, out })));
    `, { env: { CODER_PROC_GUARD: '1' } });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ before: false, after: true, reason: 'CODER_PROC_GUARD is set', out: '|\n' });
  });

  it('procguard status says what the guard watches here and why', () => {
    const run = runNode('', { file: path.join(REPO, 'dist/cjs/cli/main.js'), args: ['status'] });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^guard: +off \(not started: call guard\(\) or set CODER_PROC_GUARD\)$/m);
    expect(run.stdout).toMatch(/^guard watches MemAvailable: +MemTotal .* below 5% a child gets SIGTERM, below 3% SIGKILL/m);
  });
});
