/**
 * Whether the engine can hold a container's writable layer to a size
 * (`HostConfig.StorageOpt.size`), or the task's disk can only be accounted
 * against the host's capacity.
 *
 * Which storage drivers can (Docker 20.10): overlay2 (and vfs) only over xfs
 * mounted with project quota (`pquota`, shown as `prjquota`), btrfs (a qgroup
 * per container), zfs (a dataset quota), devicemapper (the thin device's size).
 * The start-time answer comes from the engine's Info and, for xfs, the data
 * root's mount options when that path is on this host; the engine's answer to
 * the first create with a size confirms or overturns it (DiskQuotaTracker).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export type DiskQuotaMode = 'enforced' | 'accounted' | 'unknown';

export interface DiskQuotaSupport {
  /**
   * enforced: a task's disk size limits its container's writable layer;
   * accounted: the size only counts against the host's capacity;
   * unknown: not known until the engine answers a create with a size.
   */
  readonly mode: DiskQuotaMode;
  /** Why, in words an operator can act on. */
  readonly reason: string;
  readonly storageDriver: string;
  /** The filesystem under the driver, where the engine says (overlay2's "Backing Filesystem"); '' otherwise. */
  readonly backingFilesystem: string;
  /** True once the engine itself accepted or refused a size on a container create. */
  readonly confirmed: boolean;
}

/** What a runtime that cannot tell (a test fake) answers. */
export const UNKNOWN_DISK_QUOTA: DiskQuotaSupport = {
  mode: 'unknown',
  reason: 'the container runtime does not say whether it enforces a size',
  storageDriver: '',
  backingFilesystem: '',
  confirmed: false,
};

/** The part of the engine's `GET /info` this reads; anything else in it is ignored. */
export const engineStorageInfoSchema = z.object({
  Driver: z.string().default(''),
  DriverStatus: z.array(z.array(z.string())).nullish(),
  DockerRootDir: z.string().default(''),
});
export type EngineStorageInfo = z.infer<typeof engineStorageInfoSchema>;

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
const unescapeMountField = (field: string): string => field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));

export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  /** Per-mount and superblock options together. */
  readonly options: readonly string[];
}

/** The mount that holds `path` (the longest mount point that is a prefix of it), from /proc/self/mountinfo text. */
export const mountHolding = (mountinfo: string, path: string): MountEntry | undefined => {
  let best: MountEntry | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 4) continue;
    const mountPoint = unescapeMountField(fields[4] ?? '');
    const under = mountPoint === '/' || path === mountPoint || path.startsWith(`${mountPoint}/`);
    // Later lines mount over earlier ones at the same point: >= keeps the last.
    if (!under || (best !== undefined && mountPoint.length < best.mountPoint.length)) continue;
    const options = [...(fields[5] ?? '').split(','), ...(fields[dash + 3] ?? '').split(',')];
    best = { mountPoint, fsType: fields[dash + 1] ?? '', options };
  }
  return best;
};

/** xfs shows enforced project quota as `prjquota` (mounted with pquota, prjquota or pqenforce). */
const hasProjectQuota = (options: readonly string[]): boolean => options.some((o) => o === 'prjquota' || o === 'pquota' || o === 'pqenforce');

/** This host's mounts; undefined where /proc cannot be read. */
export const readMountinfo = (): string | undefined => {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
};

const XFS_RULE = 'the engine limits a container to a size only on xfs mounted with pquota';

/** The start-time answer, from the engine's Info and (for xfs) the data root's mount as this host sees it. */
export const classifyStorage = (info: EngineStorageInfo, mountinfo: string | undefined): DiskQuotaSupport => {
  const driver = info.Driver;
  const backing = (info.DriverStatus ?? []).find((kv) => kv[0] === 'Backing Filesystem')?.[1] ?? '';
  const answer = (mode: DiskQuotaMode, reason: string): DiskQuotaSupport => ({ mode, reason, storageDriver: driver, backingFilesystem: backing, confirmed: false });
  switch (driver) {
    case 'overlay2':
    case 'overlay':
    case 'vfs':
      return xfsAnswer(info, backing, mountinfo, answer);
    case 'btrfs':
      return answer('enforced', 'storage driver btrfs: a qgroup limit on each container subvolume');
    case 'zfs':
      return answer('enforced', 'storage driver zfs: a quota on each container dataset');
    case 'devicemapper':
      return answer('enforced', 'storage driver devicemapper: each container gets a thin device of its size');
    default:
      return answer('unknown', `storage driver ${driver === '' ? '(none given)' : driver}: the first container create with a size tells`);
  }
};

