import { ExecutorError } from '../common/errors.js';
import { batchLine } from './iproute.js';
import { readSysctl, type SysctlSetting } from './sysctl.js';
import { TASK_INTERFACE } from './naming.js';
import type { ToolContext } from './exec.js';

/**
 * Routed /32 (/128) design, no bridge and no proxy ARP:
 *
 * host netns                                  task netns
 *   tx<hash>  gateway4/32, gateway6/128  <-->  eth0  task4/prefix noprefixroute,
 *   route task4/32 dev tx<hash>                      task6/prefix noprefixroute nodad
 *   route task6/128 dev tx<hash>                     gateway4/32 dev eth0 scope link
 *   forwarding on tx<hash> only                      default via gateway4 (and gateway6)
 *                                                    169.254.169.254/32 via gateway4
 *                                                    fd00:ec2::254/128 via gateway6
 *
 * Every host-side veth carries the same gateway address (the pool's first
 * usable address) as a host route, which Linux allows: the address is local
 * to the host, so each veth answers ARP/ND for it. The task's address has no
 * prefix route, so the task sends everything, including traffic to other
 * tasks in the same pool, to the gateway; the host forwards it through the
 * /32 route of the destination's veth. ARP and ND therefore only ever run
 * between a task and the host, so no proxy ARP is needed and tasks cannot
 * reach each other at layer 2.
 *
 * Forwarding is enabled per interface (net.ipv4.conf.<veth>.forwarding and
 * net.ipv6.conf.<veth>.force_forwarding, Linux 6.17+), never globally, so the
 * executor does not turn the host into a router for its other interfaces.
 */

export interface RoutedAddresses {
  readonly ipv4: string;
  readonly prefixLength4: number;
  readonly gateway4: string;
  readonly ipv6?: string;
  readonly prefixLength6?: number;
  readonly gateway6?: string;
}

export interface MetadataAddresses {
  readonly ipv4: string;
  readonly ipv6: string;
}

/** Each piece of the pair, as batch lines and sysctls (see local-driver.ts for the order they run in). */

/**
 * The task side's MAC address, fixed by the task id rather than random, so
 * the attachment knows it without reading it back: locally administered,
 * unicast (02:…), the rest from the task's name hash.
 */
export const macForTask = (hash: string): string => `02:${(hash.slice(0, 10).match(/../g) ?? []).join(':')}`;

/** Host side, in one ip batch: gateway addresses, link up, host routes to the task. */
export const hostSideBatch = (hostVeth: string, addresses: RoutedAddresses): string[] => [
  batchLine.address(hostVeth, `${addresses.gateway4}/32`),
  ...(addresses.ipv6 !== undefined && addresses.gateway6 !== undefined
    ? [batchLine.address(hostVeth, `${addresses.gateway6}/128`, { noDad: true })]
    : []),
  // Up before its peer: no carrier yet, so IPv6 link-local setup (and its DAD) waits for the task side.
  batchLine.up(hostVeth),
  batchLine.route({ destination: `${addresses.ipv4}/32`, device: hostVeth, source: addresses.gateway4 }),
  ...(addresses.ipv6 !== undefined ? [batchLine.route({ destination: `${addresses.ipv6}/128`, device: hostVeth })] : []),
];

/**
 * Host side sysctls: forwarding on this veth only, and no duplicate address
 * detection (nothing else is on the link). Without DAD off, the host side's
 * link-local address stays tentative for 1-2 s after the task side comes up,
 * and Linux sends no neighbour solicitations from it, so forwarded IPv6 to a
 * new task would stall. Written before the task side is up.
 *
 * IPv6 forwarding per interface needs `force_forwarding` (Linux 6.17+); older
 * kernels forward IPv6 only when it is on for the whole host, which the caller
 * checks (`needsGlobalIpv6Forwarding`).
 */
export const hostSideSysctls = (hostVeth: string, addresses: RoutedAddresses, forceForwarding: boolean): SysctlSetting[] => [
  { path: ['net', 'ipv4', 'conf', hostVeth, 'forwarding'], value: '1' },
  { path: ['net', 'ipv6', 'conf', hostVeth, 'accept_dad'], value: '0' },
  ...(addresses.ipv6 === undefined
    ? []
    : [{ path: ['net', 'ipv6', 'conf', hostVeth, forceForwarding ? 'force_forwarding' : 'forwarding'], value: '1' }]),
];

/** Kernels before 6.17 only forward IPv6 when it is on for the whole host. */
export const checkGlobalIpv6Forwarding = async (host: ToolContext): Promise<void> => {
  if ((await readSysctl(host, 'net.ipv6.conf.all.forwarding')) !== '1') {
    throw new ExecutorError(
      'FAILED_PRECONDITION',
      'IPv6 for tasks needs net.ipv6.conf.all.forwarding=1 on kernels without per-interface force_forwarding',
    );
  }
};

/**
 * Task side sysctls, before its eth0 is up: IPv6 on (`all` also sets
 * `default` and every interface, lo included) with no DAD on eth0, or IPv6
 * off altogether for an IPv4-only task, as Docker's network mode `none` had
 * it: the sandbox's namespace is a fresh one, with the kernel's defaults.
 */
export const taskSideSysctls = (addresses: RoutedAddresses): SysctlSetting[] =>
  addresses.ipv6 === undefined
    ? [{ path: ['net', 'ipv6', 'conf', 'all', 'disable_ipv6'], value: '1' }]
    : [
        { path: ['net', 'ipv6', 'conf', 'all', 'disable_ipv6'], value: '0' },
        { path: ['net', 'ipv6', 'conf', TASK_INTERFACE, 'accept_dad'], value: '0' },
      ];

/** Task side, in one ip batch: lo up, eth0 addressed and up, on-link gateway, default and metadata routes. */
export const taskSideBatch = (addresses: RoutedAddresses, metadata: MetadataAddresses): string[] => {
  const gateway4 = addresses.gateway4;
  const lines = [
    batchLine.up('lo'),
    batchLine.address(TASK_INTERFACE, `${addresses.ipv4}/${addresses.prefixLength4}`, { noPrefixRoute: true }),
  ];
  if (addresses.ipv6 !== undefined) {
    lines.push(batchLine.address(TASK_INTERFACE, `${addresses.ipv6}/${addresses.prefixLength6 ?? 128}`, { noPrefixRoute: true, noDad: true }));
  }
  lines.push(
    batchLine.up(TASK_INTERFACE),
    batchLine.route({ destination: `${gateway4}/32`, device: TASK_INTERFACE, scopeLink: true, source: addresses.ipv4 }),
    batchLine.route({ destination: 'default', via: gateway4, device: TASK_INTERFACE, source: addresses.ipv4 }),
    // The metadata hook: explicit, so it survives a task replacing its default route.
    batchLine.route({ destination: `${metadata.ipv4}/32`, via: gateway4, device: TASK_INTERFACE, source: addresses.ipv4 }),
  );
  if (addresses.ipv6 !== undefined && addresses.gateway6 !== undefined) {
    lines.push(
      batchLine.route({ destination: `${addresses.gateway6}/128`, device: TASK_INTERFACE }),
      batchLine.route({ destination: 'default', via: addresses.gateway6, device: TASK_INTERFACE }),
      batchLine.route({ destination: `${metadata.ipv6}/128`, via: addresses.gateway6, device: TASK_INTERFACE }),
    );
  }
  return lines;
};
