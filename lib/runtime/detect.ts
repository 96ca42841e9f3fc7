// Which JavaScript runtime procguard runs in. Bun and Deno load Node-API addons and provide
// node:child_process, but not Node's internals: no ProcessWrap handle to swap under a
// ChildProcess, and a libuv that is partial (Deno: no uv_signal_*) or stubs that abort (Bun).
export type RuntimeName = 'node' | 'bun' | 'deno';

export interface Runtime {
  name: RuntimeName;
  /** The runtime's own version ('1.4.5' for Bun, '2.9.6' for Deno, process.version's digits for Node). */
  version: string;
  /** What its users see: 'Bun 1.4.5'. */
  label: string;
}

let detected: Runtime | undefined;

export function currentRuntime(): Runtime {
  if (detected) return detected;
  const versions = process.versions as Record<string, string | undefined>;
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno;
  if (versions.bun) detected = { name: 'bun', version: versions.bun, label: `Bun ${versions.bun}` };
  else if (deno) {
    const version = versions.deno ?? deno.version?.deno ?? 'unknown';
    detected = { name: 'deno', version, label: `Deno ${version}` };
  } else detected = { name: 'node', version: versions.node ?? 'unknown', label: `Node ${process.version}` };
  return detected;
}

/** Node's ChildProcess can carry procguard's handle; elsewhere procguard builds its own. */
export function runtimeIsNode(): boolean {
  return currentRuntime().name === 'node';
}
