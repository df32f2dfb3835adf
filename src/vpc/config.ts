import { z } from 'zod';
import { familyOf, isValidAddress, isValidCidr } from './addresses.js';
import { packetFilterConfigSchema } from './bpf/config.js';

/**
 * The `network` section of the executor config. Everything has a default
 * except what only the operator can know (security groups, AWS subnet), so
 * `networkConfigSchema.parse({})` gives a working local driver.
 */

const cidrString = z.string().refine(isValidCidr, { message: 'must be a CIDR block such as 10.0.0.0/8' });

const cidrOfFamily = (family: 4 | 6, minPrefix: number, maxPrefix: number) =>
  cidrString.refine(
    (cidr) => {
      const prefix = Number(cidr.slice(cidr.indexOf('/') + 1));
      return familyOf(cidr) === family && prefix >= minPrefix && prefix <= maxPrefix;
    },
    { message: `must be an IPv${family} CIDR block with a prefix length from /${minPrefix} to /${maxPrefix}` },
  );

const addressString = z.string().refine(isValidAddress, { message: 'must be an IP address' });

const port = z.number().int().min(1).max(65535);

export const securityGroupRuleSchema = z
  .object({
    protocol: z.enum(['tcp', 'udp', 'icmp']),
    /** Inclusive [from, to]; absent = every port. */
    ports: z
      .tuple([port, port])
      .refine(([from, to]) => from <= to, { message: 'ports must be [from, to] with from <= to' })
      .optional(),
    /** Peer addresses (source for ingress, destination for egress); IPv4 and IPv6 may be mixed. */
    cidrs: z.array(cidrString).min(1),
  })
  .refine((rule) => rule.protocol !== 'icmp' || rule.ports === undefined, {
    message: 'icmp rules take no ports',
    path: ['ports'],
  });

export const securityGroupSchema = z.object({
  ingress: z.array(securityGroupRuleSchema).default([]),
  egress: z.union([z.literal('allow-all'), z.array(securityGroupRuleSchema)]).default('allow-all'),
});

export const securityGroupCatalogSchema = z.record(z.string().min(1), securityGroupSchema);

const interfaceName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, { message: 'must be a network interface name' });

/**
 * Source NAT of the pools through one host interface, so local tasks reach
 * what the host reaches (docs/networking.md). Off by default: tasks of the
 * local driver reach the host and each other only.
 */
export const egressConfigSchema = z.object({
  /** nftables masquerade of the task pools on `interface`; security groups' egress rules still apply first. */
  masquerade: z.boolean().default(false),
  /** The host interface tasks' traffic leaves through; default: the device of the host's IPv4 default route at start. */
  interface: interfaceName.optional(),
});

export const localNetworkConfigSchema = z.object({
  /** The eBPF filter on each task's host-side veth: anti-spoofing and metadata isolation (docs/ebpf.md). */
  packetFilter: packetFilterConfigSchema.prefault({}),
  /** Task IPv4 pool; its first usable address is the gateway every host-side veth carries. */
  ipv4Cidr: cidrOfFamily(4, 8, 30).default('198.18.0.0/16'),
  /** Task IPv6 pool; tasks that want IPv6 fail with FAILED_PRECONDITION when absent. */
  ipv6Cidr: cidrOfFamily(6, 48, 126).optional(),
  /** Addresses inside the pools never handed out (besides network, broadcast and gateway). */
  reservedAddresses: z.array(addressString).default([]),
  /**
   * A network namespace name (under /run/netns) to use as "the host" instead of
   * the executor's own. For tests and for hosts that keep task routing out of
   * the root namespace.
   */
  hostNetns: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .optional(),
  /** The host's link speed: bandwidth accounting total and default bursting ceiling. */
  bandwidthMbpsTotal: z.number().int().positive().default(10_000),
  /** HTB ceil for tasks with allowBursting; default bandwidthMbpsTotal. */
  burstCeilMbps: z.number().int().positive().optional(),
  mtu: z.number().int().min(1280).max(65_535).default(1500),
  securityGroups: securityGroupCatalogSchema.default({}),
  /** Used when a spec names no security group; empty = such a spec is refused. */
  defaultSecurityGroups: z.array(z.string().min(1)).default([]),
  /** Where leases are persisted (JSON, atomic writes); absent = memory only. */
  leaseFile: z.string().min(1).optional(),
  commandTimeoutMs: z.number().int().positive().default(10_000),
  egress: egressConfigSchema.prefault({}),
});

