// The directory of procguard's own package.json: where the addon (build/, prebuilds/) and the
// shipped scripts are, whether this code runs from lib/ (tests) or dist/cjs/ (installed).
import * as fs from 'node:fs';
import * as path from 'node:path';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'procguard') return (root = dir);
    } catch {
      // no package.json here: keep looking upwards
    }
    if (path.dirname(dir) === dir) throw new Error(`procguard's package.json not found above ${__dirname}`);
  }
}
