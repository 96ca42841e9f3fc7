// Node's own child_process functions, captured when procguard is first loaded, before
// install() can replace them: the fallbacks (no addon, not Linux) and uninstall() use these.
import childProcess = require('node:child_process');

export const nodeChildProcess = Object.freeze({
  spawn: childProcess.spawn,
  exec: childProcess.exec,
  execFile: childProcess.execFile,
  fork: childProcess.fork,
  spawnSync: childProcess.spawnSync,
  execSync: childProcess.execSync,
  execFileSync: childProcess.execFileSync,
});
