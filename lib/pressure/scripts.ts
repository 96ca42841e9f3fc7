// The scenario scripts shipped in the installed procguard package.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../package-root';

/** A built scenario script (dist/cjs/pressure/<name>.js); the scripts run as programs, so they come from dist. */
export function pressureScript(name: 'agent-main' | 'balloon-main'): string {
  const file = path.join(packageRoot(), 'dist', 'cjs', 'pressure', `${name}.js`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: build procguard first (npm run build:ts)`);
  return file;
}
