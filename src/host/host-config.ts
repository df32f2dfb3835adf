import { z } from 'zod';

/**
 * What this host offers tasks. Every value is optional: unset, it is read from
 * the machine (CPUs and memory from the kernel, disk from the filesystem under
 * `engineDataRoot`, bandwidth from the link speed of the NIC carrying the
 * default route), less the matching reservation for the OS, dockerd and the
 * executor. A value set here is taken as is, without the reservation.
 */
export const hostConfigSchema = z
  .object({
    /** CPUs tasks may use in total. */
    cpu: z.number().positive().optional(),
    /** MiB of memory tasks may use in total. */
    memoryMb: z.number().int().positive().optional(),
    /** MiB of disk tasks may use in total. */
    diskMb: z.number().int().positive().optional(),
    /** Mbps of bandwidth tasks may use in total; 0 turns bandwidth accounting off. */
    networkMbps: z.number().int().nonnegative().optional(),
    /** Taken off the detected CPU count. */
    reservedCpu: z.number().nonnegative().default(0),
    /** Taken off the detected memory: dockerd, the executor and the OS need some. */
    reservedMemoryMb: z.number().int().nonnegative().default(512),
    /** Taken off the detected disk size. */
    reservedDiskMb: z.number().int().nonnegative().default(0),
    /** The engine's data root (container layers); disk is measured on its filesystem when it exists here. */
    engineDataRoot: z.string().min(1).default('/var/lib/docker'),
  })
  .strict();

export type HostConfig = z.infer<typeof hostConfigSchema>;
