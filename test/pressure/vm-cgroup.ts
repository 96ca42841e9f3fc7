// Per-child cgroups (options.cgroup) on a pure cgroup v2 kernel: the assertions on what
// vm-jobs/cgroup-scenarios.cjs observed in the VM. The job runs in the same boot as the memory
// scenarios (one VM run for everything): vm-memory.test.ts starts it and calls
// describeCgroupScenariosInVm() with a way to get its results.
import * as path from 'node:path';
import { describe, expect, it, TestContext } from 'vitest';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const MB = 2 ** 20;

/** Where the job and the fixtures it uses go in the VM (they require 'procguard' from /project). */
export const GUEST_JOB_DIR = '/project/.vm-job';
export const CGROUP_JOB_GUEST = `${GUEST_JOB_DIR}/cgroup-scenarios.cjs`;

/**
 * A cgroup-agent.cjs spawn that prints its oom_score_adj and nice value (busybox has no bare
 * `nice`: the nice value is field 19 of /proc/self/stat), for the container and systemd tests.
 */
export const PRIORITIES_SPAWN = { command: 'sh', args: ['-c', 'cat /proc/self/oom_score_adj; cut -d" " -f19 /proc/self/stat'] };

/** A cgroup-agent.cjs spawn of the balloon in a cgroup of its own, capped at `memoryMax`. */
export const cappedBalloonSpawn = (memoryMax: string) => ({
  command: '/bin/node',
  args: [`${GUEST_JOB_DIR}/cgroup-balloon.cjs`, '{}'],
  options: { cgroup: { memoryMax } },
});

/** The `files` for runNodeScriptInVm(): guest path to host path. */
export function cgroupJobFiles(): Record<string, string> {
  const files: Record<string, string> = { [CGROUP_JOB_GUEST]: path.join(__dirname, 'vm-jobs', 'cgroup-scenarios.cjs') };
  for (const name of ['cgroup-balloon.cjs', 'cgroup-agent.cjs', 'cgroup-fork-many.cjs']) files[`${GUEST_JOB_DIR}/${name}`] = path.join(FIXTURES, name);
  return files;
}

interface Verdict {
  cause: 'cgroup-limit' | 'system';
  confidence: 'certain' | 'likely';
  evidence: string[];
  kernelLine?: string;
}

interface ChildRun {
  pid: number;
  code: number | null;
  signal: string | null;
  oomKill: Verdict | null;
  resourceUsage: Record<string, number> | null;
  cgroup: { dirs: string[]; v2Dir: string | null; memory: { version: number; dir: string } | null } | null;
  balloon: Record<string, any>[];
}

interface AgentSpawn {
  pid?: number;
  code?: number | null;
  signal?: string | null;
  status?: number | null;
  thrown?: { code: string; message: string };
  cgroup?: ChildRun['cgroup'];
  oomKill?: Verdict | null;
  resourceUsage?: Record<string, number> | null;
}

interface AgentResult {
  pid: number;
  cgroupsAtStart: string;
  cgroupsAtEnd: string;
  spawns: AgentSpawn[];
  logs: { level: string; message: string; fields?: Record<string, unknown> }[];
}

type Scenario = Record<string, any> & { kind: 'cgroup'; name: string; ms: number; error?: string };

/**
 * The cgroup scenarios' tests. `results` gives the job's `{kind: 'cgroup'}` results (skipping the
 * test when the VM cannot run here, as vm-memory.test.ts decides) and `kernelLog` the VM's dmesg.
 */
