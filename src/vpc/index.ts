import type { Logger } from '../common/log.js';
import { ExecutorError } from '../common/errors.js';
import { networkConfigSchema, type NetworkConfig } from './config.js';
import { LocalNetworkDriver } from './local-driver.js';
import { AwsEniNetworkDriver } from './aws-eni-driver.js';
import type { LeaseStore } from './lease-store.js';
import type { NetworkDriver } from './types.js';

export type { NetworkAttachment, NetworkAvailability, NetworkDriver, NetworkSpec } from './types.js';
export {
  awsEniConfigSchema,
  executorNetworkConfigSchema,
  localNetworkConfigSchema,
  sandboxConfigSchema,
  networkConfigSchema,
  securityGroupCatalogSchema,
  securityGroupRuleSchema,
  securityGroupSchema,
  type AwsEniConfig,
  type ExecutorNetworkConfig,
  type LocalNetworkConfig,
  type SandboxConfig,
  type NetworkConfig,
  type SecurityGroup,
  type SecurityGroupCatalog,
  type SecurityGroupRule,
} from './config.js';
export { LocalNetworkDriver, LOCAL_DRIVER_NAME, METADATA_IPV4, METADATA_IPV6, type LocalDriverOptions } from './local-driver.js';
export { AwsEniNetworkDriver, AWS_ENI_DRIVER_NAME, INSTANCE_ID_TAG, TASK_ID_TAG, type AwsEniDriverOptions } from './aws-eni-driver.js';
export { createEc2Client } from './ec2-api.js';
export { HostNicPlumber, type EniPlumber, type EniPlumbingRequest } from './eni-plumbing.js';
export { Ipam, type IpamOptions, type IpamUsage } from './ipam.js';
export { JsonFileLeaseStore, MemoryLeaseStore, type Lease, type LeaseStore } from './lease-store.js';
export { namesForTask, type TaskNetworkNames } from './naming.js';

export interface NetworkDriverDependencies {
  readonly log?: Logger;
  readonly leaseStore?: LeaseStore;
}

/** The driver the config names; the config is parsed here, so raw YAML/JSON may be passed. */
export const createNetworkDriver = async (
  rawConfig: unknown,
  dependencies: NetworkDriverDependencies = {},
): Promise<NetworkDriver> => {
  const config: NetworkConfig = networkConfigSchema.parse(rawConfig);
  switch (config.driver) {
    case 'local':
      return LocalNetworkDriver.create({ config: config.local, ...dependencies });
    case 'aws-eni':
      if (config.awsEni === undefined) throw new ExecutorError('INVALID_ARGUMENT', 'network.awsEni is required for driver aws-eni');
      return new AwsEniNetworkDriver({ config: config.awsEni, ...(dependencies.log === undefined ? {} : { log: dependencies.log }) });
  }
};
