import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main, subcommands, type CliIo } from '../../lib/cli/main';
import { configure } from '../../lib/config';
import { captureLogger } from './capture-logger';
import { compileLib, removeCompiled } from './compile-lib';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (text) => { out += text; }, err: (text) => { err += text; } };
  const code = await main(argv, io);
  return { code, out, err };
}

// The startup line would go to the runner's stderr.
configure({ logger: captureLogger().logger });

describe('procguard CLI dispatch', () => {
  it('unknown subcommand: usage on stderr, exit 2', async () => {
    const result = await run(['frobnicate']);
    expect(result).toMatchObject({ code: 2, out: '' });
    expect(result.err).toContain('unknown subcommand "frobnicate"');
    expect(result.err).toContain('procguard status [--json]');
  });

  it('no subcommand: usage, exit 2; help: usage on stdout, exit 0', async () => {
    expect(await run([])).toMatchObject({ code: 2, out: '', err: expect.stringContaining('usage:') });
    expect(await run(['--help'])).toMatchObject({ code: 0, err: '', out: expect.stringContaining('usage:') });
  });

  it('does not take inherited object keys for subcommands', async () => {
    expect((await run(['toString'])).code).toBe(2);
  });

  it('runs subcommands from the table, so others can add theirs', async () => {
    subcommands.echo = { args: '<words>', summary: 'test only', run: (args, io) => { io.out(args.join(' ')); return 3; } };
    try {
      expect(await run(['echo', 'a', 'b'])).toEqual({ code: 3, out: 'a b', err: '' });
      expect((await run(['nope'])).err).toContain('procguard echo <words>');
    } finally {
      delete subcommands.echo;
    }
  });

  it('status: aligned key: value lines', async () => {
    const { code, out } = await run(['status']);
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(10);
    const valueColumns = new Set(lines.map((line) => /^[^:]+:\s+/.exec(line)![0].length));
    expect(valueColumns.size).toBe(1);
    expect(out).toMatch(/^enabled: +(yes|no) \(/m);
    expect(out).toMatch(new RegExp(`^agent pid: +${process.pid}$`, 'm'));
    expect(out).toMatch(/^CAP_SYS_RESOURCE: +(yes|no)$/m);
    expect(out).toMatch(/^CODER_PROC_PRIO_MGMT: +unset$/m);
    expect(out).toMatch(/^child oom_score_adj: +-?\d+ \(computed/m);
  });

  it('status --json prints the Status; a bad argument is a usage error', async () => {
    const { code, out } = await run(['status', '--json']);
    expect(code).toBe(0);
    const parsed = JSON.parse(out);
    expect(parsed).toMatchObject({ platform: 'linux', agent: { pid: process.pid }, env: { CODER_PROC_PRIO_MGMT: null } });
    const bad = await run(['status', '--yaml']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('procguard status: unknown argument "--yaml"');
  });
});

describe('procguard as a bin', () => {
  let dir: string;
  beforeAll(() => { dir = compileLib({ withAddon: false }); });
  afterAll(() => removeCompiled(dir));

  it('starts with a shebang and runs status --json / exits 2 on an unknown subcommand', () => {
    const cli = path.join(dir, 'cli', 'main.js');
    expect(fs.readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const ok = spawnSync(process.execPath, [cli, 'status', '--json'], { encoding: 'utf8', env: { PATH: process.env.PATH, CODER_PROC_NICE_SCORE: '2' } });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ env: { CODER_PROC_NICE_SCORE: '2' }, childDefaults: { nice: 2 } });
    expect(ok.stderr).toBe(''); // the status is the output; nothing else is said
    const bad = spawnSync(process.execPath, [cli, 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('usage:');
  });
});
