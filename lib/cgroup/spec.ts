// The `cgroup` spawn option: validated, with sizes as bytes ('512M', '2G' accepted).
import { invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { ownOptions } from '../own-options';
import { booleanOr, integerIn } from '../validate';

export interface CgroupOptions {
  /** Hard memory cap: bytes, or a size like '512M', '2G'. The command is OOM-killed above it. */
  memoryMax?: number | string;
  /** Swap the child may use: 0 by default (a cap with swap is a slow cap), or 'max'. */
  memorySwapMax?: number | string;
  /** Most processes and threads in the child's tree. */
  pidsMax?: number;
  /** CPU weight, 1..10000 (100 is the default of every cgroup). */
  cpuWeight?: number;
  /**
   * IO weight, 1..10000 (100 is the default): cgroup v2 io.weight (io.bfq.weight), v1 blkio.weight
   * (blkio.bfq.weight, 1..1000). Written only where the io/blkio controller is available; a
   * warning says so otherwise, and the child still gets its cgroup.
   */
  ioWeight?: number;
  /** An OOM kill takes the whole command tree, not one random grandchild. Default true. */
  oomGroup?: boolean;
  /**
   * false: where no cgroup can be made, or the kernel refuses the child's join of it, run uncapped
   * with a warning instead of failing. Default true: the spawn fails (a refused join with the kernel's errno).
   */
  required?: boolean;
}

export interface CgroupSpec {
  memoryMax?: number;
  /** Infinity: no limit. */
  memorySwapMax: number;
  pidsMax?: number;
  cpuWeight?: number;
  ioWeight?: number;
  oomGroup: boolean;
  required: boolean;
}

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Bytes from a number or a size string ('512M', '1.5G', '64KiB'); `allowMax` also takes 'max'. */
export function parseSize(value: unknown, name: string, allowMax = false): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, `a whole number of bytes >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, value);
    return value;
  }
  if (typeof value !== 'string') throw invalidArgType(name, 'of type number or string', value);
  if (allowMax && value.trim() === 'max') return Infinity;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(value);
  if (!match) {
    throw invalidArgValue(name, value, `must be a number of bytes or a size like '512M' or '2G'${allowMax ? ", or 'max'" : ''}`);
  }
  const bytes = Math.floor(Number(match[1]) * UNITS[match[2].toUpperCase()]);
  // Beyond 2^53 a number of bytes is no longer exact (and the kernel takes none near it).
  if (!Number.isSafeInteger(bytes)) throw outOfRange(name, `a size of at most ${Number.MAX_SAFE_INTEGER} bytes (8191T)`, value);
  return bytes;
}

/** The validated spec, or undefined when no cgroup was asked for. */
export function cgroupSpecOf(option: unknown): CgroupSpec | undefined {
  if (option === undefined || option === null || option === false) return undefined;
  if (typeof option !== 'object' || Array.isArray(option)) throw invalidArgType('options.cgroup', 'of type object', option);
  const o = ownOptions(option as CgroupOptions);
  const spec: CgroupSpec = {
    memorySwapMax: o.memorySwapMax === undefined ? 0 : parseSize(o.memorySwapMax, 'options.cgroup.memorySwapMax', true),
    oomGroup: booleanOr(o.oomGroup, 'options.cgroup.oomGroup', true),
    required: booleanOr(o.required, 'options.cgroup.required', true),
  };
  if (o.memoryMax !== undefined) {
    spec.memoryMax = parseSize(o.memoryMax, 'options.cgroup.memoryMax');
    // Below a few pages the kernel cannot even start the command: a clear error beats an OOM at exec.
    if (spec.memoryMax < 1024 * 1024) throw outOfRange('options.cgroup.memoryMax', ">= 1M (1048576 bytes)", o.memoryMax);
  }
  if (o.pidsMax !== undefined) spec.pidsMax = integerIn(o.pidsMax, 'options.cgroup.pidsMax', 1, 4194304);
  if (o.cpuWeight !== undefined) spec.cpuWeight = integerIn(o.cpuWeight, 'options.cgroup.cpuWeight', 1, 10000);
  if (o.ioWeight !== undefined) spec.ioWeight = integerIn(o.ioWeight, 'options.cgroup.ioWeight', 1, 10000);
  return spec;
}
