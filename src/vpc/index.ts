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

export { createNetworkDriver, type NetworkDriverDependencies } from './create-driver.js';
