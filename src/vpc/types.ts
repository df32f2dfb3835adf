/**
 * The one interface the runtime composes: a NetworkDriver gives a task's
 * sandbox network namespace an address, routes, bandwidth limits and security
 * groups, and takes them away again.
 */

export interface NetworkSpec {
  readonly taskId: string;
  /** Names or ids that map to rule sets from config (local) or to EC2 security groups (aws-eni). */
  readonly securityGroups: readonly string[];
  /** 0 = unlimited. */
  readonly bandwidthMbps: number;
  readonly allowBursting: boolean;
  readonly wantIpv6: boolean;
  readonly hostname: string;
  /**
   * Ports to publish on the host's addresses, as the passthrough attribute
   * `titus.executor.publishedPorts` gives them (`8080:80,5353:53/udp`); the
   * driver parses and refuses (published-ports.ts). Local driver only.
   */
  readonly publishedPorts?: string;
}

/** Persisted with the task (JSON-serialisable); everything detach and restore need. */
export interface NetworkAttachment {
  taskId: string;
  driver: string;
  ipv4?: string;
  ipv6?: string;
  prefixLength4?: number;
  gateway4?: string;
  /** Host-side veth name (≤15 chars, derived deterministically from taskId). */
  hostInterface: string;
  mac?: string;
  /** Driver-specific values (eniId, bandwidthMbps, …), all strings. */
  details: Record<string, string>;
}

export interface NetworkAvailability {
  ipv4Free: number;
  ipv4Total: number;
  ipv6Free?: number;
  bandwidthMbpsTotal: number;
  bandwidthMbpsAllocated: number;
}

export interface NetworkDriver {
  readonly name: string;
  /**
   * Everything attach would refuse about the request itself (unknown security
   * groups, IPv6 without a pool), checked without touching anything, so the
   * runtime can refuse before it builds a sandbox. attach checks again.
   */
  validate?(spec: NetworkSpec): void;
  /** Call BEFORE the task's own container starts in `netnsPath`. Leaves nothing behind when it throws. */
  attach(spec: NetworkSpec, netnsPath: string, signal?: AbortSignal): Promise<NetworkAttachment>;
  /** Idempotent; tries every piece and throws one error naming the pieces that failed. */
  detach(attachment: NetworkAttachment): Promise<void>;
  /** After an executor restart: re-derive leases and bandwidth accounting from persisted attachments. */
  restore(attachments: readonly NetworkAttachment[]): Promise<void>;
  /** Remove host-side leftovers no live task owns; returns a description of each thing removed. */
  garbageCollect(liveTaskIds: ReadonlySet<string>): Promise<string[]>;
  available(): NetworkAvailability;
  /**
   * Linux capabilities (as ContainerInfo names them) a task on this driver
   * must not be granted, and why: the aws-eni driver's metadata guard lives in
   * the task's own namespace, where NET_ADMIN could remove it.
   */
  readonly refusedCapabilities?: { readonly names: readonly string[]; readonly why: string };
  /** Lines for GetHostResources' status list (e.g. which packet filter protects tasks). */
  statusLines?(): string[];
}
