// TypeScript, moduleResolution bundler: resolves procguard's "import" condition as a bundler
// (Vite, esbuild, webpack) would. The emitted ES module is run by Node as it is.
import { execFileSync, spawnSync, type GuardedSpawnSyncOptions, type Status, status } from 'procguard';

const options: GuardedSpawnSyncOptions = { oomScoreAdj: 500, nice: 7, env: { PATH: '/usr/bin:/bin' } };
// @ts-expect-error: nice is a number or 'inherit'
const wrong: GuardedSpawnSyncOptions = { nice: true };
const st: Status = status();
const out = String(execFileSync('sh', ['-c', 'cat /proc/self/oom_score_adj; cut -d" " -f19 /proc/self/stat'], options));
const sync = spawnSync('true', [], options);
const ok = out.trim() === '500\n7' && sync.status === 0;
console.log(JSON.stringify({ ok, consumer: 'ts-bundler', out, native: st.native, wrong: typeof wrong }));
if (!ok) process.exitCode = 1;
