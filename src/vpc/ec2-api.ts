import {
  AssignIpv6AddressesCommand,
  AssignPrivateIpAddressesCommand,
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  DeleteNetworkInterfaceCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  DetachNetworkInterfaceCommand,
  EC2Client,
  ModifyNetworkInterfaceAttributeCommand,
  UnassignPrivateIpAddressesCommand,
  type EC2ClientConfig,
  type NetworkInterface,
} from '@aws-sdk/client-ec2';
import type { AwsEniConfig } from './config.js';

/**
 * The handful of EC2 calls the ENI driver makes, with plain results. Retries
 * are the SDK's: "standard" mode retries throttling (RequestLimitExceeded,
 * HTTP 503) and transient errors with exponential back-off and jitter, up to
 * config.maxAttempts attempts per call. CreateNetworkInterface carries a
 * ClientToken the SDK fills in once per call, so a retried create after a lost
 * response does not make a second ENI.
 */

export const createEc2Client = (config: AwsEniConfig, overrides: Partial<EC2ClientConfig> = {}): EC2Client =>
  new EC2Client({
    region: config.region,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    maxAttempts: config.maxAttempts,
    retryMode: 'standard',
    ...overrides,
  });

export interface Eni {
  readonly id: string;
  readonly mac: string;
  readonly status: string;
  readonly primaryIp?: string;
  readonly attachmentId?: string;
  readonly instanceId?: string;
  readonly deviceIndex?: number;
  readonly tags: Readonly<Record<string, string>>;
}

export interface Subnet {
  readonly id: string;
  readonly cidr: string;
  readonly ipv6Cidr?: string;
}

export interface CreateEniRequest {
  readonly subnetId: string;
  readonly securityGroupIds: readonly string[];
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** The EC2 error code (`InvalidGroup.NotFound`, …) of a thrown SDK error. */
export const ec2ErrorCode = (err: unknown): string | undefined => (err instanceof Error ? err.name : undefined);

const toEni = (raw: NetworkInterface): Eni => {
  const tags: Record<string, string> = {};
  for (const tag of raw.TagSet ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  const attachment = raw.Attachment;
  return {
    id: raw.NetworkInterfaceId ?? '',
    mac: (raw.MacAddress ?? '').toLowerCase(),
    status: raw.Status ?? 'unknown',
    ...(raw.PrivateIpAddress === undefined ? {} : { primaryIp: raw.PrivateIpAddress }),
    ...(attachment?.AttachmentId === undefined ? {} : { attachmentId: attachment.AttachmentId }),
    ...(attachment?.InstanceId === undefined ? {} : { instanceId: attachment.InstanceId }),
    ...(attachment?.DeviceIndex === undefined ? {} : { deviceIndex: attachment.DeviceIndex }),
    tags,
  };
};

export class Ec2Api {
  constructor(private readonly client: EC2Client) {}

  async describeSubnet(subnetId: string, signal?: AbortSignal): Promise<Subnet> {
    const out = await this.client.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }), { abortSignal: signal });
    const subnet = out.Subnets?.[0];
    if (subnet?.CidrBlock === undefined) throw new Error(`DescribeSubnets returned no CIDR for ${subnetId}`);
    const ipv6Cidr = subnet.Ipv6CidrBlockAssociationSet?.find((a) => a.Ipv6CidrBlock !== undefined)?.Ipv6CidrBlock;
    return { id: subnetId, cidr: subnet.CidrBlock, ...(ipv6Cidr === undefined ? {} : { ipv6Cidr }) };
  }

  async createEni(request: CreateEniRequest, signal?: AbortSignal): Promise<Eni> {
    const out = await this.client.send(
      new CreateNetworkInterfaceCommand({
        SubnetId: request.subnetId,
        Groups: [...request.securityGroupIds],
        Description: request.description,
        TagSpecifications: [
          { ResourceType: 'network-interface', Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
      { abortSignal: signal },
    );
    if (out.NetworkInterface === undefined) throw new Error('CreateNetworkInterface returned no interface');
    return toEni(out.NetworkInterface);
  }

  async attachEni(eniId: string, instanceId: string, deviceIndex: number, signal?: AbortSignal): Promise<string> {
    const out = await this.client.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: eniId, InstanceId: instanceId, DeviceIndex: deviceIndex }),
      { abortSignal: signal },
    );
    if (out.AttachmentId === undefined) throw new Error(`AttachNetworkInterface returned no attachment id for ${eniId}`);
    return out.AttachmentId;
  }

  /** The ENI goes with the instance: if the instance is terminated before the executor deletes it, EC2 does. */
  async setDeleteOnTermination(eniId: string, attachmentId: string, signal?: AbortSignal): Promise<void> {
    await this.client.send(
      new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eniId, Attachment: { AttachmentId: attachmentId, DeleteOnTermination: true } }),
      { abortSignal: signal },
    );
  }

  async assignPrivateIp(eniId: string, signal?: AbortSignal): Promise<string> {
    const out = await this.client.send(
      new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eniId, SecondaryPrivateIpAddressCount: 1 }),
      { abortSignal: signal },
    );
    const address = out.AssignedPrivateIpAddresses?.[0]?.PrivateIpAddress;
    if (address === undefined) throw new Error(`AssignPrivateIpAddresses gave ${eniId} no address`);
    return address;
  }

  async assignIpv6(eniId: string, signal?: AbortSignal): Promise<string> {
    const out = await this.client.send(new AssignIpv6AddressesCommand({ NetworkInterfaceId: eniId, Ipv6AddressCount: 1 }), {
      abortSignal: signal,
    });
    const address = out.AssignedIpv6Addresses?.[0];
    if (address === undefined) throw new Error(`AssignIpv6Addresses gave ${eniId} no address`);
    return address;
  }

  async unassignPrivateIp(eniId: string, address: string): Promise<void> {
    await this.client.send(new UnassignPrivateIpAddressesCommand({ NetworkInterfaceId: eniId, PrivateIpAddresses: [address] }));
  }

  async detachEni(attachmentId: string): Promise<void> {
    await this.client.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId, Force: true }));
  }

  async deleteEni(eniId: string): Promise<void> {
    await this.client.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eniId }));
  }

  /** undefined when EC2 does not know the ENI (any more). */
  async describeEni(eniId: string): Promise<Eni | undefined> {
    try {
      const out = await this.client.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));
      const raw = out.NetworkInterfaces?.[0];
      return raw === undefined ? undefined : toEni(raw);
    } catch (err) {
      if (ec2ErrorCode(err) === 'InvalidNetworkInterfaceID.NotFound') return undefined;
      throw err;
    }
  }

  /** ENIs carrying all the given tags (follows pagination). */
  async listEnisTagged(tags: Readonly<Record<string, string>>): Promise<Eni[]> {
    const filters = Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] }));
    const enis: Eni[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(
        new DescribeNetworkInterfacesCommand({ Filters: filters, ...(nextToken === undefined ? {} : { NextToken: nextToken }) }),
      );
      enis.push(...(out.NetworkInterfaces ?? []).map(toEni));
      nextToken = out.NextToken;
    } while (nextToken !== undefined && nextToken !== '');
    return enis;
  }
}
