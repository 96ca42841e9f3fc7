// Node ignores SIGPIPE (and SIGXFSZ) in its own process; a child must start with every signal at its
// default disposition and nothing blocked, as with node:child_process.
import { describe, it, expect } from 'vitest';
import { spawn, execFile } from 'procguard';
import { firstOf, readStatus, record } from './helpers/proc';

const SIGPIPE_BIT = 1n << 12n; // signal 13

describe('signal dispositions in the child', () => {
  it('runs in an agent that ignores SIGPIPE itself (the premise of these tests)', () => {
    expect(BigInt('0x' + readStatus('self').SigIgn) & SIGPIPE_BIT).toBe(SIGPIPE_BIT);
  });

  it('starts a child with no ignored and no blocked signal', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const rec = record(child);
    await firstOf(child, ['spawn']);
    const status = readStatus(child.pid!);
    child.kill('SIGKILL');
    await rec.closed;
    expect(status.SigIgn).toBe('0000000000000000');
    expect(status.SigBlk).toBe('0000000000000000');
  });

  it("ends `yes | head -1` through the shell: yes dies of SIGPIPE's default action (exit 141)", async () => {
    const { err, stdout, stderr } = await new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) => {
      execFile('/bin/bash', ['-c', 'yes | head -1; echo "${PIPESTATUS[0]}"'], { timeout: 20000 }, (err: Error | null, stdout: unknown, stderr: unknown) =>
        resolve({ err, stdout: String(stdout), stderr: String(stderr) }),
      );
    });
    expect(err).toBeNull();
    expect(stdout).toBe('y\n141\n');
    expect(stderr).toBe(''); // no "yes: standard output: Broken pipe": it was killed, not told EPIPE
  });

  it('ends `yes | head -1` with shell: true', async () => {
    const child = spawn('yes | head -1', { shell: true });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const rec = record(child);
    await rec.closed;
    expect(rec.args.exit).toEqual([0, null]);
    expect(out).toBe('y\n');
  });

  it("ends a child with kill('SIGINT'): signalCode 'SIGINT', exitCode null", async () => {
    const child = spawn('sleep', ['30']);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    expect(child.kill('SIGINT')).toBe(true);
    await rec.closed;
    expect(rec.args.exit).toEqual([null, 'SIGINT']);
    expect(child.signalCode).toBe('SIGINT');
    expect(child.exitCode).toBeNull();
    expect(child.killed).toBe(true);
  });

  it('delivers a signal given by number', async () => {
    const child = spawn('sleep', ['30']);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    expect(child.kill(15)).toBe(true);
    await rec.closed;
    expect(rec.args.exit).toEqual([null, 'SIGTERM']);
  });

  it('throws ERR_UNKNOWN_SIGNAL from kill() with an unknown signal, as node does', async () => {
    const child = spawn('sleep', ['30']);
    const rec = record(child);
    await firstOf(child, ['spawn']);
    let thrown: unknown;
    try {
      child.kill('SIGNOPE' as NodeJS.Signals);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as { code?: string } | undefined)?.code).toBe('ERR_UNKNOWN_SIGNAL');
    child.kill('SIGKILL');
    await rec.closed;
  });
});
