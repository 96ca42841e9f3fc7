import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { readCapabilities, readOwnNice, readOwnOomScoreAdj } from '../../lib/self';

describe('the agent read from the kernel', () => {
  it('oom_score_adj is the value in /proc/self/oom_score_adj', () => {
    expect(readOwnOomScoreAdj()).toBe(Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8').trim()));
  });

  it('nice is the nice value (not the raw 20 - nice of getpriority)', () => {
    const niceField = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[16]);
    expect(readOwnNice()).toBe(niceField);
    expect(readOwnNice()).toBe(os.getPriority(0));
  });

  it('capabilities are bits 23 and 24 of CapEff', () => {
    const capEff = BigInt(`0x${/CapEff:\s*(\w+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}`);
    expect(readCapabilities()).toEqual({
      capSysNice: (capEff & (1n << 23n)) !== 0n,
      capSysResource: (capEff & (1n << 24n)) !== 0n,
    });
  });
});
