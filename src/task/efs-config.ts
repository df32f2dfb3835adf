import { posix } from 'node:path';
import { z } from 'zod';

/**
 * ContainerInfo.efsConfigInfo: the EFS / NFS mounts a task asks for, checked
 * the way Titus treated them (docs/volumes.md): `efsFsId` is an EFS id
 * (`fs-…`, reached at `<id>.efs.<region>.<domain>`) or else an NFS server's
 * host name or IPv4 address; `mntPerms` RW=1, RO=2, WO=3, absent = RW; an
 * empty relative path is the export's root. Anything the executor could not
 * honour exactly is refused here (INVALID_ARGUMENT naming the field), so a
 * task never runs without a volume it asked for.
 */

/** An EFS file system id, which Titus turned into the EFS DNS name. */
export const EFS_ID_RE = /^fs-[0-9a-f]+$/;
/** An NFS server named directly: a DNS name or an IPv4 address (no port, no comma, nothing mount(8) would read as options). */
const NFS_HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** More mounts than any real job had; a longer list is a client's mistake. */
export const MAX_EFS_MOUNTS = 32;

/** The numbers agent.proto gives MountPerms; a decoder with `enums: String` gives the names. */
const PERMS_BY_NUMBER: Readonly<Record<number, MountPerms>> = { 1: 'RW', 2: 'RO', 3: 'WO' };
export type MountPerms = 'RW' | 'RO' | 'WO';

/**
 * Paths the engine or the executor itself mounts in every container (or the
 * kernel's own filesystems): a volume there would hide them or be hidden.
 * A mount point under one of the first group, or equal to or above one of the
 * second, is refused.
 */
const SYSTEM_TREES = ['/proc', '/sys', '/dev'] as const;
const SYSTEM_FILES = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'] as const;

const isUnder = (path: string, tree: string): boolean => path === tree || path.startsWith(`${tree}/`);

/** Why `mountPoint` cannot take a volume, or undefined when it can. */
const mountPointProblem = (mountPoint: string): string | undefined => {
  if (mountPoint === '') return 'is required (an absolute path inside the container)';
  if (!mountPoint.startsWith('/')) return `must be an absolute path inside the container, not ${JSON.stringify(mountPoint)}`;
  if (/[\0\n]/.test(mountPoint)) return 'must not contain NUL or newline characters';
  if (mountPoint.split('/').some((p) => p === '..' || p === '.')) return `must not contain "." or ".." components (${JSON.stringify(mountPoint)})`;
  const normal = normalMountPoint(mountPoint);
  if (normal === '/') return 'must not be / (the container\'s root filesystem)';
  for (const tree of SYSTEM_TREES) if (isUnder(normal, tree)) return `must not be ${tree} or under it: the kernel's or the engine's filesystem is mounted there`;
  for (const file of SYSTEM_FILES) if (isUnder(file, normal)) return `must not be ${normal}: it would hide ${file}, which the executor mounts in every container`;
  return undefined;
};

/** `/data//x/` → `/data/x`: how the engine would see it, so duplicates are found. */
export const normalMountPoint = (mountPoint: string): string => {
  const n = posix.normalize(mountPoint);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
};

/** The export's path: empty means `/` (as Titus did); always absolute, never climbing out. */
const exportPathProblem = (path: string): string | undefined => {
  if (/[\0\n,]/.test(path)) return 'must not contain NUL, newline or comma characters';
  if (path.split('/').some((p) => p === '..')) return `must not contain ".." components (${JSON.stringify(path)})`;
  return undefined;
};

export const exportPathOf = (relative: string | undefined): string => {
  if (relative === undefined || relative === '') return '/';
  return posix.normalize(relative.startsWith('/') ? relative : `/${relative}`);
};

const efsEntrySchema = z
  .object({
    efsFsId: z
      .string({ error: 'is required (an EFS file system id fs-… or an NFS server name)' })
      .min(1, 'is required (an EFS file system id fs-… or an NFS server name)')
      .refine((id) => EFS_ID_RE.test(id) || NFS_HOST_RE.test(id), 'must be an EFS file system id (fs- and hex digits) or an NFS server host name or IPv4 address'),
    mountPoint: z.string({ error: 'is required (an absolute path inside the container)' }).superRefine((p, ctx) => {
      const problem = mountPointProblem(p);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    }),
    mntPerms: z
      .union([z.enum(['RW', 'RO', 'WO']), z.number()])
      .optional()
      .superRefine((v, ctx) => {
        if (typeof v === 'number' && PERMS_BY_NUMBER[v] === undefined) {
          ctx.addIssue({ code: 'custom', message: `must be RW (1), RO (2) or WO (3), not ${v}` });
        }
      }),
    efsFsRelativeMntPoint: z
      .string()
      .optional()
      .superRefine((p, ctx) => {
        const problem = p === undefined ? undefined : exportPathProblem(p);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
  })
  .strip();

export const efsConfigInfoSchema = z
  .array(efsEntrySchema)
  .max(MAX_EFS_MOUNTS, `must have at most ${MAX_EFS_MOUNTS} entries`)
  .superRefine((entries, ctx) => {
    const seen = new Map<string, number>();
    for (const [i, e] of entries.entries()) {
      const at = normalMountPoint(e.mountPoint);
      const first = seen.get(at);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'mountPoint'], message: `${at} is already the mount point of entry ${first}` });
      else seen.set(at, i);
    }
  });

export type EfsConfigEntry = z.infer<typeof efsEntrySchema>;

/** One volume as the executor mounts it. */
export interface EfsMount {
  /** `fs-…` (an EFS id) or an NFS server's name. */
  readonly fsId: string;
  /** Absolute path on the server. */
  readonly exportPath: string;
  /** Absolute, normalised path inside the container. */
  readonly mountPoint: string;
  /** RO only; RW and WO both mount read-write, as under Titus. */
  readonly readOnly: boolean;
  /** The field it came from, for messages. */
  readonly field: string;
}

const permsOf = (v: EfsConfigEntry['mntPerms']): MountPerms => (v === undefined ? 'RW' : typeof v === 'number' ? (PERMS_BY_NUMBER[v] ?? 'RW') : v);

/** The task's volumes from an already validated ContainerInfo. */
export const efsMountsOf = (info: { efsConfigInfo?: readonly EfsConfigEntry[] | undefined }): EfsMount[] =>
  (info.efsConfigInfo ?? []).map((e, i) => ({
    fsId: e.efsFsId,
    exportPath: exportPathOf(e.efsFsRelativeMntPoint),
    mountPoint: normalMountPoint(e.mountPoint),
    readOnly: permsOf(e.mntPerms) === 'RO',
    field: `containerInfo.efsConfigInfo.${i}`,
  }));
