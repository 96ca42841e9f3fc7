// The JSON lines the balloon and the agent print on stdout, one event per line.

export interface BalloonConfig {
  stepBytes: number;
  stepIntervalMs: number;
  /** The balloon stops here whatever happens: it is a test load, not a fork bomb. */
  maxBytes: number;
}

export type BalloonEvent =
  | { event: 'balloon-started'; pid: number; oomScoreAdj: number; nice: number; confinedBy: string }
  | { event: 'balloon-grew'; bytes: number }
  | { event: 'balloon-refused'; reason: string }
  | { event: 'balloon-capped'; bytes: number }
  | { event: 'balloon-orphaned'; bytes: number };

export type SpawnModuleName = 'procguard' | 'node:child_process';

export interface AgentConfig {
  spawnModule: SpawnModuleName;
  holdBytes: number;
  balloonScript: string;
  balloon: BalloonConfig;
  /** The agent calls procguard's protectSelf() first thing, before it holds memory or spawns. */
  protectSelf?: boolean;
  /** The agent also spawns a daemon (a `sleep`) with oomScoreAdj: 'inherit' before the balloon. */
  daemon?: boolean;
}

export type AgentEvent =
  | {
      event: 'agent-protected';
      /** What protectSelf() returned. */
      applied: boolean;
      previous: number | null;
      oomScoreAdj: number;
      error: string | null;
      /** status().agent.oomScoreAdj and /proc/self/oom_score_adj, read right after. */
      statusOomScoreAdj: number | null;
      procOomScoreAdj: number;
    }
  /** A `sleep` spawned with the defaults after protectSelf(), its /proc/<pid>/oom_score_adj read while it ran. */
  | { event: 'default-child-checked'; pid: number; oomScoreAdj: number }
  /** The daemon (`sleep`, oomScoreAdj: 'inherit'), its /proc/<pid>/oom_score_adj read while it ran. */
  | { event: 'daemon-started'; pid: number; oomScoreAdj: number }
  /** After the balloon ended: whether the daemon was still running, and its score then. */
  | { event: 'daemon-checked'; pid: number; alive: boolean; oomScoreAdj: number | null }
  | { event: 'agent-ready'; pid: number; oomScoreAdj: number; nice: number; heldBytes: number }
  | { event: 'child-started'; pid: number; oomScoreAdj: number; nice: number }
  | {
      event: 'child-exit';
      pid: number;
      code: number | null;
      signal: string | null;
      balloonPeakBytes: number;
      /** What the balloon said last, e.g. balloon-refused. */
      balloonLastEvent: string | null;
      msSinceSpawn: number;
    }
  | { event: 'agent-error'; message: string };

/** Parses one line as an event; null for anything else (a stray log line). */
export function parseEventLine<T extends { event: string }>(line: string): T | null {
  if (!line.startsWith('{')) return null;
  try {
    const value = JSON.parse(line) as T;
    return value && typeof value.event === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** Calls `onLine` per complete line of a text stream. */
export function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (pending) onLine(pending);
  });
}
