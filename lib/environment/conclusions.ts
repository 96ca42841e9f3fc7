// What the facts of the environment mean for the agent, in plain words: each conclusion with the
// reason it rests on, and whether it leaves the agent unprotected (then it is also one startup
// warning). Pure: facts in, conclusions out.
import type { Delegation } from '../cgroup/delegation';
import type { KubernetesPod } from './kubernetes';
import type { MemoryLimits } from './limits';
import type { SystemdUnit } from './systemd';

export interface Conclusion {
  /** Stable, for filtering and counting: the warning's code when `unprotected`. */
  code: string;
  /** What follows, in plain words. */
  conclusion: string;
  /** The facts it rests on. */
  reason: string;
  /** Whether it means the agent is not protected (then it is also a startup warning). */
  unprotected: boolean;
}

export interface ConclusionFacts {
  agentOomScoreAdj: number | null;
  namespace: boolean | null;
  limits: MemoryLimits | null;
  systemd: SystemdUnit | null;
  kubernetes: KubernetesPod | null;
  perChildCgroups: Delegation;
  /** The guard runs, or its variable will start it at the first spawn. */
  guard: boolean;
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)}M`;
}

/** What holds the agent, for the sentences: 'this container', 'this unit', 'this cgroup'. */
function holder(facts: ConclusionFacts): string {
  if (facts.kubernetes) return 'this pod\'s container';
  if (facts.systemd) return `this unit${facts.systemd.unit ? ` (${facts.systemd.unit})` : ''}`;
  if (facts.namespace) return 'this container';
  return 'this cgroup';
}

export function conclude(facts: ConclusionFacts): Conclusion[] {
  const out: Conclusion[] = [];
  const cgroups = facts.perChildCgroups;
  out.push({
    code: cgroups.available ? 'PROCGUARD_CGROUPS_ON' : 'PROCGUARD_CGROUPS_OFF',
    conclusion: cgroups.available ? `per-child cgroups on, made in ${cgroups.parent}` : 'per-child cgroups off',
    reason: cgroups.fix ? `${cgroups.reason}; ${cgroups.fix}` : cgroups.reason,
    // Priorities still protect the agent; a spawn that asks for a cgroup says so itself.
    unprotected: false,
  });

  const limits = facts.limits;
  if (limits?.groupKill) {
    const cap = limits.memoryMax ? `, memory.max ${mib(limits.memoryMax.bytes)} at ${limits.memoryMax.cgroup}` : '';
    out.push({
      code: 'PROCGUARD_OOM_GROUP',
      conclusion: facts.guard
        ? `a child reaching ${holder(facts)}'s limit would kill the agent too, whatever its oom_score_adj; the guard is on and kills such a child first`
        : `a child reaching ${holder(facts)}'s limit kills the agent too, whatever its oom_score_adj: start the guard`,
      reason: `memory.oom.group=1 at ${limits.groupKill}${cap}`,
      unprotected: !facts.guard,
    });
  }
  if (limits?.memoryHigh && (!limits.memoryMax || limits.memoryHigh.bytes < limits.memoryMax.bytes)) {
    out.push({
      code: 'PROCGUARD_MEMORY_HIGH',
      conclusion: 'a child filling the memory.high band throttles the agent with it, long before any OOM kill ' +
        (facts.guard ? '(without swap it can stall everything); the guard is on and acts on that stall'
          : '(without swap it can stall everything): start the guard, or lift memory.high (MemoryHigh=infinity)'),
      reason: `memory.high ${mib(limits.memoryHigh.bytes)} at ${limits.memoryHigh.cgroup}` +
        (limits.memoryMax ? ` below memory.max ${mib(limits.memoryMax.bytes)}` : ''),
      unprotected: !facts.guard,
    });
  }
  if (facts.agentOomScoreAdj !== null && facts.agentOomScoreAdj >= 1000) {
    out.push({
      code: 'PROCGUARD_AGENT_OOM_SCORE_MAX',
      conclusion: 'children cannot rank below the agent: the OOM killer may pick the agent first',
      reason: `agent oom_score_adj ${facts.agentOomScoreAdj}${facts.kubernetes?.qosClass === 'BestEffort' ? ' (a BestEffort pod)' : ''}`,
      unprotected: true,
    });
  }
  if (facts.kubernetes) {
    out.push({
      code: 'PROCGUARD_KUBERNETES',
      conclusion: `a Kubernetes pod, QoS class ${facts.kubernetes.qosClass}`,
      reason: facts.kubernetes.evidence.join('; '),
      unprotected: false,
    });
  }
  return out;
}
