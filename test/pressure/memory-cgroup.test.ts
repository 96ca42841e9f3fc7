// On this machine, under a real memory cgroup limit (v1 or v2, whichever the host has): an
// agent holding 250 MB spawns a child that grows until the 400 MB limit, and the kernel's
// OOM killer picks. With procguard it picks the child; with node:child_process, the agent.
import { beforeAll, describe, it } from 'vitest';
import { findMemoryHierarchy } from '../../lib/pressure/cgroup-hierarchy';
import { MB, runMemoryScenario } from '../../lib/pressure/scenario';
import { expectAgentKilled, expectChildKilledAgentSurvived } from './expect-outcome';
import { memoryCgroupMissing, requireOrSkip } from './requirements';

const LIMIT = 400 * MB;
const AGENT_HOLDS = 250 * MB;

const hierarchy = findMemoryHierarchy();
const version = 'version' in hierarchy ? `cgroup v${hierarchy.version}` : 'no memory cgroup';

describe(`an agent holding 250 MB and a growing child, in a 400 MB memory cgroup on this machine (${version})`, () => {
  let missing: string | null = null;
  beforeAll(async () => {
    missing = await memoryCgroupMissing();
  });

  it('with procguard, the kernel OOM-kills the child; the agent survives and reports its SIGKILL', async (context) => {
    requireOrSkip(context, missing);
    const outcome = await runMemoryScenario({ spawnModule: 'procguard', cgroupLimitBytes: LIMIT, agentHoldBytes: AGENT_HOLDS });
    expectChildKilledAgentSurvived(outcome, { kernelLogRequired: false });
  });

  it('with node:child_process, the kernel OOM-kills the agent', async (context) => {
    requireOrSkip(context, missing);
    const outcome = await runMemoryScenario({ spawnModule: 'node:child_process', cgroupLimitBytes: LIMIT, agentHoldBytes: AGENT_HOLDS });
    expectAgentKilled(outcome, { kernelLogRequired: false });
  });
});
