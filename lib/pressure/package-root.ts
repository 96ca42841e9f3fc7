// The installed procguard package's directory and the scenario scripts shipped in it.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The directory of procguard's package.json, found from this file (lib/ when run from source, dist/cjs/ when built). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'procguard') return dir;
    } catch {
      // no package.json here
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`procguard's package.json not found above ${__dirname}`);
    dir = parent;
  }
}

/** A built scenario script (dist/cjs/pressure/<name>.js); the scripts run as programs, so they come from dist. */
export function pressureScript(name: 'agent-main' | 'balloon-main'): string {
  const file = path.join(packageRoot(), 'dist', 'cjs', 'pressure', `${name}.js`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: build procguard first (npm run build:ts)`);
  return file;
}
