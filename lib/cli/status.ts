// `procguard status [--json]`: status() as data, or as aligned lines for a person.
import type { Status } from '../types';
import { status } from '../status';
import { formatIoPriority, schedPolicyLabel } from '../scheduling';
import { UsageError } from './subcommand';
import type { Subcommand } from './subcommand';

/** `procguard status [--json]`. */
export const statusCommand: Subcommand = {
  args: '[--json]',
  summary: 'show whether priority management is on, why, and what a child would get',
  run(args, io) {
    let json = false;
    for (const arg of args) {
      if (arg === '--json') json = true;
      else throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    }
    const current = status();
    // undefined (an absent variable) would vanish from JSON; null keeps the key visible.
    io.out(json ? `${JSON.stringify(current, (_key, value) => (value === undefined ? null : value), 2)}\n` : formatStatus(current));
    return 0;
  },
};

function yesNo(value: boolean | null, unknown = 'unknown'): string {
  return value === null ? unknown : value ? 'yes' : 'no';
}

/** The status as aligned `key: value` lines, for a person. */
export function formatStatus(s: Status): string {
  const noAddon = 'unknown (needs the native addon)';
  const rows: [string, string][] = [
    ['enabled', `${s.enabled ? 'yes' : 'no'} (${s.reason})`],
    ['platform', s.platform],
    ['native addon', s.native ? 'loaded' : `not loaded (${s.nativeError ?? 'unknown error'})`],
    ['agent pid', String(s.agent.pid)],
    ['agent oom_score_adj', s.agent.oomScoreAdj === null ? 'unknown' : String(s.agent.oomScoreAdj)],
    ['agent nice', s.agent.nice === null ? 'unknown' : String(s.agent.nice)],
    ['agent scheduling policy', s.agent.schedPolicy ?? 'unknown'],
    ['agent dumpable', s.agent.dumpable === null ? noAddon : String(s.agent.dumpable)],
    ['CAP_SYS_NICE', yesNo(s.agent.capSysNice)],
    ['CAP_SYS_RESOURCE', yesNo(s.agent.capSysResource)],
    ['pidfd', yesNo(s.pidfd, noAddon)],
    ['env prefix', s.envPrefix],
  ];
  for (const [name, value] of Object.entries(s.env)) rows.push([name, value === undefined ? 'unset' : JSON.stringify(value)]);
  const defaults = s.childDefaults;
  if (defaults) {
    const [oomVariable, niceVariable] = [`${s.envPrefix}OOM_SCORE`, `${s.envPrefix}NICE_SCORE`];
    const whenOff = s.enabled ? '' : '; applied only when enabled';
    rows.push(['child oom_score_adj', `${defaults.oomScoreAdj} (${defaults.source.oomScoreAdj === 'env'
      ? `from ${oomVariable}` : `computed from the agent's ${s.agent.oomScoreAdj ?? 'unknown'}`}${whenOff})`]);
    rows.push(['child nice', `${defaults.nice} (${defaults.source.nice === 'env'
      ? `from ${niceVariable}` : `computed from the agent's ${s.agent.nice ?? 'unknown'}`}${whenOff})`]);
    const [schedVariable, ioVariable] = [`${s.envPrefix}SCHED_POLICY`, `${s.envPrefix}IO_PRIORITY`];
    rows.push(['child scheduling policy', defaults.schedPolicy === null
      ? `inherited from the agent (${defaults.source.schedPolicy === 'env' ? `${schedVariable}=inherit` : 'the default'})`
      : `${schedPolicyLabel(defaults.schedPolicy)} (from ${schedVariable}${whenOff})`]);
    rows.push(['child IO priority', defaults.ioPriority === null
      ? `inherited from the agent (${defaults.source.ioPriority === 'env' ? `${ioVariable}=inherit` : 'the default'})`
      : `${formatIoPriority(defaults.ioPriority)} (from ${ioVariable}${whenOff})`]);
  } else {
    rows.push(['child defaults', `none (${s.platform} is not linux)`]);
  }
  rows.push(...environmentRows(s));
  const { runtime } = s;
  rows.push(['runtime', `${runtime.name} ${runtime.version} (exit watcher: ${runtime.exitWatcher})`]);
  rows.push(['protected', runtime.protectedFunctions.join(', ') || 'none']);
  for (const [fn, why] of Object.entries(runtime.unprotected)) rows.push([`${fn}`, why]);
  rows.push(['register covers', runtime.register]);
  rows.push(...guardRows(s));
  const width = Math.max(...rows.map(([key]) => key.length)) + 1;
  return rows.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}\n`).join('');
}

/** The guard's rows: whether it runs, and each thing it watches with the reason. */
function guardRows(s: Status): [string, string][] {
  const g = s.guard;
  const rows: [string, string][] = [];
  rows.push(['guard', `${g.running ? 'running' : 'off'} (${g.reason})${g.dryRun ? ', dry run' : ''}`]);
  rows.push([g.variable.name, g.variable.value === undefined ? 'unset' : JSON.stringify(g.variable.value)]);
  for (const watch of g.watches) rows.push([`guard watches ${watch.what}`, watch.why]);
  for (const note of g.notes) rows.push(['guard note', note]);
  rows.push(['guard PSI', `${g.psi.mode}: ${g.psi.reason}`]);
  if (g.running) rows.push(['guard children', `${g.children} watched, sampling every ${g.intervalMs} ms, state ${g.locked ? 'mlocked' : 'not mlocked'}`]);
  for (const action of g.lastActions) {
    const text = action.type === 'kill' ? `${action.dryRun ? 'would send' : 'sent'} ${action.signal} to ${action.pid} (${action.trigger})`
      : action.type === 'reclaim' ? `reclaimed ${action.cgroup ?? `child ${action.pid}`}: ${action.beforeBytes} -> ${action.afterBytes} bytes`
      : `pressure ${action.state}: ${action.trigger}`;
    rows.push(['guard action', text]);
  }
  return rows;
}

function size(limit: { bytes: number; cgroup: string } | null): string {
  return limit ? `${limit.bytes} (${Math.round(limit.bytes / 2 ** 20)}M) at ${limit.cgroup}` : 'none';
}

/** The environment section: facts, then one row per conclusion with its reason. */
function environmentRows(s: Status): [string, string][] {
  const e = s.environment;
  if (!e) return [['environment', `unknown (${s.environmentError ?? 'not read'})`]];
  const c = e.cgroup;
  const rows: [string, string][] = [
    ['cgroup mode', c.mode === 'v2' ? 'pure cgroup v2' : c.mode],
    ['cgroup', `${c.path ?? 'unknown'}${c.dir ? ` (${c.dir})` : ''}`],
    ['cgroup namespace', yesNo(c.namespace)],
    ['cgroup mount read-only', yesNo(c.readOnly)],
    ['cgroup writable', yesNo(c.writable)],
    ['cgroup delegated', yesNo(c.delegated)],
  ];
  if (e.limits) {
    rows.push(['memory.max', size(e.limits.memoryMax)], ['memory.high', size(e.limits.memoryHigh)],
      ['memory.swap.max', size(e.limits.memorySwapMax)],
      ['memory.oom.group', `${e.limits.oomGroup === null ? 'unknown' : e.limits.oomGroup ? '1' : '0'}${e.limits.groupKill ? ` (group kill at ${e.limits.groupKill})` : ''}`]);
  }
  if (e.systemd) {
    const d = e.systemd;
    rows.push(['systemd unit', `${d.unit ?? 'unknown (the cgroup path does not show it)'}${d.invocationId ? ` INVOCATION_ID=${d.invocationId}` : ''}` +
      `, delegated ${yesNo(d.delegated)}${d.subgroup ? `, agent in subgroup ${d.subgroup}` : ''}`]);
    rows.push(['MEMORY_PRESSURE_WATCH', d.memoryPressureWatch ?? 'unset']);
  }
  if (e.kubernetes) rows.push(['kubernetes', `${e.kubernetes.qosClass} pod (${e.kubernetes.evidence.join('; ')})`]);
  for (const conclusion of e.conclusions) {
    rows.push([conclusion.unprotected ? 'warning' : 'conclusion', `${conclusion.conclusion} (${conclusion.reason})`]);
  }
  return rows;
}
