import { statfsSync } from 'node:fs';
import { ExecutorError } from '../common/errors.js';

const KiB = 1024;

/** Bytes an unprivileged writer may still write on the filesystem of `path` (f_bavail); undefined when it cannot be asked. */
export const freeBytes = (path: string): number | undefined => {
  try {
    const fs = statfsSync(path, { bigint: true });
    return Number(fs.bavail * fs.bsize);
  } catch {
    return undefined;
  }
};

/**
 * Admission's look at the state directory: a task is only accepted when its
 * records (ACCEPTED, every change, its end) have room. Task output cannot
 * bring it there (logs stop at logs.reserveMb, twice this floor); something
 * else filling the filesystem can, and launches are refused only while it lasts.
 */
export const refuseIfStateDirFull = (dir: string, minFreeBytes: number): void => {
  if (minFreeBytes <= 0) return;
  const free = freeBytes(dir);
  if (free === undefined || free >= minFreeBytes) return;
  throw new ExecutorError(
    'UNAVAILABLE',
    `the state directory ${dir} has ${Math.floor(free / KiB)} KiB free, less than the ${Math.ceil(minFreeBytes / KiB)} KiB kept for task records (half of logs.reserveMb); retry later or launch the task on another host`,
  );
};
