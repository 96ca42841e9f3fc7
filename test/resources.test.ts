// No leaks: a child holds only its stdio and the fds it was given; the agent's fd count comes back
// after thousands of spawns; every child is reaped (no zombies); events fire exactly once.
import { describe, it, expect } from 'vitest';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import { spawn } from 'procguard';
import { childrenOf, fdTable, firstOf, listFds, record, sleep, unexpectedFds, waitFor, waitUntilSleeping } from './helpers/proc';

function runToClose(command: string, args: string[], options: cp.SpawnOptions = {}): Promise<{ exit: unknown[] | undefined; counts: Record<string, number> }> {
  const child = spawn(command, args, options);
  const rec = record(child, 60000);
  return rec.closed.then(() => ({ exit: rec.args.exit, counts: rec.counts }));
}

describe('file descriptors: a child gets exactly what it was given, even when the agent holds inherited fds without close-on-exec', () => {
  it('gives a child only fds 0, 1 and 2 by default', async () => {
    const child = spawn('sleep', ['30']);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    await waitUntilSleeping(child.pid!);
    const fds = fdTable(child.pid!);
    child.kill('SIGKILL');
    await rec.closed;
    expect(unexpectedFds(fds, [0, 1, 2])).toEqual({ missing: [], extra: {} });
  });

  it('gives a child only fds 0-3 with stdio [pipe, pipe, pipe, pipe]', async () => {
    const child = spawn('sleep', ['30'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    const rec = record(child);
    await firstOf(child, ['spawn']);
    await waitUntilSleeping(child.pid!);
    const fds = fdTable(child.pid!);
    child.kill('SIGKILL');
    await rec.closed;
    expect(unexpectedFds(fds, [0, 1, 2, 3])).toEqual({ missing: [], extra: {} });
  });

  it("closes an 'ignore' entry beyond fd 2 in the child", async () => {
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', 'ignore', 'pipe'] });
    const rec = record(child);
    await firstOf(child, ['spawn']);
    await waitUntilSleeping(child.pid!);
    const fds = fdTable(child.pid!);
    child.kill('SIGKILL');
    await rec.closed;
    expect(unexpectedFds(fds, [0, 1, 2, 4])).toEqual({ missing: [], extra: {} });
  });

  it("does not leak another running child's pipes, nor the agent's open files, into a child", async () => {
    const others = Array.from({ length: 5 }, () => spawn('sleep', ['30'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] }));
    const othersClosed = others.map((o) => record(o).closed);
    await Promise.all(others.map((o) => firstOf(o, ['spawn'])));
    const files = Array.from({ length: 5 }, () => fs.openSync('/dev/null', 'r'));
    const child = spawn('sleep', ['30']);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    await waitUntilSleeping(child.pid!);
    const fds = fdTable(child.pid!);
    child.kill('SIGKILL');
    for (const o of others) o.kill('SIGKILL');
    await rec.closed;
    await Promise.all(othersClosed);
    for (const f of files) fs.closeSync(f);
    expect(unexpectedFds(fds, [0, 1, 2])).toEqual({ missing: [], extra: {} });
  });

  it('sees only its stdio from inside the child (ls /proc/self/fd, whose own directory fd is the 4th)', async () => {
    const child = spawn('sh', ['-c', 'exec ls /proc/self/fd']);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await record(child).closed;
    const fds = Object.fromEntries(out.trim().split('\n').map((fd) => [Number(fd), '(listed by ls)']));
    expect(unexpectedFds(fds, [0, 1, 2, 3])).toEqual({ missing: [], extra: {} });
  });

  it('does not pass on an fd the agent itself inherited without close-on-exec (node would)', async () => {
    // The agent gets a non-close-on-exec fd 3 from its own parent, as a shell or a CI runner
    // may give it; its child must still see only 0, 1 and 2.
    const agent = cp.spawn(process.execPath, ['-e', `
      const { spawn } = require('procguard');
      const c = spawn('sh', ['-c', 'exec ls /proc/self/fd']);
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('close', () => console.log(JSON.stringify(out.trim().split('\\n').map(Number))));
    `], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
    let out = '';
    agent.stdout!.on('data', (d) => (out += d));
    await new Promise((resolve) => agent.on('close', resolve));
    // ls's own directory fd is the 4th; fd 3 of the agent must not be there as anything else.
    const listed = JSON.parse(out) as number[];
    expect(listed.filter((fd) => fd > 3)).toEqual([]);
    expect(listed).toEqual([0, 1, 2, 3]);
  });

  it("keeps the agent's fd count unchanged after 2,000 spawns", async () => {
    // warm up: whatever the engine opens once (loop handles, a signal fd) is opened now
    for (let i = 0; i < 20; i++) await runToClose('true', []);
    await sleep(200);
    const before = listFds('self');
    const batch = 50;
    for (let done = 0; done < 2000; done += batch) {
      const results = await Promise.all(Array.from({ length: batch }, () => runToClose('true', [])));
      for (const r of results) expect(r.exit).toEqual([0, null]);
    }
    // closing sockets is asynchronous: give the loop a moment
    let after = listFds('self');
    await waitFor(() => (after = listFds('self')).length <= before.length, 5000);
    expect(after.length).toBe(before.length);
  });
});

describe('reaping', () => {
  it('leaves no zombie child after children exited and closed', async () => {
    const pids: number[] = [];
    await Promise.all(
      Array.from({ length: 50 }, () => {
        const child = spawn('sh', ['-c', 'exit 3']);
        pids.push(child.pid!);
        return record(child).closed;
      }),
    );
    const left = childrenOf().filter((c) => pids.includes(c.pid) || c.state === 'Z');
    expect(left).toEqual([]);
  });

  it('leaves no zombie after killed children', async () => {
    const children = Array.from({ length: 20 }, () => spawn('sleep', ['30']));
    const closed = children.map((c) => record(c).closed);
    await Promise.all(children.map((c) => firstOf(c, ['spawn'])));
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(closed);
    expect(childrenOf().filter((c) => c.state === 'Z')).toEqual([]);
  });

  it('returns false from kill() after exit, without throwing and without an error event, as node does', async () => {
    for (const impl of [cp, { spawn }]) {
      const child = impl.spawn('true', []);
      const rec = record(child);
      await rec.closed;
      expect(child.kill()).toBe(false);
      expect(child.kill('SIGKILL')).toBe(false);
      await sleep(50);
      expect(rec.counts.error).toBeUndefined();
      expect(child.killed).toBe(false);
    }
  });

  it("reports 'exit' exactly once and 'close' exactly once for each of 1,000 concurrent spawns of true", async () => {
    const children = Array.from({ length: 1000 }, () => spawn('true', []));
    const recs = children.map((c) => record(c, 120000));
    await Promise.all(recs.map((r) => r.closed));
    await sleep(100);
    const wrong = recs
      .map((r, i) => ({ i, counts: r.counts, exit: r.args.exit, events: r.events }))
      .filter((x) => x.counts.exit !== 1 || x.counts.close !== 1 || x.counts.spawn !== 1 || x.counts.error !== undefined || x.exit?.[0] !== 0);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(new Set(children.map((c) => c.pid)).size).toBe(1000);
    expect(childrenOf().filter((c) => c.state === 'Z')).toEqual([]);
  });
});
