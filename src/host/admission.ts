import { ExecutorError } from '../common/errors.js';

/** Amounts of the host's resources, as admission counts them (the core's TaskResources has this shape). */
export interface ResourceAmounts {
  readonly cpu: number;
  readonly memoryMb: number;
  readonly diskMb: number;
  readonly networkMbps: number;
  readonly gpus: number;
}
import type { HostTotals } from './host-inventory.js';

type Accounted = keyof HostTotals;

const UNIT: Readonly<Record<Accounted, string>> = { cpu: 'CPUs', memoryMb: 'MiB', diskMb: 'MiB', networkMbps: 'Mbps' };
/** A total of 0 for these means "unknown": nothing is accounted. CPU and memory are always known. */
const MAY_BE_UNKNOWN: ReadonlySet<Accounted> = new Set(['diskMb', 'networkMbps']);
const ACCOUNTED: readonly Accounted[] = ['cpu', 'memoryMb', 'diskMb', 'networkMbps'];
/** Fractional CPUs add up with rounding error (0.1 + 0.2); a millionth of a CPU is no overcommit. */
const EPSILON = 1e-6;

const amount = (n: number, r: Accounted): string => `${Number(n.toFixed(3))} ${UNIT[r]}`;

/** The sum of what tasks hold; the caller passes the tasks that have not ended. */
export const sumResources = (held: Iterable<ResourceAmounts>): ResourceAmounts => {
  const sum = { cpu: 0, memoryMb: 0, diskMb: 0, networkMbps: 0, gpus: 0 };
  for (const r of held) {
    sum.cpu += r.cpu;
    sum.memoryMb += r.memoryMb;
    sum.diskMb += r.diskMb;
    sum.networkMbps += r.networkMbps;
    sum.gpus += r.gpus;
  }
  return sum;
};

/**
 * Whether a task fits next to the ones already here. More than the host has
 * at all is the request's fault (INVALID_ARGUMENT: it never fits here, send it
 * elsewhere); more than is free now is RESOURCE_EXHAUSTED (it may fit later).
 * GPUs are the GPU part's to grant, with locks shared across processes.
 */
export const checkFits = (asked: ResourceAmounts, allocated: ResourceAmounts, totals: HostTotals): void => {
  const accounted = ACCOUNTED.filter((r) => !(MAY_BE_UNKNOWN.has(r) && totals[r] === 0));
  for (const r of accounted) {
    if (asked[r] > totals[r] + EPSILON) {
      throw new ExecutorError('INVALID_ARGUMENT', `resources.${r}: ${amount(asked[r], r)} is more than this host has (${amount(totals[r], r)} for tasks)`, {
        field: `resources.${r}`,
      });
    }
  }
  for (const r of accounted) {
    const free = Math.max(0, totals[r] - allocated[r]);
    if (asked[r] > free + EPSILON) {
      throw new ExecutorError(
        'RESOURCE_EXHAUSTED',
        `resources.${r}: asked for ${amount(asked[r], r)} but only ${amount(free, r)} of ${amount(totals[r], r)} are free; retry when tasks end, or on another host`,
        { field: `resources.${r}` },
      );
    }
  }
};

/** Total less allocated, never below zero (tasks from before a config change may hold more). */
export const availableResources = (totals: ResourceAmounts, allocated: ResourceAmounts): ResourceAmounts => ({
  cpu: Math.max(0, Number((totals.cpu - allocated.cpu).toFixed(6))),
  memoryMb: Math.max(0, totals.memoryMb - allocated.memoryMb),
  diskMb: Math.max(0, totals.diskMb - allocated.diskMb),
  networkMbps: Math.max(0, totals.networkMbps - allocated.networkMbps),
  gpus: Math.max(0, totals.gpus - allocated.gpus),
});