export const awsEniConfigSchema = z.object({
  region: z.string().min(1).default('us-east-1'),
  /** Overrides the EC2 endpoint (tests point it at a local fake). */
  endpoint: z.url().optional(),
  /** Subnet the task ENIs are created in. */
  subnetId: z.string().min(1),
  /** This host's instance id (EC2_INSTANCE_ID / IMDS). */
  instanceId: z.string().min(1),
  /** Device index for the first task ENI; index 0 is the instance's primary interface. */
  firstDeviceIndex: z.number().int().min(1).default(1),
  /** Per-instance-type ENI limit minus the primary interface; also the IPv4 total for available(). */
  maxTaskEnis: z.number().int().positive().default(14),
  /** SDK attempts per call; throttling (RequestLimitExceeded) is retried with the SDK's back-off. */
  maxAttempts: z.number().int().min(1).max(20).default(6),
  bandwidthMbpsTotal: z.number().int().positive().default(10_000),
  /** Tag marking ENIs this executor created, so GC never touches anything else. */
  ownerTag: z.string().min(1).default('titus-executor:owner'),
  ownerTagValue: z.string().min(1).default('titus-executor'),
  mtu: z.number().int().min(1280).max(9001).default(9001),
  /** How long to wait for an attached ENI's NIC to show up on the host, and for a detach to finish. */
  deviceWaitMs: z.number().int().positive().default(30_000),
  detachWaitMs: z.number().int().positive().default(60_000),
  pollIntervalMs: z.number().int().positive().default(250),
  /** As for the local driver: a namespace standing in for the host (tests). */
  hostNetns: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .optional(),
  commandTimeoutMs: z.number().int().positive().default(10_000),
});

export const networkConfigSchema = z
  .object({
    driver: z.enum(['local', 'aws-eni']).default('local'),
    local: localNetworkConfigSchema.prefault({}),
    awsEni: awsEniConfigSchema.optional(),
  })
  .refine((config) => config.driver !== 'aws-eni' || config.awsEni !== undefined, {
    message: 'driver aws-eni needs the awsEni section',
    path: ['awsEni'],
  });

/**
 * The executor's `network` section: which driver gives tasks their network,
 * the driver's own section, and the per-task sandbox container that holds the
 * task's network namespace. `driver: none` (the default) keeps tasks on
 * Docker's network mode `none` with no sandbox at all.
 */
export const sandboxConfigSchema = z.object({
  /** A statically linked busybox (Debian's busybox-static); the pause image is built from it at first need. */
  busyboxPath: z.string().min(1).default('/bin/busybox'),
  /** Image reference for the pause image; default `titus-executor/pause:<executor version>`. */
  image: z
    .string()
    .regex(/^[a-z0-9]+(?:[._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, { message: 'must be REPOSITORY:TAG' })
    .optional(),
  memoryMb: z.number().int().min(6).default(16),
  /** How long network setup (sandbox, attach) may take before the task fails. */
  setupTimeoutMs: z.number().int().positive().default(60_000),
});

export const executorNetworkConfigSchema = z
  .object({
    driver: z.enum(['none', 'local', 'aws-eni']).default('none'),
    local: localNetworkConfigSchema.prefault({}),
    awsEni: awsEniConfigSchema.optional(),
    sandbox: sandboxConfigSchema.prefault({}),
    /**
     * How often the driver's leftovers no task owns (veths, rules, leases,
     * ENIs) are collected while running, besides at start; 0 = only at start.
     */
    gcIntervalSeconds: z.number().int().min(0).default(600),
  })
  .refine((config) => config.driver !== 'aws-eni' || config.awsEni !== undefined, {
    message: 'driver aws-eni needs the awsEni section',
    path: ['awsEni'],
  });

export type SecurityGroupRule = z.infer<typeof securityGroupRuleSchema>;
export type SecurityGroup = z.infer<typeof securityGroupSchema>;
export type SecurityGroupCatalog = z.infer<typeof securityGroupCatalogSchema>;
export type LocalNetworkConfig = z.infer<typeof localNetworkConfigSchema>;
export type EgressConfig = z.infer<typeof egressConfigSchema>;
export type AwsEniConfig = z.infer<typeof awsEniConfigSchema>;
export type NetworkConfig = z.infer<typeof networkConfigSchema>;
export type SandboxConfig = z.infer<typeof sandboxConfigSchema>;
export type ExecutorNetworkConfig = z.infer<typeof executorNetworkConfigSchema>;
