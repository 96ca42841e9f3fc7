// In a VM with a real kernel (Debian 6.1), pure cgroup v2, 1 GB of RAM and no swap: the same
// agent and child under a cgroup v2 limit, and under a global OOM with no limit at all, and an
// agent that protects itself (protectSelf(), which needs CAP_SYS_RESOURCE: the VM's root has it)
// with a daemon that keeps its protection. One boot runs every scenario
// (vm-jobs/memory-scenarios.cjs), then the per-child cgroup scenarios (vm-jobs/cgroup-scenarios.cjs,
// asserted in vm-cgroup.ts); each test checks one.
import * as path from 'node:path';
import { beforeAll, describe, expect, it, TestContext } from 'vitest';
import type { MemoryScenarioOptions, MemoryScenarioOutcome } from '../../lib/pressure/scenario';
import { MB } from '../../lib/pressure/scenario';
import {
  CHILD_OF_PROTECTED_AGENT_OOM_SCORE_ADJ,
  expectAgentKilled,
  expectChildKilledAgentSurvived,
  PROTECTED_OOM_SCORE_ADJ,
} from './expect-outcome';
import { requireOrSkip } from './requirements';
import { CGROUP_JOB_GUEST, cgroupJobFiles, describeCgroupScenariosInVm } from './vm-cgroup';
import { runInVmOrExplain, vmHookTimeoutMs, VmRun, whatTheVmDid } from './vm/run-in-vm';

const VM_MEMORY_MB = 1024;
const VM_TIME_LIMIT_MS = 120_000;

type NamedScenario = MemoryScenarioOptions & { name: string };
const scenarios: NamedScenario[] = [
  { name: 'cgroup/procguard', spawnModule: 'procguard', cgroupLimitBytes: 400 * MB, agentHoldBytes: 250 * MB },
  { name: 'cgroup/node:child_process', spawnModule: 'node:child_process', cgroupLimitBytes: 400 * MB, agentHoldBytes: 250 * MB },
  // Half the VM's RAM: in the control the agent must be the biggest process when the kernel picks.
  { name: 'global/procguard', spawnModule: 'procguard', cgroupLimitBytes: null, agentHoldBytes: 500 * MB },
  { name: 'global/node:child_process', spawnModule: 'node:child_process', cgroupLimitBytes: null, agentHoldBytes: 500 * MB },
  // Well over half the VM's RAM: unprotected, the agent would be the kernel's choice whatever its children's scores.
  { name: 'global/protectSelf', spawnModule: 'procguard', cgroupLimitBytes: null, agentHoldBytes: 600 * MB, protectAgent: true, daemon: true },
];

type JobResult =
  | { kind: 'environment'; kernel: string; memTotalBytes: number; swapTotalKb: number; rootSubtreeControl: string; cgroupV1Mounted: boolean }
  | { kind: 'scenario'; name: string; outcome?: MemoryScenarioOutcome; error?: string }
  | { kind: 'follow-up'; script: string; exit: number | string; ms: number }
  | ({ kind: 'cgroup'; name: string; ms: number; error?: string } & Record<string, any>);

let run: VmRun | null = null;
let unavailable: string | null = null;

beforeAll(async () => {
  ({ run, unavailable } = await runInVmOrExplain({
    script: path.join(__dirname, 'vm-jobs', 'memory-scenarios.cjs'),
    args: [JSON.stringify(scenarios), CGROUP_JOB_GUEST],
    files: cgroupJobFiles(),
    memoryMb: VM_MEMORY_MB,
    timeoutMs: VM_TIME_LIMIT_MS,
  }));
  if (run && process.env.PROCGUARD_VM_VERBOSE) {
    for (const result of run.results as JobResult[]) {
      if (result.kind !== 'scenario' || !result.outcome) continue;
      const { victim, timings, kernelKills } = result.outcome;
      console.log(`vm: ${result.name}: victim ${victim}, ${timings.totalMs} ms (agent ready ${timings.agentReadyMs} ms, kill ${timings.untilKillMs} ms later)`);
      for (const kill of kernelKills ?? []) console.log(`vm:   ${kill.line}`);
      if (result.outcome.agent.protection) console.log(`vm:   protectSelf: ${JSON.stringify(result.outcome.agent.protection)}`);
      if (result.outcome.daemon) console.log(`vm:   daemon: ${JSON.stringify(result.outcome.daemon)}`);
    }
  }
}, vmHookTimeoutMs(VM_TIME_LIMIT_MS));

