import { isIP } from 'node:net';
import { z } from 'zod';

/** `host:port` with a numeric loopback host, e.g. `127.0.0.1:4000` or `[::1]:4000`; port 0 picks a free one (tests). */
const LISTEN_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/;

export interface LoopbackAddress {
  readonly host: string;
  readonly port: number;
}

/** The host and port of a loopback listen address, or undefined when it is not one. */
export const parseLoopbackListen = (address: string): LoopbackAddress | undefined => {
  const m = LISTEN_RE.exec(address);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65_535) return undefined;
  const family = isIP(host);
  if (family === 4 && host.startsWith('127.')) return { host, port };
  if (family === 6 && (host === '::1' || host === '0:0:0:0:0:0:0:1')) return { host, port };
  return undefined;
};

/**
 * `interlink` in the executor config: the interLink plugin API that makes this
 * host a Kubernetes node. No authentication reaches a plugin, so it is served
 * on a unix socket and, optionally, on loopback only; never off-host.
 */
export const interlinkConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** The unix socket interLink's API server calls (its SidecarURL `unix://…`); null: none. */
    socketPath: z.string().min(1).nullable().default('/run/titus-executor/interlink.sock'),
    /** The socket's permissions (unset: 0o660); interLink's API server connects as its own user, so it needs group rw. */
    socketMode: z.number().int().min(0).max(0o777).optional(),
    /** Group given the socket (a name or a gid), e.g. one interLink's `User=interlink` is in; unset keeps root's group. */
    socketGroup: z.string().min(1).optional(),
    /** Optional loopback TCP listener (SidecarURL `http://127.0.0.1`, SidecarPort). */
    listen: z
      .string()
      .refine((s) => parseLoopbackListen(s) !== undefined, 'must be a loopback host:port such as 127.0.0.1:4000 or [::1]:4000')
      .nullable()
      .default(null),
    /** The node's pod capacity reported to Kubernetes. */
    maxPods: z.number().int().positive().default(110),
    /** Before a container is restarted (restartPolicy): kubelet's crash-loop back-off, doubling from initialSeconds up to maxSeconds. */
    restartBackoff: z
      .object({ initialSeconds: z.number().positive().default(10), maxSeconds: z.number().positive().default(300) })
      .refine((b) => b.maxSeconds >= b.initialSeconds, 'maxSeconds must be at least initialSeconds')
      .prefault({}),
  })
  .refine((c) => !c.enabled || c.socketPath !== null || c.listen !== null, 'set socketPath or listen when enabled');

export type InterlinkConfig = z.infer<typeof interlinkConfigSchema>;
