import type { Logger } from '../common/log.js';
import { ExecutorError } from '../common/errors.js';
import { networkConfigSchema, type NetworkConfig } from './config.js';
import { LocalNetworkDriver } from './local-driver.js';
import type { LeaseStore } from './lease-store.js';
import type { NetworkDriver } from './types.js';

export interface NetworkDriverDependencies {
  readonly log?: Logger;
  readonly leaseStore?: LeaseStore;
}

/**
 * The driver the config names; the config is parsed here, so raw YAML/JSON may
 * be passed. The AWS driver (and the AWS SDK, some 80 MiB of memory) is loaded
 * only on hosts that use it.
 */
export const createNetworkDriver = async (
  rawConfig: unknown,
  dependencies: NetworkDriverDependencies = {},
): Promise<NetworkDriver> => {
  const config: NetworkConfig = networkConfigSchema.parse(rawConfig);
  switch (config.driver) {
    case 'local':
      return LocalNetworkDriver.create({ config: config.local, ...dependencies });
    case 'aws-eni': {
      if (config.awsEni === undefined) throw new ExecutorError('INVALID_ARGUMENT', 'network.awsEni is required for driver aws-eni');
      const { AwsEniNetworkDriver } = await import('./aws-eni-driver.js');
      return new AwsEniNetworkDriver({ config: config.awsEni, ...(dependencies.log === undefined ? {} : { log: dependencies.log }) });
    }
  }
};