function vmRun(context: TestContext): VmRun {
  requireOrSkip(context, unavailable);
  return run!;
}

function results(context: TestContext): JobResult[] {
  return vmRun(context).results as JobResult[];
}

function outcomeOf(context: TestContext, name: string): MemoryScenarioOutcome {
  const result = results(context).find((r): r is Extract<JobResult, { kind: 'scenario' }> => r.kind === 'scenario' && r.name === name);
  expect(result, `scenario ${name} ran in the VM\n${whatTheVmDid(run!)}`).toBeDefined();
  expect(result!.error).toBeUndefined();
  return result!.outcome!;
}

/** The kernel's own line for the kill, in the VM's log as dmesg printed it. */
function expectInKernelLog(outcome: MemoryScenarioOutcome, pid: number, comm: string): void {
  const prefix = outcome.cgroup ? 'Memory cgroup out of memory' : 'Out of memory';
  expect(run!.kernelLog).toContain(`${prefix}: Killed process ${pid} (${comm})`);
}

function expectNeverKilledByKernel(pid: number): void {
  expect(run!.kernelLog).not.toMatch(new RegExp(`Killed process ${pid} \\(`));
}

/** The victim's resident memory when it was killed, from the kernel's line: anon + file + shmem, as the kernel counts it. */
function residentBytesAtKill(line: string): number {
  const kb = (field: string): number => Number(new RegExp(`${field}:(\\d+)kB`).exec(line)![1]);
  return (kb('anon-rss') + kb('file-rss') + kb('shmem-rss')) * 1024;
}

