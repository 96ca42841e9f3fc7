// TypeScript, module/moduleResolution node16, a CommonJS module (.cts): `import = require`
// resolves procguard's "require" condition (dist/cjs/index.js, types dist/cjs/index.d.ts).
import procguard = require('procguard');
import type { GuardedSpawnSyncOptions } from 'procguard';
require('procguard/register');

const options: GuardedSpawnSyncOptions = { oomScoreAdj: 500, nice: 7, env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' };
const result = procguard.spawnSync('sh', ['-c', 'cat /proc/self/oom_score_adj'], options);
const ok = String(result.stdout).trim() === '500' && procguard.isInstalled();
console.log(JSON.stringify({ ok, consumer: 'ts-node16 (cjs)', out: String(result.stdout) }));
if (!ok) process.exitCode = 1;
