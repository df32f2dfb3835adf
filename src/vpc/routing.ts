import { ExecutorError } from '../common/errors.js';
import { findLink, replaceAddress, replaceRoute, setLinkUp } from './iproute.js';
import { readSysctl, writeSysctl } from './sysctl.js';
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

/**
 * No duplicate address detection on either end of the pair (nothing else is
 * on the link). Besides the global addresses (nodad), this covers the
 * link-local ones: while the host side's link-local address is tentative
 * (1-2 s after link up) Linux sends no neighbour solicitations on it, so
 * forwarded IPv6 to a new task would stall. Set before the link goes up.
 */
const skipDad = async (context: ToolContext, device: string): Promise<void> => {
  await writeSysctl(context, `net.ipv6.conf.${device}.accept_dad`, '0');
};

const enableIpv6Forwarding = async (host: ToolContext, hostVeth: string): Promise<void> => {
  const perInterface = await writeSysctl(host, `net.ipv6.conf.${hostVeth}.force_forwarding`, '1');
  if (perInterface === 'set') return;
  // Kernels before 6.17 only forward IPv6 when it is on for the whole host.
  await writeSysctl(host, `net.ipv6.conf.${hostVeth}.forwarding`, '1');
  if ((await readSysctl(host, 'net.ipv6.conf.all.forwarding')) !== '1') {
    throw new ExecutorError(
      'FAILED_PRECONDITION',
      'IPv6 for tasks needs net.ipv6.conf.all.forwarding=1 on kernels without per-interface force_forwarding',
    );
  }
};

/** Host side: gateway addresses, per-interface forwarding, link up, host routes to the task. */
export const configureHostSide = async (host: ToolContext, hostVeth: string, addresses: RoutedAddresses): Promise<void> => {
  await writeSysctl(host, `net.ipv4.conf.${hostVeth}.forwarding`, '1');
  await skipDad(host, hostVeth);
  await replaceAddress(host, hostVeth, `${addresses.gateway4}/32`);
  if (addresses.ipv6 !== undefined && addresses.gateway6 !== undefined) {
    await enableIpv6Forwarding(host, hostVeth);
    await replaceAddress(host, hostVeth, `${addresses.gateway6}/128`, { noDad: true });
  }
  await setLinkUp(host, hostVeth);
  await replaceRoute(host, { destination: `${addresses.ipv4}/32`, device: hostVeth, source: addresses.gateway4 });
  if (addresses.ipv6 !== undefined) {
    await replaceRoute(host, { destination: `${addresses.ipv6}/128`, device: hostVeth });
  }
};

/** Task side: lo up, eth0 addressed and up, on-link gateway, default and metadata routes. */
export const configureTaskSide = async (
  task: ToolContext,
  addresses: RoutedAddresses,
  metadata: MetadataAddresses,
): Promise<void> => {
  await setLinkUp(task, 'lo');
  await skipDad(task, TASK_INTERFACE);
  await replaceAddress(task, TASK_INTERFACE, `${addresses.ipv4}/${addresses.prefixLength4}`, { noPrefixRoute: true });
  if (addresses.ipv6 !== undefined) {
    // Container engines turn IPv6 off in namespaces they give no IPv6 network (Docker's `none`
    // mode); `all` also sets `default` and every interface, lo included.
    await writeSysctl(task, 'net.ipv6.conf.all.disable_ipv6', '0');
    await replaceAddress(task, TASK_INTERFACE, `${addresses.ipv6}/${addresses.prefixLength6 ?? 128}`, {
      noPrefixRoute: true,
      noDad: true,
    });
  }
  await setLinkUp(task, TASK_INTERFACE);
  const gateway4 = addresses.gateway4;
  await replaceRoute(task, { destination: `${gateway4}/32`, device: TASK_INTERFACE, scopeLink: true, source: addresses.ipv4 });
  await replaceRoute(task, { destination: 'default', via: gateway4, device: TASK_INTERFACE, source: addresses.ipv4 });
  // The metadata hook: explicit, so it survives a task replacing its default route.
  await replaceRoute(task, { destination: `${metadata.ipv4}/32`, via: gateway4, device: TASK_INTERFACE, source: addresses.ipv4 });
  if (addresses.ipv6 !== undefined && addresses.gateway6 !== undefined) {
    await replaceRoute(task, { destination: `${addresses.gateway6}/128`, device: TASK_INTERFACE });
    await replaceRoute(task, { destination: 'default', via: addresses.gateway6, device: TASK_INTERFACE });
    await replaceRoute(task, { destination: `${metadata.ipv6}/128`, via: addresses.gateway6, device: TASK_INTERFACE });
  }
};

/** The MAC address of the task's interface. */
export const taskMac = async (task: ToolContext): Promise<string | undefined> =>
  (await findLink(task, TASK_INTERFACE))?.address;
