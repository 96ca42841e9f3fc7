// Compiles lib/ to CommonJS in a temporary package so a test can run procguard in a
// separate node process (for effects, like the agent's own oom_score_adj, that must not
// touch the test runner's process). Independent of dist/, which may be mid-build.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';

const repoDir = path.resolve(__dirname, '../..');

/** Whether the native addon has been built in the repository. */
export const addonBuilt = fs.existsSync(path.join(repoDir, 'build/Release/procguard.node'));

/**
 * The directory holding the compiled lib/*.js, laid out as dist/cjs/ of a package so that
 * lib/native.ts finds the addon when `withAddon` (build/ linked from the repository);
 * without it, the addon cannot load and procguard takes its TypeScript fallbacks.
 */
export function compileLib({ withAddon }: { withAddon: boolean }): string {
  const packageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-unit-'));
  const outDir = path.join(packageDir, 'dist', 'cjs');
  fs.mkdirSync(outDir, { recursive: true });
  // lib/package-root.ts finds the package (and so the addon) by its package.json's name.
  fs.writeFileSync(path.join(packageDir, 'package.json'), JSON.stringify({ name: 'procguard', private: true }));
  const compileDir = (relative: string): void => {
    for (const entry of fs.readdirSync(path.join(repoDir, 'lib', relative), { withFileTypes: true })) {
      const name = path.join(relative, entry.name);
      if (entry.isDirectory()) {
        fs.mkdirSync(path.join(outDir, name), { recursive: true });
        compileDir(name);
        continue;
      }
      if (!name.endsWith('.ts') || name.endsWith('.d.ts')) continue;
      const source = fs.readFileSync(path.join(repoDir, 'lib', name), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        fileName: name,
      });
      fs.writeFileSync(path.join(outDir, name.replace(/\.ts$/, '.js')), outputText);
    }
  };
  compileDir('');
  if (withAddon) {
    fs.symlinkSync(path.join(repoDir, 'node_modules'), path.join(packageDir, 'node_modules'));
    fs.symlinkSync(path.join(repoDir, 'build'), path.join(packageDir, 'build'));
  }
  return outDir;
}

export function removeCompiled(outDir: string): void {
  fs.rmSync(path.resolve(outDir, '../..'), { recursive: true, force: true });
}
