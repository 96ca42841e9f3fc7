// The whole picture as data: what procguard would do to a child spawned now, and why.
import type { Status } from './types';
import { currentConfig, logStartupOnce, managementState, variableNames } from './config';
import { loadNative } from './native';
import { childDefaults } from './priority';
import { readEnvironment } from './environment';
import type { EnvironmentStatus } from './types';
import { runtimeStatus } from './runtime/status';
import { readCapabilities, readOwnNice, readOwnOomScoreAdj, readOwnSchedPolicy } from './self';
import { schedPolicyName } from './scheduling';
import { guardStatus } from './guard/status';

export function status(): Status {
  logStartupOnce();
  const { enabled, reason } = managementState();
  const native = loadNative();
  let selfInfo: { dumpable: number; pidfd: boolean } | null = null;
  let nativeError = native.error;
  if (native.binding) {
    try {
      selfInfo = native.binding.selfInfo();
    } catch (err) {
      nativeError = `selfInfo() failed: ${(err as Error).message}`;
    }
  }
  const capabilities = readCapabilities();
  const names = variableNames();
  // Re-read every time: protectSelf() or the host may have changed them.
  const oomScoreAdj = readOwnOomScoreAdj();
  const nice = readOwnNice();
  const schedPolicy = readOwnSchedPolicy();

  const result: Status = {
    enabled,
    reason,
    platform: process.platform,
    native: native.binding !== null,
    agent: {
      pid: process.pid,
      oomScoreAdj,
      nice,
      schedPolicy: schedPolicy === null ? null : schedPolicyName(schedPolicy),
      dumpable: selfInfo ? selfInfo.dumpable : null,
      capSysNice: capabilities ? capabilities.capSysNice : null,
      capSysResource: capabilities ? capabilities.capSysResource : null,
    },
    pidfd: selfInfo ? selfInfo.pidfd : null,
    envPrefix: currentConfig().envPrefix,
    env: {
      [names.prioMgmt]: process.env[names.prioMgmt],
      [names.oomScore]: process.env[names.oomScore],
      [names.niceScore]: process.env[names.niceScore],
      [names.schedPolicy]: process.env[names.schedPolicy],
      [names.ioPriority]: process.env[names.ioPriority],
    },
    childDefaults: process.platform === 'linux'
      ? childDefaults({ oomScoreAdj: oomScoreAdj ?? 0, nice: nice ?? 0 })
      : null,
    guard: guardStatus(),
    environment: null,
    runtime: runtimeStatus(),
  };
  if (nativeError !== undefined) result.nativeError = nativeError;
  const environment = environmentOrError();
  result.environment = environment.value;
  if (environment.error !== undefined) result.environmentError = environment.error;
  return result;
}

function environmentOrError(): { value: EnvironmentStatus | null; error?: string } {
  if (process.platform !== 'linux') return { value: null, error: `linux-only (platform is ${process.platform})` };
  try {
    return { value: readEnvironment() };
  } catch (err) {
    return { value: null, error: (err as Error).message };
  }
}