const xfsAnswer = (
  info: EngineStorageInfo,
  backing: string,
  mountinfo: string | undefined,
  answer: (mode: DiskQuotaMode, reason: string) => DiskQuotaSupport,
): DiskQuotaSupport => {
  const driver = info.Driver;
  // overlay2 names its backing filesystem (extfs, xfs, ...); vfs does not, so its data root's mount decides.
  if (backing !== '' && backing !== 'xfs') return answer('accounted', `storage driver ${driver} on ${backing}: ${XFS_RULE}`);
  const mount = mountinfo === undefined || info.DockerRootDir === '' ? undefined : mountHolding(mountinfo, info.DockerRootDir);
  if (mount === undefined) return answer('unknown', `storage driver ${driver}: ${XFS_RULE}; the data root is not on this host, the first container create tells`);
  if (mount.fsType !== 'xfs') return answer('accounted', `storage driver ${driver}: data root ${info.DockerRootDir} is on ${mount.fsType}; ${XFS_RULE}`);
  if (!hasProjectQuota(mount.options)) {
    return answer('accounted', `storage driver ${driver}: xfs at ${mount.mountPoint} is mounted without pquota; ${XFS_RULE}`);
  }
  return answer('enforced', `storage driver ${driver} on xfs with project quota (${mount.mountPoint})`);
};

/**
 * The engine's words when it cannot limit a container's size (overlay2 and
 * vfs without xfs pquota, drivers with no size option at all). Any other
 * refusal (a size below a driver's minimum) is the task's own error.
 */
export const isStorageSizeUnsupported = (message: string): boolean =>
  /--storage-opt is supported only for|storage[- ]opt(ion)?s? (is |are )?not supported|storage option .*only supported for/i.test(message);

/**
 * The cached answer for one engine: detected on first need, confirmed by the
 * engine's answer to a create with a size, forgotten when the engine goes away
 * (it may come back on another data root or driver).
 */
export class DiskQuotaTracker {
  private detected: Promise<DiskQuotaSupport> | undefined;
  /** The engine's own verdict since the last detection; it wins over what Info suggested. */
  private verdict: DiskQuotaSupport | undefined;

  constructor(private readonly readInfo: () => Promise<EngineStorageInfo>) {}

  async current(): Promise<DiskQuotaSupport> {
    if (this.verdict !== undefined) return this.verdict;
    this.detected ??= this.readInfo()
      .then((info) => classifyStorage(info, readMountinfo()))
      .catch((err: unknown) => {
        this.detected = undefined; // an unreachable engine is asked again next time
        throw err;
      });
    return this.verdict ?? (await this.detected);
  }

  /** Whether the next create should ask for a size: not once the engine has refused one. */
  shouldLimit(): boolean {
    return this.verdict?.mode !== 'accounted';
  }

  /** The engine created a container with a size limit. */
  async accepted(): Promise<void> {
    const base = await this.current().catch(() => undefined);
    this.verdict = {
      mode: 'enforced',
      reason: base?.mode === 'enforced' ? base.reason : 'the engine accepted a size limit on a container',
      storageDriver: base?.storageDriver ?? '',
      backingFilesystem: base?.backingFilesystem ?? '',
      confirmed: true,
    };
  }

  /** The engine refused a size limit with `message`: from now on the disk is only accounted. */
  async refused(message: string): Promise<void> {
    const base = await this.current().catch(() => undefined);
    this.verdict = {
      mode: 'accounted',
      reason: `the engine refused a size limit: ${message}`,
      storageDriver: base?.storageDriver ?? '',
      backingFilesystem: base?.backingFilesystem ?? '',
      confirmed: true,
    };
  }

  /** The engine went away: it is detected afresh when it is back. */
  forget(): void {
    this.detected = undefined;
    this.verdict = undefined;
  }
}
