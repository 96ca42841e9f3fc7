// Child cgroups made ahead, for bursts of spawns (a build, a test run, an agent's tool loop).
//
// Making a child's cgroup is a mkdir in each hierarchy and a few limit writes (on a hybrid host a
// v1 memory cgroup and a v2 one): a few hundred microseconds, which were on the spawn's path.
// When spawns with the same cgroup options come close together, the next child's cgroup is made
// right after a spawn returns, while that child starts and runs, and the next spawn takes it.
// Only the making moves: the child still joins its cgroup before exec, and a cgroup made ahead
// never held a process, so its counters are the child's own as with one made at the spawn.
//
// It is made on the agent's own thread, in the event loop's check phase, not on the threadpool:
// handing work to another thread costs a wake-up, and on a small machine the woken thread runs on
// the agent's CPU (on the 2-core test host, making and removing on the threadpool left the
// agent's time per spawn in scripts/bench.js where it was, at about 1 ms).
//
// Nothing is kept for an agent that spawns now and then: a cgroup is made ahead only within a
// burst, and one not taken soon is removed. If the options or the parents changed meanwhile, or
// the making failed, the next spawn makes its own cgroup, as without this.
import { info } from '../logger';
import { loadNative } from '../native';
import type { ChildCgroup } from './child-cgroup';

/** Spawns with the same cgroup options this close together are a burst: the next cgroup is made ahead. */
export const BURST_MS = 1000;
/** A cgroup made ahead and not taken within this is removed. */
export const UNTAKEN_MS = 2000;
/** Different cgroup options kept ready at once (the least recently spawned kind goes first). */
const MAX_KINDS = 4;

/** A cgroup made now, and the parents state it was made under (child-cgroup's, compared by identity). */
export interface Made {
  cgroup: ChildCgroup;
  parents: object;
}

/** One kind of cgroup (one set of options) and the one made ahead for it. */
interface Kind {
  key: string;
  lastSpawn: number;
  ready?: Made;
  making?: NodeJS.Immediate;
  untaken?: NodeJS.Timeout;
}

const kinds = new Map<string, Kind>();

/** The cgroup made ahead for `key`, now the caller's, if it was made under `parents`. */
export function takePrepared(key: string, parents: object): ChildCgroup | undefined {
  const kind = kinds.get(key);
  const ready = kind?.ready;
  if (!ready) return undefined;
  drop(kind);
  if (ready.parents === parents) return ready.cgroup;
  ready.cgroup.scheduleRemoval(); // made under parents that changed since
  return undefined;
}

/** A spawn of `key` got its cgroup; within a burst, `make` makes the next one after this spawn. */
export function spawnedWith(key: string, make: () => Made): void {
  const now = Date.now();
  const kind = kinds.get(key) ?? { key, lastSpawn: -Infinity };
  // Most recent last: the first is the one to forget.
  kinds.delete(key);
  kinds.set(key, kind);
  if (kinds.size > MAX_KINDS) forget(kinds.values().next().value!);
  const burst = now - kind.lastSpawn < BURST_MS;
  kind.lastSpawn = now;
  if (!burst || kind.ready || kind.making) return;
  // A ref'd immediate: it runs in the loop's next turn, while the child runs, rather than after
  // the child's exit wakes the loop; it keeps nothing alive after that turn.
  kind.making = setImmediate(() => {
    kind.making = undefined;
    if (kinds.get(key) !== kind) return;
    let made: Made;
    try {
      made = make();
    } catch (err) {
      info('could not make a child cgroup ahead; the next spawn makes its own', { reason: (err as Error).message });
      return;
    }
    // The files the spawn and the exit open: their first open in a new cgroup makes the kernel's
    // dentries and inodes, the costly part, now rather than on their path.
    loadNative().binding?.readFiles([...made.cgroup.joinFiles(), ...Object.values(made.cgroup.counterFiles())]);
    kind.ready = made;
    kind.untaken = setTimeout(() => {
      if (kind.ready !== made) return;
      drop(kind);
      made.cgroup.scheduleRemoval();
    }, UNTAKEN_MS);
    kind.untaken.unref();
  });
}

/** The kind no longer holds its ready cgroup (taken, or about to be removed). */
function drop(kind: Kind): void {
  kind.ready = undefined;
  clearTimeout(kind.untaken);
}

function forget(kind: Kind): void {
  kinds.delete(kind.key);
  if (kind.making) clearImmediate(kind.making);
  const ready = kind.ready;
  drop(kind);
  ready?.cgroup.scheduleRemoval();
}
