import { setTimeout as sleep } from 'node:timers/promises';
import { ExecutorError } from '../common/errors.js';
import { inNetns, runTool, type ToolContext } from './exec.js';
import { listLinks, replaceAddress, replaceRoute, setLinkUp, type Link } from './iproute.js';
import { TASK_INTERFACE } from './naming.js';
import { guardMetadataInNetns } from './metadata-guard.js';
import { writeSysctl } from './sysctl.js';
import { applyBandwidthLimit, type BandwidthLimit } from './tc.js';

/**
 * Puts an attached ENI into the task's namespace. When EC2 attaches an ENI
 * the host kernel gets a new NIC (ena/ixgbevf) whose MAC is the ENI's; it is
 * moved into the task netns as eth0 and given the task's address. The VPC
 * router (subnet network + 1) is the gateway; security groups are enforced by
 * EC2 itself, so there are no host-side rules; bandwidth is shaped inside
 * the namespace (HTB on the NIC and an IFB). Before the NIC is up, the
 * metadata addresses are made local to the namespace (metadata-guard.ts), so
 * the task can never reach the VPC's instance metadata service (the host's
 * role) through its ENI. Detaching the ENI in EC2 makes the NIC disappear,
 * wherever it is.
 */
export interface EniPlumbingRequest {
  readonly mac: string;
  readonly netnsPath: string;
  readonly ipv4: string;
  readonly prefixLength4: number;
  readonly gateway4: string;
  readonly ipv6?: string;
  readonly mtu: number;
  /** HTB both ways on the ENI inside the task namespace; absent: unlimited. */
  readonly bandwidth?: BandwidthLimit;
}

/** The IFB that shapes what arrives on the ENI, created inside the task namespace (it goes with the namespace). */
export const ENI_IFB = 'ifb0';

export interface EniPlumber {
  plumb(request: EniPlumbingRequest, signal?: AbortSignal): Promise<void>;
}

export interface HostNicPlumberOptions {
  readonly deviceWaitMs: number;
  readonly pollIntervalMs: number;
}

export class HostNicPlumber implements EniPlumber {
  constructor(
    private readonly host: ToolContext,
    private readonly options: HostNicPlumberOptions,
  ) {}

  async plumb(request: EniPlumbingRequest, signal?: AbortSignal): Promise<void> {
    const host = signal === undefined ? this.host : { ...this.host, signal };
    const nic = await this.waitForNic(host, request.mac, signal);
    const task = inNetns(host, request.netnsPath);
    await runTool(host, ['ip', 'link', 'set', 'dev', nic.ifname, 'netns', request.netnsPath]);
    await runTool(task, ['ip', 'link', 'set', 'dev', nic.ifname, 'name', TASK_INTERFACE, 'mtu', String(request.mtu)]);
    await setLinkUp(task, 'lo');
    await writeSysctl(task, `net.ipv6.conf.${TASK_INTERFACE}.accept_dad`, '0');
    // A real L2 segment with the VPC router: the subnet is on-link, as on any EC2 instance.
    await replaceAddress(task, TASK_INTERFACE, `${request.ipv4}/${request.prefixLength4}`);
    if (request.ipv6 !== undefined) {
      // Container engines turn IPv6 off in namespaces they give no IPv6 network (Docker's `none` mode).
      await writeSysctl(task, 'net.ipv6.conf.all.disable_ipv6', '0');
      await replaceAddress(task, TASK_INTERFACE, `${request.ipv6}/128`, { noDad: true });
    } else {
      // The executor's sandbox namespace is a fresh one with the kernel's defaults: IPv6 off, as Docker's `none` had it.
      await writeSysctl(task, 'net.ipv6.conf.all.disable_ipv6', '1');
    }
    // Before the ENI is up: the VPC's instance metadata service answers any ENI of the instance, with the host's role.
    await guardMetadataInNetns(task, TASK_INTERFACE, request.ipv6 !== undefined);
    if (request.bandwidth !== undefined) await this.shape(task, request.bandwidth, request.mtu);
    await setLinkUp(task, TASK_INTERFACE);
    // IPv6's default route comes from the VPC router's advertisements.
    await replaceRoute(task, { destination: 'default', via: request.gateway4, device: TASK_INTERFACE, source: request.ipv4 });
  }

  /**
   * The same HTB trees as the local driver's (tc.ts), inside the task
   * namespace: on the ENI's root (what the task sends) and, through an ingress
   * redirect, on an IFB there (what it receives). The ENI never passes the
   * host, so this is the only place to shape it; a task cannot undo it without
   * NET_ADMIN, which the driver refuses.
   */
  private async shape(task: ToolContext, limit: BandwidthLimit, mtu: number): Promise<void> {
    await runTool(task, ['ip', 'link', 'add', ENI_IFB, 'mtu', String(mtu), 'type', 'ifb']);
    await setLinkUp(task, ENI_IFB);
    await applyBandwidthLimit(task, { hostVeth: TASK_INTERFACE, ifb: ENI_IFB }, limit, mtu);
  }

  private async waitForNic(host: ToolContext, mac: string, signal: AbortSignal | undefined): Promise<Link> {
    const deadline = Date.now() + this.options.deviceWaitMs;
    for (;;) {
      const nic = (await listLinks(host)).find((link) => link.address?.toLowerCase() === mac.toLowerCase());
      if (nic !== undefined) return nic;
      if (Date.now() >= deadline) {
        throw new ExecutorError('UNAVAILABLE', `no NIC with MAC ${mac} appeared within ${this.options.deviceWaitMs} ms`);
      }
      await sleep(this.options.pollIntervalMs, undefined, signal === undefined ? {} : { signal });
    }
  }
}
