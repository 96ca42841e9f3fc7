// The diagnostics_channel events (procguard:spawn, procguard:exit) as documented, and the two
// examples that turn them into metrics (examples/prometheus.cjs, examples/opentelemetry.cjs), fed
// by real children: ordinary ones, a sync one, and one OOM-killed at its own cgroup's cap.
import * as diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'procguard';
import type { ExitMessage, SpawnMessage } from 'procguard';
import { BALLOON, cgroupParents } from './helpers/cgroup';
import { REPO } from './helpers/run-node';

const require = createRequire(import.meta.url);

// This test process makes its children's cgroups in cgroups of its own, so that its sweep of
// dead agents' leftovers never touches what test/cgroup.test.ts, running beside it, watches.
const homes: { from: string; to: string }[] = [];
beforeAll(() => {
  for (const dir of cgroupParents()) {
    const to = path.join(dir, `pg-examples-${process.pid}`);
    fs.mkdirSync(to);
    homes.push({ from: dir, to });
    fs.writeFileSync(path.join(to, 'cgroup.procs'), String(process.pid));
  }
});
afterAll(async () => {
  for (const { from, to } of homes) fs.writeFileSync(path.join(from, 'cgroup.procs'), String(process.pid));
  // The children's cgroups inside go asynchronously: wait for them, up to 5 s.
  for (const { to } of homes) {
    for (let waited = 0; ; waited += 50) {
      try {
        fs.rmdirSync(to);
        break;
      } catch (err) {
        if (waited >= 5000) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
});

function exited(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve) => child.on('exit', () => resolve()));
}

/** An echo, a sync true, and a balloon over its 64M cap. */
async function workload(): Promise<void> {
  await exited(spawn('sh', ['-c', 'exit 3']));
  spawnSync('true');
  await exited(spawn(process.execPath, [BALLOON, '{}'], { cgroup: { memoryMax: '64M' }, stdio: 'ignore' }));
}

function listen(): { events: [string, any][]; stop: () => void } {
  const events: [string, any][] = [];
  const onSpawn = (m: unknown) => events.push(['spawn', m]);
  const onExit = (m: unknown) => events.push(['exit', m]);
  diagnosticsChannel.subscribe('procguard:spawn', onSpawn);
  diagnosticsChannel.subscribe('procguard:exit', onExit);
  return {
    events,
    stop: () => {
      diagnosticsChannel.unsubscribe('procguard:spawn', onSpawn);
      diagnosticsChannel.unsubscribe('procguard:exit', onExit);
    },
  };
}

describe('diagnostics_channel', () => {
  it("procguard:spawn and procguard:exit carry the documented fields; exit comes before the child's 'exit'", async () => {
    const { events, stop } = listen();
    try {
      const child = spawn('sh', ['-c', 'exit 3']);
      const seenAtExit: number[] = [];
      child.on('exit', () => seenAtExit.push(events.length));
      await exited(child);
      const sync = spawnSync('sh', ['-c', 'kill -9 $$']);
      expect(sync.signal).toBe('SIGKILL');
      expect(events.map(([name]) => name)).toEqual(['spawn', 'exit', 'spawn', 'exit']);
      expect(seenAtExit).toEqual([2]);
      const spawnMessage = events[0][1] as SpawnMessage;
      expect(spawnMessage).toMatchObject({ pid: child.pid, file: 'sh', spawnargs: ['sh', '-c', 'exit 3'], sync: false, cgroup: null, child });
      expect(spawnMessage.priority).toEqual(child.priority);
      const exitMessage = events[1][1] as ExitMessage;
      expect(exitMessage).toMatchObject({ pid: child.pid, sync: false, code: 3, signal: null, oomKill: null, cgroup: null, child });
      expect(exitMessage.resourceUsage).toBe(child.resourceUsage);
      expect(events[2][1]).toMatchObject({ pid: sync.pid, sync: true, file: 'sh' });
      expect(events[3][1]).toMatchObject({ pid: sync.pid, sync: true, code: null, signal: 'SIGKILL' });
      expect(events[3][1]).not.toHaveProperty('child');
    } finally {
      stop();
    }
  });

  it('an OOM kill at the child\'s own cap: exit says cgroup-limit, with the cgroup and its peak', async () => {
    const { events, stop } = listen();
    try {
      const child = spawn(process.execPath, [BALLOON, '{}'], { cgroup: { memoryMax: '64M' }, stdio: 'ignore' });
      await exited(child);
      const [, spawned] = events.find(([name]) => name === 'spawn')!;
      const [, exit] = events.find(([name]) => name === 'exit')!;
      expect(spawned.cgroup).toMatch(/procguard-\d+-\d+$/);
      expect(exit).toMatchObject({ signal: 'SIGKILL', code: null, cgroup: spawned.cgroup, oomKill: { cause: 'cgroup-limit' } });
      expect(exit.resourceUsage.memory_peak_bytes).toBeGreaterThan(32 * 2 ** 20);
    } finally {
      stop();
    }
  });

  it('nobody listening: no message is built', () => {
    expect(diagnosticsChannel.hasSubscribers('procguard:spawn')).toBe(false);
    expect(diagnosticsChannel.hasSubscribers('procguard:exit')).toBe(false);
  });
});

describe('examples/', () => {
  const guardKill = { type: 'kill', trigger: 'memory.high', dryRun: false, escalation: false, pid: 1, signal: 'SIGTERM' };

  it('prometheus.cjs: spawns, OOM kills by cause, guard kills by trigger, a histogram of peak memory', async () => {
    const client = require('prom-client');
    const registry = new client.Registry();
    const stop = require(path.join(REPO, 'examples', 'prometheus.cjs')).instrument(registry);
    try {
      await workload();
      diagnosticsChannel.channel('procguard:guard').publish(guardKill);
      diagnosticsChannel.channel('procguard:guard').publish({ ...guardKill, signal: 'SIGKILL', escalation: true });
      const text: string = await registry.metrics();
      expect(text).toContain('procguard_spawns_total{sync="false"} 2');
      expect(text).toContain('procguard_spawns_total{sync="true"} 1');
      expect(text).toContain('procguard_oom_kills_total{cause="cgroup-limit"} 1');
      expect(text).toContain('procguard_guard_kills_total{trigger="memory.high"} 1');
      expect(text).toContain('procguard_child_peak_memory_bytes_count 3');
      // The balloon's peak is its cgroup's, at most its 64M cap.
      expect(Number(/procguard_child_peak_memory_bytes_bucket\{le="67108864"\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      stop();
    }
  });

  it('opentelemetry.cjs: the same, as OpenTelemetry instruments on the registered MeterProvider', async () => {
    const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const stop = require(path.join(REPO, 'examples', 'opentelemetry.cjs')).instrument(provider.getMeter('procguard'));
    try {
      await workload();
      diagnosticsChannel.channel('procguard:guard').publish(guardKill);
      await reader.forceFlush();
      const found = new Map<string, any[]>();
      for (const resource of exporter.getMetrics()) {
        for (const scope of resource.scopeMetrics) for (const metric of scope.metrics) found.set(metric.descriptor.name, metric.dataPoints);
      }
      const points = (name: string) => found.get(name)!.map((p) => [p.attributes, p.value]);
      expect(points('procguard.spawns')).toEqual([[{ 'procguard.sync': false }, 2], [{ 'procguard.sync': true }, 1]]);
      expect(points('procguard.oom_kills')).toEqual([[{ 'procguard.oom.cause': 'cgroup-limit' }, 1]]);
      expect(points('procguard.guard.kills')).toEqual([[{ 'procguard.guard.trigger': 'memory.high' }, 1]]);
      expect(found.get('procguard.child.memory.peak')![0].value.count).toBe(3);
    } finally {
      stop();
      await provider.shutdown();
    }
  });
});
