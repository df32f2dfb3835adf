/**
 * What a task's status says about its disk: held to its size by the engine,
 * or only accounted against the host's capacity (runtime/disk-quota.ts).
 */
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { UNKNOWN_DISK_QUOTA, type DiskQuotaSupport } from '../runtime/disk-quota.js';

export type { DiskQuotaSupport } from '../runtime/disk-quota.js';

/** The runtime's answer; a runtime that cannot tell, or an engine that cannot be asked now, is "unknown". */
export const diskQuotaOf = async (runtime: ContainerRuntime): Promise<DiskQuotaSupport> => {
  if (runtime.diskQuota === undefined) return UNKNOWN_DISK_QUOTA;
  return runtime.diskQuota().catch((err: unknown) => ({ ...UNKNOWN_DISK_QUOTA, reason: `the engine could not be asked: ${(err as Error).message}` }));
};

/** The STARTING update after the container is created; none for a task without a disk size. */
export const diskQuotaNote = (diskMb: number, q: DiskQuotaSupport): string | undefined => {
  if (diskMb <= 0) return undefined;
  switch (q.mode) {
    case 'enforced':
      return `disk ${diskMb} MiB: enforced (${q.reason})`;
    case 'accounted':
      return `disk ${diskMb} MiB: accounted only, not enforced (${q.reason})`;
    default:
      return `disk ${diskMb} MiB: accounted; enforcement unknown (${q.reason})`;
  }
};
