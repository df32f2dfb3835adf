import { setTimeout as sleep } from 'node:timers/promises';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ExecutorError, errorMessage, isExecutorError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { formatAddress, parseCidr } from './addresses.js';
import type { AwsEniConfig } from './config.js';
import { createEc2Client, Ec2Api, ec2ErrorCode, type Subnet } from './ec2-api.js';
import { HostNicPlumber, type EniPlumber } from './eni-plumbing.js';
import { hostToolContext } from './exec.js';
import { KeyedMutex } from './keyed-mutex.js';
import { bandwidthLimitFor } from './tc.js';
import { assertNetnsExists, validateSpec } from './spec-checks.js';
import type { NetworkAttachment, NetworkAvailability, NetworkDriver, NetworkSpec } from './types.js';

export const AWS_ENI_DRIVER_NAME = 'aws-eni';
/** Tags on every ENI this driver creates; GC only ever looks at ENIs with the owner and instance tags. */
export const TASK_ID_TAG = 'titus:task-id';
export const INSTANCE_ID_TAG = 'titus:instance-id';

export interface AwsEniDriverOptions {
  readonly config: AwsEniConfig;
  /** Default: built from config (region, endpoint, retries) with the SDK's default credentials. */
  readonly ec2?: EC2Client;
  /** Default: moves the ENI's NIC from the host into the task netns. */
  readonly plumber?: EniPlumber;
  readonly log?: Logger;
}

/** What detach and GC need about one task's ENI; kept in NetworkAttachment.details. */
interface EniLease {
  readonly taskId: string;
  readonly deviceIndex: number;
  readonly bandwidthMbps: number;
  eniId?: string;
  attachmentId?: string;
  ipv4?: string;
  ipv6?: string;
}

const EXHAUSTION_CODES = new Set([
  'InsufficientFreeAddressesInSubnet',
  'AttachmentLimitExceeded',
  'NetworkInterfaceLimitExceeded',
  'PrivateIpAddressLimitExceeded',
]);
const THROTTLING_CODES = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException']);
const ABSENT_CODES = new Set(['InvalidNetworkInterfaceID.NotFound', 'InvalidAttachmentID.NotFound']);

/**
 * One ENI per task, in the configured subnet, carrying the task's security
 * groups (EC2 enforces them), attached to this instance; the task's address
 * is a secondary private IP assigned to that ENI (so a later version can
 * share one ENI between tasks with the same groups, as Titus's branch ENIs
 * do). The ENI's NIC is moved into the task netns (eni-plumbing.ts), and
 * shaped there (HTB both ways, as the local driver's) when the task has a
 * bandwidth limit; bursting tasks may borrow up to bandwidthMbpsTotal.
 */
export class AwsEniNetworkDriver implements NetworkDriver {
  readonly name = AWS_ENI_DRIVER_NAME;
  /** NET_ADMIN in the task's namespace could delete the metadata guard (metadata-guard.ts); ALL includes it. */
  readonly refusedCapabilities = {
    names: ['NET_ADMIN', 'ALL'],
    why: "the ENI is in the task's own network namespace, where NET_ADMIN could remove the guard that keeps the instance's metadata service (the host's role) out of reach",
  } as const;
  private readonly ec2: Ec2Api;
  private readonly plumber: EniPlumber;
  private readonly log: Logger;
  private readonly leases = new Map<string, EniLease>();
  private readonly mutex = new KeyedMutex();
  private readonly attaching = new Set<string>();
  private subnet: Subnet | undefined;

  constructor(private readonly options: AwsEniDriverOptions) {
    const { config } = options;
    this.ec2 = new Ec2Api(options.ec2 ?? createEc2Client(config));
    this.plumber = options.plumber ?? new HostNicPlumber(hostToolContext(config), config);
    this.log = (options.log ?? silentLogger()).child({ component: 'vpc', driver: AWS_ENI_DRIVER_NAME });
  }

  private get config(): AwsEniConfig {
    return this.options.config;
  }

