// Process-wide settings: whether management is on, the variables' prefix, the logger.
import type { Config, Logger } from './types';
import { invalidArgType, invalidArgValue } from './errors';
import { defaultLogger, info, logger, setLogger, warning } from './logger';
import { loadNative } from './native';
import { hasOwnOption, ownOptions } from './own-options';
import { cgroupParentProblem } from './cgroup/delegation';
import { warnEnvironmentOnce } from './environment';

export const DEFAULT_ENV_PREFIX = 'CODER_PROC_';
const ENV_PREFIX_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

let enabledOverride: boolean | undefined;
let envPrefix = DEFAULT_ENV_PREFIX;
let cgroupParent: string | undefined;

/**
 * Changes the settings named in `options`; a key set to undefined goes back to its default
 * (for `enabled`: following the environment). Unknown keys are ignored. Either every
 * setting is valid and applied, or none is.
 */
export function configure(options: Config): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  options = ownOptions(options);
  const { enabled, envPrefix: prefix, logger: nextLogger, cgroupParent: parent } = options;
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw invalidArgType('options.enabled', 'of type boolean', enabled);
  }
  if (prefix !== undefined) {
    if (typeof prefix !== 'string') throw invalidArgType('options.envPrefix', 'of type string', prefix);
    if (!ENV_PREFIX_PATTERN.test(prefix)) {
      throw invalidArgValue('options.envPrefix', prefix, 'must match /^[A-Za-z_][A-Za-z0-9_]*$/');
    }
  }
  if (parent !== undefined && (typeof parent !== 'string' || !parent.startsWith('/'))) {
    if (typeof parent !== 'string') throw invalidArgType('options.cgroupParent', 'of type string', parent);
    throw invalidArgValue('options.cgroupParent', parent, 'must be an absolute path (a cgroup v2 directory)');
  }
  // A parent that cannot hold children's cgroups is an error now, not a silent fallback at spawn.
  const parentProblem = parent === undefined ? null : cgroupParentProblem(parent);
  if (parentProblem) {
    throw invalidArgValue('options.cgroupParent', parent, `must be an existing cgroup v2 directory the agent can write; it ${parentProblem}`);
  }
  if (nextLogger !== undefined && !isLogger(nextLogger)) {
    throw invalidArgType('options.logger', 'an object with info() and warn() methods', nextLogger);
  }

  if (hasOwnOption(options, 'enabled')) enabledOverride = enabled;
  if (hasOwnOption(options, 'envPrefix')) envPrefix = prefix ?? DEFAULT_ENV_PREFIX;
  if (hasOwnOption(options, 'logger')) setLogger(nextLogger ?? defaultLogger);
  if (hasOwnOption(options, 'cgroupParent')) cgroupParent = parent;
}

function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null &&
    typeof (value as Logger).info === 'function' && typeof (value as Logger).warn === 'function';
}

export function currentConfig(): { enabled: boolean | undefined; envPrefix: string; logger: Logger; cgroupParent?: string } {
  return { enabled: enabledOverride, envPrefix, logger: logger(), cgroupParent };
}

/** The names of the variables read from the agent's environment, for the current prefix. */
export function variableNames(): { prioMgmt: string; oomScore: string; niceScore: string; schedPolicy: string; ioPriority: string } {
  return {
    prioMgmt: `${envPrefix}PRIO_MGMT`,
    oomScore: `${envPrefix}OOM_SCORE`,
    niceScore: `${envPrefix}NICE_SCORE`,
    schedPolicy: `${envPrefix}SCHED_POLICY`,
    ioPriority: `${envPrefix}IO_PRIORITY`,
  };
}

/** Whether management was asked for (by configure() or the environment), before platform and addon are considered. */
export function managementRequested(): { requested: boolean; reason: string } {
  if (enabledOverride === false) return { requested: false, reason: 'configure({ enabled: false })' };
  if (enabledOverride === true) return { requested: true, reason: 'configure({ enabled: true })' };
  const name = variableNames().prioMgmt;
  // Presence is what counts, as in Coder's agent: an empty value enables.
  return process.env[name] !== undefined
    ? { requested: true, reason: `${name} is set` }
    : { requested: false, reason: `${name} is not set` };
}

/** Whether children get the default priorities, and why. */
export function managementState(): { enabled: boolean; reason: string } {
  if (process.platform !== 'linux') {
    return { enabled: false, reason: `linux-only (platform is ${process.platform})` };
  }
  const { requested, reason } = managementRequested();
  if (!requested) return { enabled: false, reason };
  const native = loadNative();
  if (!native.binding) {
    return { enabled: false, reason: `${reason}, but the native addon did not load: ${native.error ?? 'unknown error'}` };
  }
  return { enabled: true, reason };
}

let startupLogged = false;

/** Logs, once per process, whether management is on: call at first use (first spawn or status()). */
export function logStartupOnce(): void {
  if (startupLogged) return;
  startupLogged = true;
  const name = variableNames().prioMgmt;
  const { enabled, reason } = managementState();
  const fields = { [name]: process.env[name], os: process.platform, reason };
  if (enabled) info('process priority management enabled', fields);
  else if (process.platform !== 'linux') info('process priority management not enabled (linux-only)', fields);
  else info('process priority management not enabled', fields);
  // Asked for and off: the user must know, their children are not protected.
  if (!enabled && managementRequested().requested) {
    const code = process.platform !== 'linux' ? 'PROCGUARD_UNSUPPORTED_PLATFORM' : 'PROCGUARD_NATIVE_UNAVAILABLE';
    warning(code, 'process priority management was asked for but is not enabled', { reason });
  }
  warnEnvironmentOnce();
}
