// What "the kernel killed the child, the agent lived" and "the kernel killed the agent" mean,
// checked from every side: the harness (the agent's exit), the agent (the child's 'exit' event),
// the cgroup's oom_kill counter, and the kernel's own "Killed process <pid> (<comm>)" line.
import { expect } from 'vitest';
import type { KernelOomKill } from '../../lib/kernel-log';
import type { MemoryScenarioOutcome } from '../../lib/pressure/scenario';

/** oom_score_adj procguard gives the child of an agent whose own is 0 (priority management on). */
export const CHILD_OOM_SCORE_ADJ = 998;
/** What protectSelf() sets by default: the OOM killer never chooses the process. */
export const PROTECTED_OOM_SCORE_ADJ = -1000;
/** oom_score_adj procguard gives the child of a protected agent: an ordinary process. */
export const CHILD_OF_PROTECTED_AGENT_OOM_SCORE_ADJ = 0;
export const CHILD_NICE_INCREMENT = 5;

function expectOomKillCounted(outcome: MemoryScenarioOutcome): void {
  if (!outcome.cgroup) return; // a global OOM: no cgroup to count it
  expect(outcome.oomKillCount, "the cgroup's oom_kill counter").not.toBeNull();
  expect(outcome.oomKillCount!.after).toBeGreaterThan(outcome.oomKillCount!.before);
}

/** The kernel's kills of the run's agent and child, in order. */
function killsOfRun(outcome: MemoryScenarioOutcome): { pid: number; comm: string; scope: KernelOomKill['scope'] }[] {
  return (outcome.kernelKills ?? []).map(({ pid, comm, scope }) => ({ pid, comm, scope }));
}

/** The run's facts in the failure message, so a failing assertion shows what really happened. */
function describeOutcome(outcome: MemoryScenarioOutcome): string {
  return JSON.stringify(outcome, null, 1);
}

export function expectChildKilledAgentSurvived(
  outcome: MemoryScenarioOutcome,
  options: { kernelLogRequired: boolean; agentProtected?: boolean },
): void {
  const facts = describeOutcome(outcome);
  expect(outcome.timedOut, facts).toBe(false);
  expect(outcome.agent.oomScoreAdj, facts).toBe(options.agentProtected ? PROTECTED_OOM_SCORE_ADJ : 0);
  expect(outcome.child, facts).not.toBeNull();
  expect(outcome.child!.oomScoreAdj, facts).toBe(options.agentProtected ? CHILD_OF_PROTECTED_AGENT_OOM_SCORE_ADJ : CHILD_OOM_SCORE_ADJ);
  expect(outcome.child!.nice, facts).toBe(Math.min(outcome.agent.nice! + CHILD_NICE_INCREMENT, 19));
  // The agent saw its child end by SIGKILL, in its 'exit' event, and said so.
  expect(outcome.agent.reportedChildExit, facts).toBe(true);
  expect(outcome.child!.exit?.signal, facts).toBe('SIGKILL');
  // The agent was not killed: it exited on its own after reporting.
  expect(outcome.agent.signal, facts).toBeNull();
  expect(outcome.agent.exitCode, facts).toBe(0);
  expect(outcome.victim, facts).toBe('child');
  expectOomKillCounted(outcome);
  if (outcome.kernelKills || options.kernelLogRequired) {
    // The child, and only the child: the agent (and a daemon, if any) was never the kernel's choice.
    expect(killsOfRun(outcome), `the kernel log's "Killed process" lines\n${facts}`).toEqual([
      { pid: outcome.child!.pid, comm: 'pg-balloon', scope: outcome.cgroup ? 'memcg' : 'global' },
    ]);
  }
}

export function expectAgentKilled(outcome: MemoryScenarioOutcome, options: { kernelLogRequired: boolean }): void {
  const facts = describeOutcome(outcome);
  expect(outcome.timedOut, facts).toBe(false);
  expect(outcome.agent.oomScoreAdj, facts).toBe(0);
  expect(outcome.child, facts).not.toBeNull();
  expect(outcome.child!.oomScoreAdj, facts).toBe(0);
  // Seen from the harness: the agent process ended by SIGKILL, before it could report anything.
  expect(outcome.agent.signal, facts).toBe('SIGKILL');
  expect(outcome.agent.reportedChildExit, facts).toBe(false);
  expect(outcome.victim, facts).toBe('agent');
  expectOomKillCounted(outcome);
  if (outcome.kernelKills || options.kernelLogRequired) {
    // The agent first. The orphaned child may be killed after it, if it charged memory before the agent's was freed.
    const kills = killsOfRun(outcome);
    expect(kills[0], `the kernel log's first "Killed process" line of this run\n${facts}`).toEqual({
      pid: outcome.agent.pid!, comm: 'pg-agent', scope: outcome.cgroup ? 'memcg' : 'global',
    });
    expect(kills.slice(1).every((kill) => kill.comm === 'pg-balloon'), facts).toBe(true);
  }
}