  /** EC2 itself judges the groups (InvalidGroup.NotFound at create); only their presence is checked here. */
  validate(spec: NetworkSpec): void {
    validateSpec(spec);
    if (spec.securityGroups.length === 0) {
      throw new ExecutorError('INVALID_ARGUMENT', 'at least one security group is required', { field: 'securityGroups' });
    }
    if (spec.publishedPorts !== undefined) {
      throw new ExecutorError('INVALID_ARGUMENT', 'published ports are for the local driver: an ENI address is reachable in the VPC as its security groups allow', {
        field: 'publishedPorts',
      });
    }
  }

  async attach(spec: NetworkSpec, netnsPath: string, signal?: AbortSignal): Promise<NetworkAttachment> {
    this.validate(spec);
    await assertNetnsExists(netnsPath);
    return this.mutex.run(spec.taskId, async () => {
      this.attaching.add(spec.taskId);
      try {
        return await this.attachLocked(spec, netnsPath, signal);
      } finally {
        this.attaching.delete(spec.taskId);
      }
    });
  }

  async detach(attachment: NetworkAttachment): Promise<void> {
    if (attachment.driver !== this.name) {
      throw new ExecutorError('INVALID_ARGUMENT', `attachment of task ${attachment.taskId} belongs to driver ${attachment.driver}`);
    }
    await this.mutex.run(attachment.taskId, async () => {
      const lease = this.leases.get(attachment.taskId) ?? leaseOfAttachment(attachment);
      const failures = await this.teardown(lease);
      if (failures.length > 0) {
        throw new ExecutorError('INTERNAL', `detach of task ${attachment.taskId} incomplete: ${failures.join('; ')}`);
      }
      this.leases.delete(attachment.taskId);
      this.log.info({ taskId: attachment.taskId, eniId: lease.eniId }, 'ENI detached and deleted');
    });
  }

  async restore(attachments: readonly NetworkAttachment[]): Promise<void> {
    for (const attachment of attachments.filter((a) => a.driver === this.name)) {
      this.leases.set(attachment.taskId, leaseOfAttachment(attachment));
    }
  }

  async garbageCollect(liveTaskIds: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    const owned = await this.ec2.listEnisTagged({
      [this.config.ownerTag]: this.config.ownerTagValue,
      [INSTANCE_ID_TAG]: this.config.instanceId,
    });
    for (const eni of owned) {
      const taskId = eni.tags[TASK_ID_TAG] ?? '';
      if (liveTaskIds.has(taskId) || this.attaching.has(taskId)) continue;
      const failures = await this.teardown({
        taskId,
        deviceIndex: eni.deviceIndex ?? -1,
        bandwidthMbps: 0,
        eniId: eni.id,
        ...(eni.attachmentId === undefined ? {} : { attachmentId: eni.attachmentId }),
      });
      if (failures.length === 0) removed.push(`eni ${eni.id} (${taskId})`);
      else this.log.warn({ eniId: eni.id, taskId, failures }, 'GC could not remove an ENI');
    }
    for (const taskId of [...this.leases.keys()]) {
      if (liveTaskIds.has(taskId) || this.attaching.has(taskId)) continue;
      this.leases.delete(taskId);
      removed.push(`lease ${taskId}`);
    }
    return removed;
  }

  available(): NetworkAvailability {
    const leases = [...this.leases.values()];
    return {
      ipv4Free: Math.max(0, this.config.maxTaskEnis - leases.length),
      ipv4Total: this.config.maxTaskEnis,
      bandwidthMbpsTotal: this.config.bandwidthMbpsTotal,
      bandwidthMbpsAllocated: leases.reduce((sum, lease) => sum + lease.bandwidthMbps, 0),
    };
  }

