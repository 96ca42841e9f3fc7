// The ES module face (dist/esm/index.d.mts) and procguard/register, as a TypeScript user imports
// them: compiled with `tsc --noEmit` by test/types.test.ts.
import 'procguard/register';
import { exec, spawnSync, type AppliedPriority } from 'procguard';
import { promisify } from 'node:util';

const { stdout } = await promisify(exec)('ls', { oomScoreAdj: 900 });
const text: string = stdout;
const priority: AppliedPriority = spawnSync('ls', { nice: 1 }).priority;
void [text, priority];
// @ts-expect-error oomScoreAdj is a number or 'inherit'
exec('ls', { oomScoreAdj: [] });
