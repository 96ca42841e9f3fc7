// procguard's published declarations give TypeScript users node:child_process's overloads (typed
// callbacks, util.promisify, stdio-dependent streams, sync results by encoding) with procguard's
// options and `priority` added: test/types/* compiles under strict, and its @ts-expect-error lines
// (wrong option types, wrong result types) are still errors.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));

describe('type declarations', () => {
  it('compile a strict TypeScript program using procguard as node:child_process (tsc --noEmit)', () => {
    const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'test', 'types', 'tsconfig.json')], { cwd: repo, encoding: 'utf8', timeout: 120000 });
    expect(r.error).toBeUndefined();
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});
