import { z } from 'zod';

/**
 * The packet filter's config, for the executor's config file (proposed
 * place: `network.local.packetFilter`). Maps onto createPacketFilter's options.
 */
export const packetFilterConfigSchema = z
  .object({
    /** auto: the native addon, else tc + bpftool; addon / tc: only that path; off: no filter. */
    mode: z.enum(['auto', 'addon', 'tc', 'off']).default('auto'),
    /** When no path works, run networked tasks without the filter instead of refusing them. */
    allowUnfiltered: z.boolean().default(false),
    /** The compiled eBPF object; default build/bpf/filter.o next to the app. */
    objectPath: z.string().min(1).optional(),
    /** TCP port to the metadata addresses that passes to the proxy's redirect. */
    proxyPort: z.number().int().min(0).max(65535).default(80),
  })
  .strict();

export type PacketFilterConfig = z.infer<typeof packetFilterConfigSchema>;