export function describeCgroupScenariosInVm(results: (context: TestContext) => Scenario[], kernelLog: () => string): void {
  function scenario(context: TestContext, name: string): Scenario {
    const found = results(context).find((r) => r.name === name);
    expect(found, `cgroup scenario ${name} ran in the VM`).toBeDefined();
    expect(found!.error, `cgroup scenario ${name}`).toBeUndefined();
    return found!;
  }

  function expectNoOomGroupKillOf(pid: number): void {
    expect(kernelLog()).not.toMatch(new RegExp(`Killed process ${pid} \\(`));
  }

  describe('per-child cgroups (options.cgroup) on cgroup v2', () => {
    it('the job ran every scenario and left no procguard-<pid>-* cgroup behind', (context) => {
      const timings = results(context).filter((r) => typeof r.ms === 'number').map((r) => `${r.name === 'logs' ? 'whole job' : r.name} ${r.ms} ms`).join(', ');
      if (process.env.PROCGUARD_VM_VERBOSE) console.log(`vm: cgroup scenarios: ${timings}`);
      context.annotate(timings);
      const names = ['ancestor', 'leftovers200', 'agents', 'errors', 'cap', 'oomGroupFalse', 'shell', 'killTree', 'usageCpu', 'pidsMax', 'cpuWeight', 'killNine', 'sync', 'usageMemory', 'global'];
      expect(results(context).map((r) => r.name)).toEqual(expect.arrayContaining(names));
      for (const name of names) scenario(context, name); // each without an error
      expect(scenario(context, 'logs').left).toEqual([]);
    });

    describe('the cap: a balloon over its 64M memoryMax', () => {
      it('runs in its own cgroup with memory.max 64M, memory.swap.max 0, memory.oom.group 1, never memory.high', (context) => {
        const { files, cgroup, pid } = scenario(context, 'cap');
        expect(cgroup.memory.version).toBe(2);
        expect(files).toMatchObject({ 'memory.max': String(64 * MB), 'memory.swap.max': '0', 'memory.high': 'max', 'memory.oom.group': '1' });
        expect(files.procCgroup).toBe(`0::/${path.basename(cgroup.memory.dir)}`);
        expect(cgroup.dirs).toEqual([cgroup.memory.dir]);
        expect(pid).toBeGreaterThan(0);
      });

      it("is SIGKILLed; the verdict is its own cap ('cgroup-limit') from memory.events: oom, max and oom_kill >= 1, memory.peak at the cap", (context) => {
        const run = scenario(context, 'cap') as unknown as ChildRun;
        expect([run.code, run.signal]).toEqual([null, 'SIGKILL']);
        expect(run.oomKill).toMatchObject({ cause: 'cgroup-limit', confidence: 'certain' });
        expect(run.oomKill!.kernelLine).toMatch(new RegExp(`^Memory cgroup out of memory: Killed process ${run.pid} \\(`));
        const u = run.resourceUsage!;
        expect(u.memory_events_oom).toBeGreaterThanOrEqual(1);
        expect(u.memory_events_max).toBeGreaterThanOrEqual(1);
        expect(u.memory_events_oom_kill).toBeGreaterThanOrEqual(1);
        // oomGroup: the balloon and its grandchild went in one group kill.
        expect(u.memory_events_oom_group_kill).toBeGreaterThanOrEqual(1);
        expect(u.memory_peak_bytes).toBeGreaterThan(0.97 * 64 * MB);
        expect(u.memory_peak_bytes).toBeLessThanOrEqual(64 * MB);
        for (const field of ['psi_memory_some', 'psi_memory_full', 'psi_cpu_some', 'psi_io_some', 'cpu_usage_usec']) expect(typeof u[field], field).toBe('number');
      });

      it('oomGroup (the default): the grandchild it forked before ballooning dies with it; the cgroup is removed', (context) => {
        const { grandchildren, grandchildrenGone, removed } = scenario(context, 'cap');
        expect(grandchildren).toHaveLength(1);
        expect(grandchildrenGone).toBe(true);
        expect(kernelLog()).toMatch(new RegExp(`Killed process ${grandchildren[0]} \\(sleep\\)`));
        expect(removed).toBe(true);
      });

      it('oomGroup: false: only the balloon dies, its grandchild lives on (and the cgroup goes once it is gone)', (context) => {
        const run = scenario(context, 'oomGroupFalse');
        expect(run.files['memory.oom.group']).toBe('0');
        expect([run.code, run.signal]).toEqual([null, 'SIGKILL']);
        expect(run.oomKill).toMatchObject({ cause: 'cgroup-limit' });
        expect(run.resourceUsage.memory_events_oom_group_kill).toBe(0);
        expect(run.grandchildren).toHaveLength(1);
        expect(run.grandchildrenAlive).toEqual(run.grandchildren);
        expectNoOomGroupKillOf(run.grandchildren[0]);
        expect(run.dirExistsWhileGrandchildLives).toBe(true);
        expect(run.removedAfterGrandchild).toBe(true);
      });

      it("a shell whose command is OOM-killed: memory.oom.group takes the shell and its sleep too; the verdict is 'cgroup-limit'", (context) => {
        const run = scenario(context, 'shell');
        expect(run.signal).toBe('SIGKILL');
        expect(run.oomKill).toMatchObject({ cause: 'cgroup-limit', confidence: 'certain' });
        expect(run.sleeperGone).toBe(true);
      });

      it('spawnSync: the cap, the verdict and the resource usage (not among the result\'s keys)', (context) => {
        const r = scenario(context, 'sync');
        expect([r.status, r.signal]).toEqual([null, 'SIGKILL']);
        expect(r.oomKill).toMatchObject({ cause: 'cgroup-limit', confidence: 'certain' });
        expect(r.resourceUsage.memory_events_oom).toBeGreaterThanOrEqual(1);
        expect(r.resourceUsage.memory_peak_bytes).toBeGreaterThan(0.97 * 64 * MB);
        expect(r.keys).toEqual(['output', 'pid', 'signal', 'status', 'stderr', 'stdout']);
      });
    });

    describe("'system': OOM-killed without its own cap being the reason", () => {
      it("a child capped at 1G in an agent confined to 300 MB (memory.max) is killed at the agent's limit: 'system' (its memory.events oom is 0)", (context) => {
        const { result, agentCgroup, left, code } = scenario(context, 'ancestor') as { result: AgentResult; agentCgroup: string; left: string[]; code: number };
        expect(code).toBe(0);
        const [capped] = result.spawns;
        expect([capped.code, capped.signal]).toEqual([null, 'SIGKILL']);
        // The agent moved itself into a leaf so that its cgroup could give children the memory controller.
        expect(result.cgroupsAtEnd.trim()).toBe(`0::/${path.basename(agentCgroup)}/procguard-agent-${result.pid}`);
        expect(capped.cgroup!.memory!.dir).toBe(`${agentCgroup}/procguard-${result.pid}-1`);
        expect(capped.oomKill).toMatchObject({ cause: 'system', confidence: 'certain' });
        expect(capped.oomKill!.kernelLine).toMatch(new RegExp(`^Memory cgroup out of memory: Killed process ${capped.pid} \\(`));
        expect(capped.resourceUsage!.memory_events_oom).toBe(0);
        expect(capped.resourceUsage!.memory_events_oom_kill).toBeGreaterThanOrEqual(1);
        expect(capped.resourceUsage!.memory_peak_bytes).toBeLessThan(300 * MB);
        expect(left).toEqual([]);
      });

      it("a child without its own cgroup that the kernel OOM-kills (the agent's limit): 'system', with the kernel's line", (context) => {
        const { result } = scenario(context, 'ancestor') as { result: AgentResult };
        const uncapped = result.spawns[1];
        expect([uncapped.code, uncapped.signal]).toEqual([null, 'SIGKILL']);
        expect(uncapped.cgroup).toBeNull();
        expect(uncapped.oomKill).toMatchObject({ cause: 'system', confidence: 'certain' });
        expect(uncapped.oomKill!.kernelLine).toMatch(new RegExp(`^Memory cgroup out of memory: Killed process ${uncapped.pid} \\(`));
      });

      it("a child capped at 2G, more than the VM's RAM, in a machine-wide OOM: 'system', with the kernel's line", (context) => {
        const child = scenario(context, 'global') as unknown as ChildRun & { memTotalBytes: number };
        expect(child.memTotalBytes).toBeLessThan(2 * 1024 * MB);
        expect([child.code, child.signal]).toEqual([null, 'SIGKILL']);
        expect(child.cgroup!.memory!.version).toBe(2);
        expect(child.oomKill).toMatchObject({ cause: 'system', confidence: 'certain' });
        expect(child.oomKill!.kernelLine).toMatch(new RegExp(`^Out of memory: Killed process ${child.pid} \\(`));
        expect(child.oomKill!.evidence.join('\n')).toContain('machine-wide OOM');
        expect(child.resourceUsage!.memory_events_oom).toBe(0);
        expect(child.resourceUsage!.memory_peak_bytes).toBeLessThan(child.memTotalBytes);
      });

      it('a plain kill -9, with its own cgroup or without: oomKill null', (context) => {
        const { withCgroup, without } = scenario(context, 'killNine');
        expect([withCgroup.signal, without.signal]).toEqual(['SIGKILL', 'SIGKILL']);
        expect(withCgroup.oomKill).toBeNull();
        expect(without.oomKill).toBeNull();
        expect(withCgroup.resourceUsage.memory_events_oom_kill).toBe(0);
      });
    });

    it('killTree(): cgroup.kill leaves no process of the tree; the cgroup is removed', (context) => {
      const run = scenario(context, 'killTree');
      expect(run.pids).toHaveLength(3);
      expect(run.pids).toContain(run.shellPid);
      expect(run.signal).toBe('SIGKILL');
      expect(run.gone).toBe(true);
      expect(run.removed).toBe(true);
    });

    describe('resource usage', () => {
      it('a child that touches 300 MB in a 1G cap: memory.peak and maxRssBytes between 300 and 400 MB, memory.events all 0', (context) => {
        const run = scenario(context, 'usageMemory');
        expect(run.code).toBe(0);
        expect(run.oomKill).toBeNull();
        const u = run.resourceUsage;
        expect(u.memory_peak_bytes).toBeGreaterThan(300 * MB);
        expect(u.memory_peak_bytes).toBeLessThan(400 * MB);
        expect(u.maxRssBytes).toBeGreaterThan(300 * MB);
        expect(u.maxRssBytes).toBeLessThan(400 * MB);
        for (const field of ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill']) expect(u[`memory_events_${field}`], field).toBe(0);
      });

      it('a child that burns ~0.5 s of CPU: userCpuMicros and cpu_usage_usec say so', (context) => {
        const u = scenario(context, 'usageCpu').resourceUsage;
        expect(u.userCpuMicros).toBeGreaterThanOrEqual(500_000);
        // Under emulation node's own startup costs more CPU than on the host.
        expect(u.userCpuMicros + u.systemCpuMicros).toBeLessThan(4_000_000);
        expect(Math.abs(u.cpu_usage_usec - (u.userCpuMicros + u.systemCpuMicros))).toBeLessThan(150_000);
        expect(u.wallMicros).toBeGreaterThanOrEqual(500_000);
      });
    });

    it('pidsMax 20: a child that tries to start 50 `sleep 5` gets at most 20 tasks; the rest fail with EAGAIN', (context) => {
      const { outcome, pids, signal } = scenario(context, 'pidsMax');
      expect(pids.max).toBe('20');
      expect(pids.current).toBeLessThanOrEqual(20);
      expect(outcome.started + outcome.tasks).toBeLessThanOrEqual(20);
      expect(outcome.started).toBeGreaterThan(0);
      expect(outcome.failed).toBe(50 - outcome.started);
      expect(outcome.codes).toEqual(['EAGAIN']);
      expect(signal).toBe('SIGKILL'); // killTree() ended it
    });

    it('cpuWeight 50 writes cpu.weight 50', (context) => {
      expect(scenario(context, 'cpuWeight').weight).toBe('50');
    });

    describe('no cgroup is left behind', () => {
      it('after 200 spawns, once they exited', (context) => {
        const r = scenario(context, 'leftovers200');
        expect(r.made).toBe(200);
        expect(r.distinct).toBe(200);
        expect(r.missingAtSpawn).toBe(0);
        expect(r.removed).toBe(true);
        expect(r.left).toEqual([]);
      });

      it("a dead agent's leftovers are removed by the next agent's first cgroup spawn; that agent, exiting from its last child's 'exit', leaves none", (context) => {
        const r = scenario(context, 'agents');
        expect(r.aSignal).toBe('SIGKILL');
        expect(r.orphanGone).toBe(true);
        expect(r.leftovers).toHaveLength(1);
        expect(r.leftBeforeNextAgent).toEqual(r.leftovers);
        expect(r.bCode).toBe(0);
        expect(r.leftAfterNextAgent).toEqual([]);
        expect(r.bDirs).toHaveLength(3);
        expect(r.bExisting).toEqual([]);
        expect(r.bLeft).toEqual([]);
      });
    });

    describe('errors', () => {
      it('bad values name the option, the value and the range', (context) => {
        const { invalid } = scenario(context, 'errors');
        expect(invalid.memoryMax).toEqual({
          code: 'ERR_INVALID_ARG_VALUE',
          message: `The property 'options.cgroup.memoryMax' must be a number of bytes or a size like '512M' or '2G'. Received 'lots'`,
        });
        expect(invalid.pidsMax).toEqual({ code: 'ERR_OUT_OF_RANGE', message: 'The value of "options.cgroup.pidsMax" is out of range. It must be an integer >= 1 && <= 4194304. Received 0' });
        expect(invalid.cpuWeight.code).toBe('ERR_INVALID_ARG_TYPE');
      });

      it("configure({ cgroupParent }) refuses a path that does not exist or is not a cgroup v2 directory", (context) => {
        const { configureErrors } = scenario(context, 'errors');
        expect(configureErrors['/nonexistent']).toEqual({
          code: 'ERR_INVALID_ARG_VALUE',
          message: "The property 'options.cgroupParent' must be an existing cgroup v2 directory the agent can write; it cannot be used (ENOENT). Received '/nonexistent'",
        });
        expect(configureErrors['/proc'].message).toContain('is not a cgroup directory');
      });

      it("a cgroupParent gone by the spawn: required gives ERR_PROCGUARD_CGROUP_UNAVAILABLE with why and the fix; required: false runs uncapped and says why once", (context) => {
        const { spawns, warnings, gone } = scenario(context, 'errors');
        const [required, optional, optionalSync] = spawns;
        expect(required.thrown?.code).toBe('ERR_PROCGUARD_CGROUP_UNAVAILABLE');
        expect(required.thrown?.message).toBe(`procguard: cannot create a cgroup for the child: configure({ cgroupParent }) ${gone} cannot be used (ENOENT); fix: give a writable cgroup v2 directory`);
        expect(optional).toMatchObject({ code: 0, signal: null, cgroup: null });
        expect(optional.resourceUsage).not.toHaveProperty('memory_peak_bytes');
        expect(optionalSync).toMatchObject({ status: 0, cgroup: null });
        expect(warnings).toHaveLength(1);
        expect(String(warnings[0].fields?.reason)).toContain(gone);
      });
    });
  });
}