  private async attachLocked(spec: NetworkSpec, netnsPath: string, signal: AbortSignal | undefined): Promise<NetworkAttachment> {
    const subnet = await this.subnetInfo(signal).catch((err: unknown) => {
      throw mapEc2Error(err, spec);
    });
    if (spec.wantIpv6 && subnet.ipv6Cidr === undefined) {
      throw new ExecutorError('FAILED_PRECONDITION', `IPv6 was requested but subnet ${subnet.id} has no IPv6 CIDR`);
    }
    const lease: EniLease = { taskId: spec.taskId, deviceIndex: this.freeDeviceIndex(), bandwidthMbps: spec.bandwidthMbps };
    this.leases.set(spec.taskId, lease);
    try {
      const eni = await this.ec2.createEni(
        {
          subnetId: subnet.id,
          securityGroupIds: spec.securityGroups,
          description: `titus-executor task ${spec.taskId}`,
          tags: { [this.config.ownerTag]: this.config.ownerTagValue, [INSTANCE_ID_TAG]: this.config.instanceId, [TASK_ID_TAG]: spec.taskId },
        },
        signal,
      );
      lease.eniId = eni.id;
      lease.attachmentId = await this.ec2.attachEni(eni.id, this.config.instanceId, lease.deviceIndex, signal);
      await this.ec2.setDeleteOnTermination(eni.id, lease.attachmentId, signal);
      lease.ipv4 = await this.ec2.assignPrivateIp(eni.id, signal);
      if (spec.wantIpv6) lease.ipv6 = await this.ec2.assignIpv6(eni.id, signal);
      const cidr = parseCidr(subnet.cidr);
      const gateway4 = formatAddress(cidr.network + 1n, 4);
      const limit = bandwidthLimitFor(spec.bandwidthMbps, spec.allowBursting, this.config.bandwidthMbpsTotal);
      await this.plumber.plumb(
        {
          mac: eni.mac,
          netnsPath,
          ipv4: lease.ipv4,
          prefixLength4: cidr.prefixLength,
          gateway4,
          ...(lease.ipv6 === undefined ? {} : { ipv6: lease.ipv6 }),
          mtu: this.config.mtu,
          ...(limit === undefined ? {} : { bandwidth: limit }),
        },
        signal,
      );
      this.log.info({ taskId: spec.taskId, eniId: eni.id, ipv4: lease.ipv4 }, 'ENI attached');
      return buildAttachment(spec, netnsPath, lease, eni.mac, cidr.prefixLength, gateway4, subnet.id);
    } catch (err) {
      const failures = await this.teardown(lease);
      this.leases.delete(spec.taskId);
      this.log.warn({ taskId: spec.taskId, err: errorMessage(err), cleanupFailures: failures }, 'ENI attach failed; rolled back');
      if (signal?.aborted === true) throw signal.reason;
      throw mapEc2Error(err, spec);
    }
  }

  private async subnetInfo(signal: AbortSignal | undefined): Promise<Subnet> {
    this.subnet ??= await this.ec2.describeSubnet(this.config.subnetId, signal);
    return this.subnet;
  }

  private freeDeviceIndex(): number {
    const used = new Set([...this.leases.values()].map((lease) => lease.deviceIndex));
    const last = this.config.firstDeviceIndex + this.config.maxTaskEnis - 1;
    for (let index = this.config.firstDeviceIndex; index <= last; index++) if (!used.has(index)) return index;
    throw new ExecutorError('RESOURCE_EXHAUSTED', `all ${this.config.maxTaskEnis} ENI device slots of ${this.config.instanceId} are in use`);
  }

  /** Unassign, detach (and wait), delete: each step tolerates "already gone"; returns what failed. */
  private async teardown(lease: EniLease): Promise<string[]> {
    const failures: string[] = [];
    const step = async (what: string, work: () => Promise<unknown>, tolerated: ReadonlySet<string> = ABSENT_CODES): Promise<void> => {
      try {
        await work();
      } catch (err) {
        if (!tolerated.has(ec2ErrorCode(err) ?? '')) failures.push(`${what}: ${errorMessage(err)}`);
      }
    };
    const { eniId, attachmentId, ipv4 } = lease;
    if (eniId !== undefined && ipv4 !== undefined) {
      // InvalidParameterValue: the address is not (or no longer) on the ENI.
      await step(`unassign ${ipv4}`, () => this.ec2.unassignPrivateIp(eniId, ipv4), new Set([...ABSENT_CODES, 'InvalidParameterValue']));
    }
    if (attachmentId !== undefined) {
      await step(`detach ${attachmentId}`, () => this.ec2.detachEni(attachmentId));
      if (eniId !== undefined) await step(`wait for ${eniId} to detach`, () => this.waitUntilDetached(eniId));
    }
    if (eniId !== undefined) await step(`delete ${eniId}`, () => this.ec2.deleteEni(eniId));
    return failures;
  }

