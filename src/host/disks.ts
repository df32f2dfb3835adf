import { statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';

export interface DiskUsage {
  /** The path asked about (the state directory, the engine's data root). */
  readonly path: string;
  readonly totalMb: number;
  readonly availableMb: number;
  /** st_dev of the filesystem, so two paths on one filesystem are counted once. */
  readonly device: number;
}

const MiB = 1024 * 1024;

/** The path itself, or its nearest existing ancestor: a state directory may not exist yet. */
const existingAncestor = (path: string): string | undefined => {
  for (let p = path; ; p = dirname(p)) {
    try {
      statSync(p);
      return p;
    } catch {
      if (dirname(p) === p) return undefined;
    }
  }
};

/**
 * Size and free space of the filesystem holding `path`; `availableMb` is what
 * an unprivileged writer gets (f_bavail), as df shows it. Undefined when
 * nothing of the path exists or its filesystem does not answer.
 */
export const diskUsage = (path: string): DiskUsage | undefined => {
  const at = existingAncestor(path);
  if (at === undefined) return undefined;
  try {
    const fs = statfsSync(at, { bigint: true });
    const block = fs.bsize;
    return {
      path,
      totalMb: Number((fs.blocks * block) / BigInt(MiB)),
      availableMb: Number((fs.bavail * block) / BigInt(MiB)),
      device: Number(statSync(at).dev),
    };
  } catch {
    return undefined; // a filesystem that cannot be asked (EACCES, a stale mount) is reported as unknown
  }
};
