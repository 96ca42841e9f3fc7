// The words of CODER_PROC_SCHED_POLICY / CODER_PROC_IO_PRIORITY and `procguard run`, and the
// kernel's numbers they become (sched(7) policies, ioprio_set(2)'s class << 13 | level).
import { describe, expect, it } from 'vitest';
import {
  encodeIoPriority,
  formatIoPriority,
  parseIoPriorityVariable,
  parseSchedPolicyVariable,
  SCHED_POLICY_NUMBERS,
  schedPolicyLabel,
} from '../../lib/scheduling';

describe('CODER_PROC_SCHED_POLICY values', () => {
  it.each([
    ['idle', 'idle'], ['batch', 'batch'], ['other', 'other'], ['SCHED_IDLE', 'idle'], ['Batch', 'batch'], ['inherit', null],
  ])('%s -> %s', (raw, policy) => expect(parseSchedPolicyVariable(raw)).toBe(policy));

  it.each(['', 'fifo', 'rr', 'deadline', ' idle', 'idle ', '5'])('%j is invalid', (raw) => {
    expect(parseSchedPolicyVariable(raw)).toBeUndefined();
  });

  it("maps to sched(7)'s numbers and names", () => {
    expect(SCHED_POLICY_NUMBERS).toEqual({ other: 0, batch: 3, idle: 5 });
    expect(schedPolicyLabel('idle')).toBe('SCHED_IDLE');
    expect(schedPolicyLabel('batch')).toBe('SCHED_BATCH');
  });
});

describe('CODER_PROC_IO_PRIORITY values', () => {
  it.each([
    ['idle', { class: 'idle' }],
    ['best-effort', { class: 'best-effort', level: 4 }],
    ['best-effort:0', { class: 'best-effort', level: 0 }],
    ['best-effort:7', { class: 'best-effort', level: 7 }],
    ['BEST-EFFORT:3', { class: 'best-effort', level: 3 }],
    ['inherit', null],
  ])('%s -> %j', (raw, priority) => expect(parseIoPriorityVariable(raw)).toEqual(priority));

  it.each(['', 'realtime', 'rt:0', 'best-effort:8', 'best-effort:-1', 'idle:3', 'inherit:1', ' idle', 'be:4'])('%j is invalid', (raw) => {
    expect(parseIoPriorityVariable(raw)).toBeUndefined();
  });

  it("encodes as the kernel's class << 13 | level, and formats back", () => {
    expect(encodeIoPriority({ class: 'best-effort', level: 7 })).toBe((2 << 13) | 7);
    expect(encodeIoPriority({ class: 'idle' })).toBe(3 << 13);
    expect(formatIoPriority({ class: 'best-effort', level: 7 })).toBe('best-effort:7');
    expect(formatIoPriority({ class: 'idle' })).toBe('idle');
  });
});
