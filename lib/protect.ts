// The agent protecting itself from the OOM killer: a lower oom_score_adj for its own process,
// best effort, so a refusal (no CAP_SYS_RESOURCE, read-only /proc) never stops the agent.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { invalidArgType, outOfRange, errnoName } from './errors';
import { info, warning } from './logger';
import { loadNative } from './native';
import { ownOptions } from './own-options';
import { OOM_SCORE_ADJ_RANGE, failureHint } from './priority';
import { readOwnOomScoreAdj } from './self';

export interface ProtectResult {
  /** Whether the requested value is now in effect. */
  applied: boolean;
  /** The agent's oom_score_adj now in effect, re-read after the attempt. */
  oomScoreAdj: number;
  /** The agent's oom_score_adj before the attempt; null when it could not be read. */
  previous: number | null;
  /** Why it was not applied: a Node-style code, its negative errno, and a sentence with a hint. */
  error: null | { code: string; errno: number; message: string };
}

/** Writes /proc/self/oom_score_adj; returns 0 or a positive errno. */
function writeOwnOomScoreAdj(value: number): number {
  if (process.platform !== 'linux') return os.constants.errno.ENOTSUP;
  const binding = loadNative().binding;
  if (binding) return binding.setOwnOomScoreAdj(value);
  let fd: number | undefined;
  try {
    fd = fs.openSync('/proc/self/oom_score_adj', 'r+');
    fs.writeSync(fd, String(value));
    return 0;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return (code && (os.constants.errno as Record<string, number>)[code]) || os.constants.errno.EIO;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Sets the agent's own oom_score_adj (default -1000: never chosen by the OOM killer).
 * Children spawned afterwards get their defaults from the new value. Throws only for an
 * invalid argument; a refusal by the kernel is logged and returned.
 */
export function protectSelf(options: { oomScoreAdj?: number } = {}): ProtectResult {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  options = ownOptions(options);
  const requested = options.oomScoreAdj === undefined ? -1000 : options.oomScoreAdj;
  if (typeof requested !== 'number') throw invalidArgType('options.oomScoreAdj', 'of type number', requested);
  const { min, max } = OOM_SCORE_ADJ_RANGE;
  if (!Number.isInteger(requested)) throw outOfRange('options.oomScoreAdj', `an integer >= ${min} && <= ${max}`, requested);
  if (requested < min || requested > max) throw outOfRange('options.oomScoreAdj', `>= ${min} && <= ${max}`, requested);

  const previous = readOwnOomScoreAdj();
  const errno = writeOwnOomScoreAdj(requested);
  const now = readOwnOomScoreAdj();
  const inEffect = now ?? (errno === 0 ? requested : previous ?? 0);

  if (errno === 0 && inEffect === requested) {
    info("set the agent's oom_score_adj", { oom_score_adj: inEffect, previous });
    return { applied: true, oomScoreAdj: inEffect, previous, error: null };
  }

  const code = errno === 0 ? 'EIO' : errnoName(errno);
  const hint = process.platform === 'linux'
    ? failureHint('oom_score_adj', errno === 0 ? os.constants.errno.EIO : errno)
    : 'oom_score_adj is linux-only';
  const message = errno === 0
    ? `set the agent's oom_score_adj to ${requested} but ${inEffect} is in effect`
    : `cannot set the agent's oom_score_adj to ${requested}: ${code}${hint ? `; ${hint}` : ''}`;
  warning('PROCGUARD_PROTECT_FAILED', "failed to set the agent's oom_score_adj", {
    requested, oom_score_adj: inEffect, error: code, ...(hint ? { hint } : {}),
  });
  return {
    applied: false,
    oomScoreAdj: inEffect,
    previous,
    error: { code, errno: -Math.abs(errno === 0 ? os.constants.errno.EIO : errno), message },
  };
}
