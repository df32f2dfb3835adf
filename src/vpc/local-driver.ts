import { existsSync } from 'node:fs';
import { ExecutorError, errorMessage, isExecutorError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { parseCidr } from './addresses.js';
import type { LocalNetworkConfig } from './config.js';
import { setUpEgress } from './egress.js';
import { describePorts, parsePublishedPorts, type PublishedPort } from './published-ports.js';
import { hostToolContext, inNetns, withSignal, type ToolContext } from './exec.js';
import { Ipam, type Lease } from './ipam.js';
import { JsonFileLeaseStore, MemoryLeaseStore, type LeaseStore } from './lease-store.js';
import { batchLine, deleteLink, deleteLinks, deleteLinksEach, ipBatch, isAlreadyExists, isBatchToken, listLinks } from './iproute.js';
import { KeyedMutex } from './keyed-mutex.js';
import { deleteTable, listInetTables, loadTaskTable } from './nftables.js';
import { hashOfIfb, hashOfNftTable, hashOfVeth, namesForTask, TASK_INTERFACE, taskHash, type TaskNetworkNames } from './naming.js';
import {
  checkGlobalIpv6Forwarding,
  hostSideBatch,
  hostSideSysctls,
  macForTask,
  taskSideBatch,
  taskSideSysctls,
  type RoutedAddresses,
} from './routing.js';
import { resolveSecurityGroups, type EffectiveRules } from './security-groups.js';
import { writeSysctls } from './sysctl.js';
import { applyBandwidthLimit, bandwidthLimitFor, type BandwidthLimit } from './tc.js';
import { assertNetnsExists, validateSpec } from './spec-checks.js';
import { StepTimer } from './step-timer.js';
import { createPacketFilter } from './bpf/packet-filter.js';
import type { PacketFilter } from './bpf/types.js';
import type { NetworkAttachment, NetworkAvailability, NetworkDriver, NetworkSpec } from './types.js';
import { METADATA_IPV4, METADATA_IPV6 } from '../common/metadata-address.js';

export const LOCAL_DRIVER_NAME = 'local';

/** Where the instance metadata service lives; tasks get routes to both via the host (see routing.ts). */
export { METADATA_IPV4, METADATA_IPV6 };

export interface LocalDriverOptions {
  readonly config: LocalNetworkConfig;
  readonly log?: Logger;
  /** Overrides config.leaseFile (tests, or a store the executor already has). */
  readonly leaseStore?: LeaseStore;
}

/**
 * Tasks on a host-local routed network: a veth pair per task, addresses from
 * the configured pools, HTB/IFB bandwidth limits and nftables security groups
 * on the host side. See routing.ts, tc.ts and nftables.ts for each design.
 */
export class LocalNetworkDriver implements NetworkDriver {
  readonly name = LOCAL_DRIVER_NAME;
  private readonly host: ToolContext;
  private readonly mutex = new KeyedMutex();
  /** Bandwidth promised per task, for available(). */
  private readonly bandwidth = new Map<string, number>();
  /** Hashes of tasks being attached right now: GC never touches their pieces. */
  private readonly attaching = new Set<string>();
  /** Published host ports (`tcp/8080`) by the task holding them. */
  private readonly hostPorts = new Map<string, string>();

  private constructor(
    private readonly config: LocalNetworkConfig,
    private readonly ipam: Ipam,
    private readonly log: Logger,
    /** This kernel forwards IPv6 per interface (`force_forwarding`, Linux 6.17+); the same in every namespace. */
    private readonly forceForwarding: boolean,
    /** Drops what a task sends from addresses not its own, and un-proxied metadata traffic. */
    private readonly filter: PacketFilter,
    /** The source NAT's status line (network.local.egress), when on. */
    private readonly egressStatus: string | undefined,
  ) {
    this.host = hostToolContext(config);
  }

  static async create(options: LocalDriverOptions): Promise<LocalNetworkDriver> {
    const { config } = options;
    const log = (options.log ?? silentLogger()).child({ component: 'vpc', driver: LOCAL_DRIVER_NAME });
    const store =
      options.leaseStore ?? (config.leaseFile === undefined ? new MemoryLeaseStore() : new JsonFileLeaseStore(config.leaseFile));
    const ipam = await Ipam.open({
      ipv4Cidr: config.ipv4Cidr,
      ...(config.ipv6Cidr === undefined ? {} : { ipv6Cidr: config.ipv6Cidr }),
      reservedAddresses: config.reservedAddresses,
      store,
    });
    for (const problem of ipam.loadProblems) log.warn({ problem }, 'lease from the lease store not restored');
    const filter = await createPacketFilter({
      ...config.packetFilter,
      log,
      ...(config.hostNetns === undefined ? {} : { netnsPath: `/run/netns/${config.hostNetns}` }),
      commandTimeoutMs: config.commandTimeoutMs,
      metadataIpv4: METADATA_IPV4,
      metadataIpv6: METADATA_IPV6,
    });
    const forceForwarding = existsSync('/proc/sys/net/ipv6/conf/all/force_forwarding');
    const egressStatus = await setUpEgress(
      hostToolContext(config),
      config.egress,
      { pool4: parseCidr(config.ipv4Cidr).text, ...(config.ipv6Cidr === undefined ? {} : { pool6: parseCidr(config.ipv6Cidr).text }) },
      forceForwarding,
      log,
    );
    return new LocalNetworkDriver(config, ipam, log, forceForwarding, filter, egressStatus);
  }

  validate(spec: NetworkSpec): void {
    if (this.filter.mode === 'unavailable') {
      // Refused before a sandbox is built: a task must not run unprotected unless config says so.
      throw new ExecutorError('FAILED_PRECONDITION', this.filter.status);
    }
    this.checkedRules(spec);
  }

  statusLines(): string[] {
    return [this.filter.status, ...(this.egressStatus === undefined ? [] : [this.egressStatus])];
  }

  async attach(spec: NetworkSpec, netnsPath: string, signal?: AbortSignal): Promise<NetworkAttachment> {
    // Everything that can refuse the request runs before anything is created.
    const rules = this.checkedRules(spec);
    if (!isBatchToken(netnsPath)) {
      throw new ExecutorError('INVALID_ARGUMENT', `network namespace path ${JSON.stringify(netnsPath)} has characters no ip batch line can carry`);
    }
    await assertNetnsExists(netnsPath);
    signal?.throwIfAborted();
    const names = namesForTask(spec.taskId);
    return this.mutex.run(spec.taskId, async () => {
      this.attaching.add(names.hash);
      try {
        return await this.attachLocked(spec, netnsPath, names, rules, signal);
      } finally {
        this.attaching.delete(names.hash);
      }
    });
  }

  async detach(attachment: NetworkAttachment): Promise<void> {
    if (attachment.driver !== this.name) {
      throw new ExecutorError('INVALID_ARGUMENT', `attachment of task ${attachment.taskId} belongs to driver ${attachment.driver}`);
    }
    await this.mutex.run(attachment.taskId, async () => {
      const failures = await this.removeTaskPieces(attachment.taskId, namesForTask(attachment.taskId));
      if (failures.length > 0) {
        throw new ExecutorError('INTERNAL', `detach of task ${attachment.taskId} incomplete: ${failures.join('; ')}`);
      }
      this.log.info({ taskId: attachment.taskId }, 'network detached');
    });
  }

  async restore(attachments: readonly NetworkAttachment[]): Promise<void> {
    const mine = attachments.filter((a) => a.driver === this.name);
    for (const attachment of mine) {
      this.bandwidth.set(attachment.taskId, Number(attachment.details['bandwidthMbps'] ?? '0'));
      try {
        for (const p of parsePublishedPorts(attachment.details['publishedPorts'])) this.hostPorts.set(`${p.protocol}/${p.hostPort}`, attachment.taskId);
      } catch (err) {
        this.log.warn({ taskId: attachment.taskId, err: errorMessage(err) }, 'published ports of a restored task not understood');
      }
    }
    await this.ipam.restore(mine.map(leaseOfAttachment));
    this.log.info({ restored: mine.length }, 'network leases restored');
  }

  async garbageCollect(liveTaskIds: ReadonlySet<string>): Promise<string[]> {
    const liveHashes = new Set([...liveTaskIds].map(taskHash));
    const isLeftover = (hash: string | undefined): boolean =>
      hash !== undefined && !liveHashes.has(hash) && !this.attaching.has(hash);
    const removed: string[] = [];
    for (const link of await listLinks(this.host)) {
      const kind = link.linkinfo?.info_kind;
      const hash = kind === 'veth' ? hashOfVeth(link.ifname) : kind === 'ifb' ? hashOfIfb(link.ifname) : undefined;
      if (!isLeftover(hash)) continue;
      if ((await deleteLink(this.host, link.ifname)) === 'deleted') {
        removed.push(`${kind} ${link.ifname}${link.ifalias === undefined ? '' : ` (${link.ifalias})`}`);
      }
    }
    for (const table of await listInetTables(this.host)) {
      if (!isLeftover(hashOfNftTable(table))) continue;
      if ((await deleteTable(this.host, table)) === 'deleted') removed.push(`nft table inet ${table}`);
    }
    for (const lease of this.ipam.leases()) {
      if (liveTaskIds.has(lease.taskId) || this.attaching.has(taskHash(lease.taskId))) continue;
      await this.ipam.release(lease.taskId);
      this.bandwidth.delete(lease.taskId);
      this.releasePorts(lease.taskId);
      removed.push(`lease ${lease.taskId} ${describeLease(lease)}`);
    }
    if (removed.length > 0) this.log.info({ removed }, 'network garbage collected');
    return removed;
  }

  available(): NetworkAvailability {
    const allocated = [...this.bandwidth.values()].reduce((sum, mbps) => sum + mbps, 0);
    return { ...this.ipam.usage(), bandwidthMbpsTotal: this.config.bandwidthMbpsTotal, bandwidthMbpsAllocated: allocated };
  }

  private checkedRules(spec: NetworkSpec): EffectiveRules {
    validateSpec(spec);
    const rules = resolveSecurityGroups(spec.securityGroups, this.config.securityGroups, this.config.defaultSecurityGroups);
    if (spec.wantIpv6 && this.ipam.pool6 === undefined) {
      throw new ExecutorError('FAILED_PRECONDITION', 'IPv6 was requested but no IPv6 pool (ipv6Cidr) is configured');
    }
    this.checkedPorts(spec);
    return rules;
  }

  /**
   * The task's published ports: well-formed (INVALID_ARGUMENT), on a host that
   * forwards from its uplink (egress on), and not held by another task.
   */
  private checkedPorts(spec: NetworkSpec): PublishedPort[] {
    const ports = parsePublishedPorts(spec.publishedPorts);
    if (ports.length === 0) return ports;
    if (this.egressStatus === undefined) {
      throw new ExecutorError('FAILED_PRECONDITION', 'published ports need network.local.egress.masquerade on this host (the uplink must forward to tasks)');
    }
    for (const p of ports) {
      const holder = this.hostPorts.get(`${p.protocol}/${p.hostPort}`);
      if (holder !== undefined && holder !== spec.taskId) {
        throw new ExecutorError('RESOURCE_EXHAUSTED', `host port ${p.hostPort}/${p.protocol} is published by another task`);
      }
    }
    return ports;
  }

  private releasePorts(taskId: string): void {
    for (const [key, holder] of [...this.hostPorts]) if (holder === taskId) this.hostPorts.delete(key);
  }

  private async attachLocked(
    spec: NetworkSpec,
    netnsPath: string,
    names: TaskNetworkNames,
    rules: EffectiveRules,
    signal: AbortSignal | undefined,
  ): Promise<NetworkAttachment> {
    const ports = this.checkedPorts(spec);
    for (const p of ports) this.hostPorts.set(`${p.protocol}/${p.hostPort}`, spec.taskId);
    const lease = await this.ipam.allocate(spec.taskId, { ipv6: spec.wantIpv6 }).catch((err: unknown) => {
      this.releasePorts(spec.taskId);
      throw err;
    });
    const addresses = this.routedAddresses(lease);
    const limit = bandwidthLimitFor(spec.bandwidthMbps, spec.allowBursting, this.config.burstCeilMbps ?? this.config.bandwidthMbpsTotal);
    const host = withSignal(this.host, signal);
    const task = inNetns(host, netnsPath);
    const mac = macForTask(names.hash);
    const timer = new StepTimer();
    try {
      // 1. The task's rules (one nft transaction, the slowest step) side by side with the whole host side:
      //    nothing can flow before step 3 brings eth0 up, so the rules only have to be in before that.
      const hostSide = async (): Promise<void> => {
        // 1a. The host side of the pair (its peer is born in the sandbox as eth0, down).
        await this.createHostLinks(host, spec.taskId, names, netnsPath, mac, addresses, limit !== undefined);
        timer.mark('links');
        // 2. Per-interface sysctls on both ends and the bandwidth limits, all before the task side is up.
        await settleAll([
          writeSysctls(host, hostSideSysctls(names.hostVeth, addresses, this.forceForwarding)),
          writeSysctls(task, taskSideSysctls(addresses)),
          limit === undefined ? Promise.resolve() : applyBandwidthLimit(host, names, limit, this.config.mtu),
          addresses.ipv6 !== undefined && !this.forceForwarding ? checkGlobalIpv6Forwarding(host) : Promise.resolve(),
        ]);
        timer.mark('sysctlsAndLimits');
        // 2b. The packet filter, after the shaping: its clsact must join the ingress qdisc tc.ts made.
        await this.filter.attach(names.hostVeth, {
          ipv4s: [addresses.ipv4],
          ipv6s: addresses.ipv6 === undefined ? [] : [addresses.ipv6],
          ...(limit === undefined ? {} : { classId: '1:10' }),
        });
        timer.mark('packetFilter');
      };
      await settleAll([
        loadTaskTable(host, {
          table: names.nftTable,
          hostVeth: names.hostVeth,
          ipv4: addresses.ipv4,
          ...(addresses.ipv6 === undefined ? {} : { ipv6: addresses.ipv6 }),
          rules,
          metadataIpv4: METADATA_IPV4,
          metadataIpv6: METADATA_IPV6,
          publishedPorts: ports,
        }),
        hostSide(),
      ]);
      // How long the rules outlasted the host side.
      timer.mark('rulesAfterHostSide');
      // 3. Last: the task side. The task can only send once its eth0 is up.
      await ipBatch(task, taskSideBatch(addresses, { ipv4: METADATA_IPV4, ipv6: METADATA_IPV6 }));
      timer.mark('taskSide');
      this.bandwidth.set(spec.taskId, spec.bandwidthMbps);
      const attachment = buildAttachment(spec, netnsPath, names, addresses, limit, rules, mac, this.filter.mode, ports);
      this.log.debug({ taskId: spec.taskId, ms: timer.summary() }, 'network attach timings');
      this.log.info({ taskId: spec.taskId, ipv4: attachment.ipv4, ipv6: attachment.ipv6, hostInterface: names.hostVeth }, 'network attached');
      return attachment;
    } catch (err) {
      await this.rollBack(spec.taskId, names, err);
      if (signal?.aborted === true) throw signal.reason;
      if (isExecutorError(err)) throw err;
      throw new ExecutorError('INTERNAL', `network attach of task ${spec.taskId} failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * The veth pair (peer in the sandbox as eth0, with the task's MAC), the IFB
   * when the task is shaped, and the host side's addresses and routes, in one
   * ip batch. Pieces left under the same names (a crash before GC ran, an
   * earlier attempt) make it fail with "File exists": they are removed and the
   * batch runs once more.
   */
  private async createHostLinks(
    host: ToolContext,
    taskId: string,
    names: TaskNetworkNames,
    netnsPath: string,
    mac: string,
    addresses: RoutedAddresses,
    shaped: boolean,
  ): Promise<void> {
    const lines = [
      batchLine.vethPair(names.hostVeth, TASK_INTERFACE, netnsPath, this.config.mtu, mac),
      batchLine.alias(names.hostVeth, aliasFor(taskId)),
      ...(shaped ? [batchLine.ifb(names.ifb, this.config.mtu), batchLine.up(names.ifb)] : []),
      ...hostSideBatch(names.hostVeth, addresses),
    ];
    try {
      await ipBatch(host, lines);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      this.log.warn({ taskId, err: errorMessage(err) }, 'host pieces of an earlier attach of this task exist; replacing them');
      await deleteLinks(host, [names.hostVeth, names.ifb]);
      await ipBatch(host, lines);
    }
  }

  private async rollBack(taskId: string, names: TaskNetworkNames, cause: unknown): Promise<void> {
    const failures = await this.removeTaskPieces(taskId, names);
    this.log.warn({ taskId, err: errorMessage(cause), cleanupFailures: failures }, 'network attach failed; rolled back');
  }

  /**
   * Removes every host-side piece, each independently. The lease is kept when
   * the veth could not be removed: its host route still points at the old
   * address, so handing that address out again would misroute.
   */
  private async removeTaskPieces(taskId: string, names: TaskNetworkNames): Promise<string[]> {
    const failures: string[] = [];
    const attempt = async (what: string, work: () => Promise<unknown>): Promise<boolean> => {
      try {
        await work();
        return true;
      } catch (err) {
        failures.push(`${what}: ${errorMessage(err)}`);
        return false;
      }
    };
    // Deleting the host side of the veth removes the pair, its qdiscs, filter and host routes; the IFB is
    // deleted in the same ip batch, the nft table alongside.
    const [linkFailures] = await Promise.all([
      deleteLinksEach(this.host, [names.hostVeth, names.ifb]).catch((err: unknown) => {
        const failure = err instanceof Error ? err : new Error(String(err));
        return new Map([[names.hostVeth, failure], [names.ifb, failure]]);
      }),
      attempt(`nft table inet ${names.nftTable}`, () => deleteTable(this.host, names.nftTable)),
    ]);
    for (const [link, err] of linkFailures) failures.push(`${link === names.ifb ? 'ifb' : 'veth'} ${link}: ${errorMessage(err)}`);
    if (!linkFailures.has(names.hostVeth)) {
      await attempt(`lease of ${taskId}`, () => this.ipam.release(taskId));
      this.bandwidth.delete(taskId);
      this.releasePorts(taskId);
    } else {
      failures.push(`lease of ${taskId} kept until the veth is gone`);
    }
    return failures;
  }

  private routedAddresses(lease: Lease): RoutedAddresses {
    if (lease.ipv4 === undefined) throw new ExecutorError('INTERNAL', `lease of task ${lease.taskId} has no IPv4 address`);
    const pool6 = this.ipam.pool6;
    return {
      ipv4: lease.ipv4,
      prefixLength4: this.ipam.pool4.cidr.prefixLength,
      gateway4: this.ipam.pool4.gatewayText,
      ...(lease.ipv6 === undefined || pool6 === undefined
        ? {}
        : { ipv6: lease.ipv6, prefixLength6: pool6.cidr.prefixLength, gateway6: pool6.gatewayText }),
    };
  }
}



/** The veth's alias names the task, for people reading `ip link`; only characters an ip batch line can carry. */
const aliasFor = (taskId: string): string => `titus:${taskId}`.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 255);

/**
 * Waits for every step, then throws the first failure: a failed step never
 * leaves another one still running while the caller rolls back.
 */
const settleAll = async (steps: ReadonlyArray<Promise<unknown>>): Promise<void> => {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
};

const buildAttachment = (
  spec: NetworkSpec,
  netnsPath: string,
  names: TaskNetworkNames,
  addresses: RoutedAddresses,
  limit: BandwidthLimit | undefined,
  rules: EffectiveRules,
  mac: string | undefined,
  packetFilter: string,
  ports: readonly PublishedPort[],
): NetworkAttachment => {
  const details: Record<string, string> = {
    packetFilter,
    netnsPath,
    hostname: spec.hostname,
    securityGroups: rules.groups.join(','),
    bandwidthMbps: String(spec.bandwidthMbps),
    allowBursting: String(spec.allowBursting),
    nftTable: `inet ${names.nftTable}`,
  };
  if (limit !== undefined) {
    details['ceilMbps'] = String(limit.ceilMbps);
    details['ifb'] = names.ifb;
  }
  if (ports.length > 0) details['publishedPorts'] = describePorts(ports);
  if (addresses.gateway6 !== undefined) details['gateway6'] = addresses.gateway6;
  if (addresses.prefixLength6 !== undefined) details['prefixLength6'] = String(addresses.prefixLength6);
  return {
    taskId: spec.taskId,
    driver: LOCAL_DRIVER_NAME,
    ipv4: addresses.ipv4,
    prefixLength4: addresses.prefixLength4,
    gateway4: addresses.gateway4,
    ...(addresses.ipv6 === undefined ? {} : { ipv6: addresses.ipv6 }),
    hostInterface: names.hostVeth,
    ...(mac === undefined ? {} : { mac }),
    details,
  };
};

const leaseOfAttachment = (attachment: NetworkAttachment): Lease => ({
  taskId: attachment.taskId,
  ...(attachment.ipv4 === undefined ? {} : { ipv4: attachment.ipv4 }),
  ...(attachment.ipv6 === undefined ? {} : { ipv6: attachment.ipv6 }),
});

const describeLease = (lease: Lease): string => [lease.ipv4, lease.ipv6].filter((a) => a !== undefined).join(' ');
