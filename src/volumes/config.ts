import { z } from 'zod';

/**
 * EFS and NFS mounts for tasks (docs/volumes.md). The executor mounts each
 * volume on the host under `<mountDir>/<taskId>/<n>` before the task's
 * container is created, bind-mounts it into the container, and unmounts it
 * when the task ends (or when a restart finds it belongs to no live task).
 */
export const volumesConfigSchema = z
  .object({
    /** The mount program and any leading arguments; it is given `-t nfs4 -o <options> <server>:<path> <dir>`. */
    mountCommand: z.array(z.string().min(1)).min(1).default(['mount']),
    /** The unmount program and any leading arguments; it is given the directory. */
    unmountCommand: z.array(z.string().min(1)).min(1).default(['umount']),
    /** Where volumes are mounted on the host, one directory per task. Not on a filesystem the tasks can write. */
    mountDir: z.string().startsWith('/').default('/run/titus-executor/volumes'),
    /** The region in `<fsId>.efs.<region>.<domain>`; EFS ids are refused while it is unset. Defaults to $AWS_REGION. */
    efsRegion: z.string().regex(/^[a-z0-9-]*$/).default(process.env['AWS_REGION'] ?? ''),
    /** The DNS domain EFS mount targets are under. */
    efsDomain: z.string().regex(/^[a-z0-9.-]+$/).default('amazonaws.com'),
    /**
     * NFS options, as Titus and AWS mount EFS: NFSv4.1, 1 MiB reads and writes,
     * hard mounts with a 60 s timeout and 2 retransmissions, a non-reserved
     * source port (so a reconnect after a network change does not wait for one).
     * `ro` or `rw` is added per volume.
     */
    nfsOptions: z
      .array(z.string().regex(/^[A-Za-z0-9_.=:-]+$/, 'one option per entry, without commas'))
      .default(['nfsvers=4.1', 'rsize=1048576', 'wsize=1048576', 'hard', 'timeo=600', 'retrans=2', 'noresvport']),
    /** How long one mount or unmount may take before it is given up (and the task fails). */
    mountTimeoutMs: z.number().int().positive().default(120_000),
  })
  .strict();

export type VolumesConfig = z.infer<typeof volumesConfigSchema>;
