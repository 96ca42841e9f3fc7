// TypeScript, module/moduleResolution node16, an ES module: `import` resolves procguard's
// "import" condition (dist/esm/index.mjs, types dist/esm/index.d.mts).
import procguard, { execFileSync, spawn, status } from 'procguard';
import type { GuardedChildProcess, GuardedSpawnOptions, PrioritySetting, Status } from 'procguard';
import 'procguard/register';

const env = { PATH: '/usr/bin:/bin' };
const options: GuardedSpawnOptions = { oomScoreAdj: 500, nice: 7, env };
// @ts-expect-error: oomScoreAdj is a number or 'inherit'
const wrong: GuardedSpawnOptions = { oomScoreAdj: 'high' };
const setting: PrioritySetting = 'inherit';
const st: Status = status();
const same: typeof spawn = procguard.spawn;

const out = String(execFileSync('sh', ['-c', 'cat /proc/self/oom_score_adj; cut -d" " -f19 /proc/self/stat'], options));
const child: GuardedChildProcess = spawn('sh', ['-c', 'exit 0'], options);
child.on('close', (code: number | null) => {
  const ok = code === 0 && out.trim() === '500\n7' && child.priority.oomScoreAdj === 500 && same === spawn;
  console.log(JSON.stringify({ ok, consumer: 'ts-node16 (esm)', out, native: st.native, wrong: typeof wrong, setting }));
  if (!ok) process.exitCode = 1;
});
