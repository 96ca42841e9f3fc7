// guard() options: validated (a bad one is an ERR_INVALID_ARG_* / ERR_OUT_OF_RANGE naming it),
// with the defaults of the README's table and their reasons there.
import { invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { parseSize } from '../cgroup/spec';
import { booleanOr, integerIn } from '../validate';

/** A size in bytes (number, or '64M', '1G'), or a share of the limit ('5%'). */
export type SizeOrPercent = number | string;

export interface MemoryGuardOptions {
  /** Headroom of the agent's cgroup (limit minus usage) below which a child is sent SIGTERM. Default: the larger of 5% of the limit and 64 MiB. */
  headroom?: SizeOrPercent;
  /** Headroom below which the child gets SIGKILL at once, no grace. Default: the larger of 2.5% and 32 MiB. */
  headroomKill?: SizeOrPercent;
  /** The throttle band counts as a stall when memory.pressure `full` is above this percent of the window. Default 20. */
  stallFull?: number;
  /** ... or `some` above this percent. Default 40. */
  stallSome?: number;
  /** The PSI window, ms (500 to 10000; unprivileged triggers need a multiple of 2000 on Linux 6.4+). Default 2000. */
  stallWindowMs?: number;
  /** MemAvailable of the machine, percent of MemTotal, below which a child gets SIGTERM. Default 5 (earlyoom's SIGTERM line). */
  memAvailable?: number;
  /** ... and SIGKILL at once. Default 3. */
  memAvailableKill?: number;
  /** With swap: SwapFree percent that must be short as well. Defaults 10 and 5. */
  swapFree?: number;
  swapFreeKill?: number;
  /** Watch the machine's MemAvailable at all. Default true. */
  machine?: boolean;
  /** Between SIGTERM and SIGKILL. Default 2000. */
  graceMs?: number;
  /** After a kill, no second victim for this long: the first one's memory is still coming back. Default 2000. */
  cooldownMs?: number;
  /** Report what would be reclaimed and killed; touch nothing. Default false. */
  dryRun?: boolean;
}

/** What the native thread is given (guardStart / guardConfigure). */
export interface GuardSettings {
  thresholds: {
    headroomTermPercent: number;
    headroomTermMinBytes: number;
    headroomKillPercent: number;
    headroomKillMinBytes: number;
    bandFullPercent: number;
    bandSomePercent: number;
    bandWindowMs: number;
    memTermPercent: number;
    memKillPercent: number;
    swapTermPercent: number;
    swapKillPercent: number;
    childReclaimPercent: number;
    childReclaimMinBytes: number;
  };
  graceMs: number;
  cooldownMs: number;
  reclaimCooldownMs: number;
  minIntervalMs: number;
  maxIntervalMs: number;
  fillBytesPerSecond: number;
  dryRun: boolean;
  watchMachine: boolean;
}

const MiB = 2 ** 20;

export const DEFAULT_SETTINGS: GuardSettings = Object.freeze({
  thresholds: Object.freeze({
    headroomTermPercent: 5,
    headroomTermMinBytes: 64 * MiB,
    headroomKillPercent: 2.5,
    headroomKillMinBytes: 32 * MiB,
    bandFullPercent: 20,
    bandSomePercent: 40,
    bandWindowMs: 2000,
    memTermPercent: 5,
    memKillPercent: 3,
    swapTermPercent: 10,
    swapKillPercent: 5,
    childReclaimPercent: 5,
    childReclaimMinBytes: 64 * MiB,
  }),
  graceMs: 2000,
  cooldownMs: 2000,
  reclaimCooldownMs: 10_000,
  minIntervalMs: 5,
  maxIntervalMs: 1000,
  fillBytesPerSecond: 2 * 2 ** 30,
  dryRun: false,
  watchMachine: true,
}) as GuardSettings;

/** '5%' -> { percent: 5, bytes: 0 }; '64M' or 67108864 -> { percent: 0, bytes }. */
function sizeOrPercent(value: unknown, name: string): { percent: number; bytes: number } {
  if (typeof value === 'string' && /%\s*$/.test(value)) {
    const percent = Number(value.trim().slice(0, -1));
    if (!Number.isFinite(percent) || percent <= 0 || percent >= 100) throw outOfRange(name, "a percentage above 0% and below 100%", value);
    return { percent, bytes: 0 };
  }
  return { percent: 0, bytes: parseSize(value, name) };
}

function percentIn(value: unknown, name: string, fallback: number, min = 0, max = 100): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isFinite(value) || value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  return value;
}

function msIn(value: unknown, name: string, fallback: number, min: number, max: number): number {
  return value === undefined ? fallback : integerIn(value, name, min, max);
}

/** The settings for `options` (own properties only), or a Node-style error naming the bad one. */
export function guardSettingsOf(options: unknown): GuardSettings {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidArgType('options', 'of type object', options);
  const o = { __proto__: null, ...(options as MemoryGuardOptions) } as MemoryGuardOptions;
  const d = DEFAULT_SETTINGS.thresholds;
  const t = { ...d };
  if (o.headroom !== undefined) {
    const { percent, bytes } = sizeOrPercent(o.headroom, 'options.headroom');
    [t.headroomTermPercent, t.headroomTermMinBytes] = [percent, bytes];
  }
  if (o.headroomKill !== undefined) {
    const { percent, bytes } = sizeOrPercent(o.headroomKill, 'options.headroomKill');
    [t.headroomKillPercent, t.headroomKillMinBytes] = [percent, bytes];
  }
  t.bandFullPercent = percentIn(o.stallFull, 'options.stallFull', d.bandFullPercent, 1, 100);
  t.bandSomePercent = percentIn(o.stallSome, 'options.stallSome', d.bandSomePercent, 1, 100);
  // psi.rst: a trigger's window is 500 ms to 10 s.
  t.bandWindowMs = msIn(o.stallWindowMs, 'options.stallWindowMs', d.bandWindowMs, 500, 10_000);
  t.memTermPercent = percentIn(o.memAvailable, 'options.memAvailable', d.memTermPercent, 0, 50);
  t.memKillPercent = percentIn(o.memAvailableKill, 'options.memAvailableKill', d.memKillPercent, 0, 50);
  t.swapTermPercent = percentIn(o.swapFree, 'options.swapFree', d.swapTermPercent);
  t.swapKillPercent = percentIn(o.swapFreeKill, 'options.swapFreeKill', d.swapKillPercent);
  if (t.memKillPercent > t.memTermPercent) {
    throw invalidArgValue('options.memAvailableKill', o.memAvailableKill, `must not be above options.memAvailable (${t.memTermPercent})`);
  }
  return {
    ...DEFAULT_SETTINGS,
    thresholds: t,
    graceMs: msIn(o.graceMs, 'options.graceMs', DEFAULT_SETTINGS.graceMs, 0, 600_000),
    cooldownMs: msIn(o.cooldownMs, 'options.cooldownMs', DEFAULT_SETTINGS.cooldownMs, 0, 600_000),
    dryRun: booleanOr(o.dryRun, 'options.dryRun', false),
    watchMachine: booleanOr(o.machine, 'options.machine', true),
  };
}

/** Whether two settings say the same. */
export function sameSettings(a: GuardSettings, b: GuardSettings): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