describe(`a VM: Linux 6.1, pure cgroup v2, ${VM_MEMORY_MB} MB of RAM, no swap`, () => {
  it('boots, runs every scenario and powers itself off within 2 minutes', (context) => {
    const vm = vmRun(context);
    expect(vm.timedOut, whatTheVmDid(vm)).toBe(false);
    expect(vm.jobExitCode, whatTheVmDid(vm)).toBe(0);
    const environment = results(context).find((r) => r.kind === 'environment');
    expect(environment).toMatchObject({ swapTotalKb: 0, cgroupV1Mounted: false });
    expect((environment as { rootSubtreeControl: string }).rootSubtreeControl.split(' ')).toContain('memory');
    expect(results(context).filter((r) => r.kind === 'scenario')).toHaveLength(scenarios.length);
    expect(results(context).find((r) => r.kind === 'follow-up'), 'the cgroup job ran to its end').toMatchObject({ exit: 0 });
    const timings = `boot ${vm.timings.bootMs} ms, scenarios ${vm.timings.jobMs} ms, total ${vm.timings.totalMs} ms`;
    if (process.env.PROCGUARD_VM_VERBOSE) console.log(`vm: ${timings}`);
    context.annotate(timings);
  });

  describe('an agent holding 250 MB and a growing child, in a 400 MB cgroup v2', () => {
    it('with procguard, the kernel OOM-kills the child; the agent survives and reports its SIGKILL', (context) => {
      const outcome = outcomeOf(context, 'cgroup/procguard');
      expect(outcome.cgroup?.version).toBe(2);
      expectChildKilledAgentSurvived(outcome, { kernelLogRequired: true });
      expectInKernelLog(outcome, outcome.child!.pid, 'pg-balloon');
    });

    it('with node:child_process, the kernel OOM-kills the agent', (context) => {
      const outcome = outcomeOf(context, 'cgroup/node:child_process');
      expect(outcome.cgroup?.version).toBe(2);
      expectAgentKilled(outcome, { kernelLogRequired: true });
      expectInKernelLog(outcome, outcome.agent.pid!, 'pg-agent');
    });
  });

  describe('an agent holding 500 MB and a growing child, no cgroup limit: the whole VM runs out of memory', () => {
    it('with procguard, the kernel OOM-kills the child; the agent survives and reports its SIGKILL', (context) => {
      const outcome = outcomeOf(context, 'global/procguard');
      expect(outcome.cgroup).toBeNull();
      expectChildKilledAgentSurvived(outcome, { kernelLogRequired: true });
      expectInKernelLog(outcome, outcome.child!.pid, 'pg-balloon');
    });

    it('with node:child_process, the kernel OOM-kills the agent', (context) => {
      const outcome = outcomeOf(context, 'global/node:child_process');
      expect(outcome.cgroup).toBeNull();
      expectAgentKilled(outcome, { kernelLogRequired: true });
      expectInKernelLog(outcome, outcome.agent.pid!, 'pg-agent');
    });
  });

  describe('an agent that protects itself with protectSelf(), holding 600 MB, with a daemon and a growing child, no cgroup limit: the whole VM runs out of memory', () => {
    it("protectSelf() sets the agent's oom_score_adj from 0 to -1000, as status() and /proc/self/oom_score_adj show", (context) => {
      const { protection } = outcomeOf(context, 'global/protectSelf').agent;
      expect(protection).toEqual({
        applied: true,
        previous: 0,
        oomScoreAdj: PROTECTED_OOM_SCORE_ADJ,
        error: null,
        statusOomScoreAdj: PROTECTED_OOM_SCORE_ADJ,
        procOomScoreAdj: PROTECTED_OOM_SCORE_ADJ,
        defaultChild: expect.anything(),
      });
    });

    it('after protectSelf(), a child spawned with the defaults gets oom_score_adj 0, an ordinary process', (context) => {
      const outcome = outcomeOf(context, 'global/protectSelf');
      // A running `sleep`, read from outside through /proc/<pid>/oom_score_adj.
      expect(outcome.agent.protection!.defaultChild!.oomScoreAdj).toBe(CHILD_OF_PROTECTED_AGENT_OOM_SCORE_ADJ);
      // The balloon, read by itself.
      expect(outcome.child!.oomScoreAdj).toBe(CHILD_OF_PROTECTED_AGENT_OOM_SCORE_ADJ);
    });

    it("a protected agent (protectSelf) is never the OOM killer's victim; its children are", (context) => {
      const outcome = outcomeOf(context, 'global/protectSelf');
      expect(outcome.cgroup).toBeNull();
      expectChildKilledAgentSurvived(outcome, { kernelLogRequired: true, agentProtected: true });
      expectInKernelLog(outcome, outcome.child!.pid, 'pg-balloon');
      expectNeverKilledByKernel(outcome.agent.pid!);
      // The agent was the biggest process when the kernel chose, and still was not chosen.
      expect(outcome.agent.heldBytes!).toBeGreaterThan(residentBytesAtKill(outcome.kernelKills![0].line));
    });

    it("a daemon spawned with oomScoreAdj: 'inherit' keeps the agent's protection and outlives the OOM", (context) => {
      const outcome = outcomeOf(context, 'global/protectSelf');
      expect(outcome.daemon, JSON.stringify(outcome, null, 1)).toEqual({
        pid: expect.any(Number),
        oomScoreAdj: PROTECTED_OOM_SCORE_ADJ,
        aliveAfterChildExit: true,
      });
      expectNeverKilledByKernel(outcome.daemon!.pid);
    });
  });
});

describeCgroupScenariosInVm(
  (context) => results(context).filter((r): r is Extract<JobResult, { kind: 'cgroup' }> => r.kind === 'cgroup'),
  () => run!.kernelLog,
);