  private async waitUntilDetached(eniId: string): Promise<void> {
    const deadline = Date.now() + this.config.detachWaitMs;
    for (;;) {
      const eni = await this.ec2.describeEni(eniId);
      if (eni === undefined || eni.status === 'available') return;
      if (Date.now() >= deadline) throw new Error(`${eniId} still ${eni.status} after ${this.config.detachWaitMs} ms`);
      await sleep(this.config.pollIntervalMs);
    }
  }
}

/** Driver-independent codes for EC2 failures; the message names the EC2 code. */
const mapEc2Error = (err: unknown, spec: NetworkSpec): unknown => {
  if (isExecutorError(err)) return err;
  const code = ec2ErrorCode(err) ?? '';
  const detail = `${code}: ${errorMessage(err)}`;
  if (code === 'InvalidGroup.NotFound' || code === 'InvalidGroupId.Malformed') {
    const named = /'?(sg-[0-9A-Za-z]+)'?/.exec(errorMessage(err))?.[1];
    const which = named ?? spec.securityGroups.join(', ');
    return new ExecutorError('INVALID_ARGUMENT', `unknown security group ${which}`, { field: 'securityGroups', cause: err });
  }
  if (code === 'InvalidSubnetID.NotFound') return new ExecutorError('FAILED_PRECONDITION', `configured subnet: ${detail}`, { cause: err });
  if (EXHAUSTION_CODES.has(code)) return new ExecutorError('RESOURCE_EXHAUSTED', detail, { cause: err });
  if (THROTTLING_CODES.has(code)) return new ExecutorError('UNAVAILABLE', `EC2 kept throttling: ${detail}`, { cause: err });
  return new ExecutorError('INTERNAL', `ENI attach of task ${spec.taskId} failed: ${detail}`, { cause: err });
};



const buildAttachment = (
  spec: NetworkSpec,
  netnsPath: string,
  lease: EniLease,
  mac: string,
  prefixLength4: number,
  gateway4: string,
  subnetId: string,
): NetworkAttachment => {
  const details: Record<string, string> = {
    netnsPath,
    hostname: spec.hostname,
    securityGroups: spec.securityGroups.join(','),
    bandwidthMbps: String(spec.bandwidthMbps),
    subnetId,
    eniId: lease.eniId ?? '',
    attachmentId: lease.attachmentId ?? '',
    deviceIndex: String(lease.deviceIndex),
  };
  return {
    taskId: spec.taskId,
    driver: AWS_ENI_DRIVER_NAME,
    ...(lease.ipv4 === undefined ? {} : { ipv4: lease.ipv4 }),
    ...(lease.ipv6 === undefined ? {} : { ipv6: lease.ipv6 }),
    prefixLength4,
    gateway4,
    // The NIC is renamed eth0 inside the task; the host keeps no interface of its own.
    hostInterface: '',
    mac,
    details,
  };
};

const leaseOfAttachment = (attachment: NetworkAttachment): EniLease => {
  const detail = (key: string): string | undefined => {
    const value = attachment.details[key];
    return value === undefined || value === '' ? undefined : value;
  };
  const eniId = detail('eniId');
  const attachmentId = detail('attachmentId');
  return {
    taskId: attachment.taskId,
    deviceIndex: Number(detail('deviceIndex') ?? '-1'),
    bandwidthMbps: Number(detail('bandwidthMbps') ?? '0'),
    ...(eniId === undefined ? {} : { eniId }),
    ...(attachmentId === undefined ? {} : { attachmentId }),
    ...(attachment.ipv4 === undefined ? {} : { ipv4: attachment.ipv4 }),
    ...(attachment.ipv6 === undefined ? {} : { ipv6: attachment.ipv6 }),
  };
};
