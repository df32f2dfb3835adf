import type { ExecutorConfig } from '../config/config.js';
import type { Logger } from '../common/log.js';
import { createNetworkDriver } from '../vpc/create-driver.js';
import { NetworkTaskPart } from './network-part.js';
import { SandboxManager, type SandboxRuntime } from './sandbox.js';
import { SharedNetworkPart } from './shared-network-part.js';

/** The config slice the network parts read. */
export type NetworkPartConfig = Pick<ExecutorConfig, 'network' | 'executorId' | 'docker'>;

/**
 * The network part the config asks for, or undefined for `network.driver:
 * none` (tasks keep network mode `none`). A configured driver that cannot
 * start (an unreadable lease file, a bad pool) stops the executor from
 * starting: a host set up for networking must not run tasks without it.
 */
export const createNetworkPart = async (
  config: NetworkPartConfig,
  runtime: SandboxRuntime,
  log: Logger,
): Promise<NetworkTaskPart | undefined> => {
  const n = config.network;
  if (n.driver === 'none') return undefined;
  const driver = await createNetworkDriver({ driver: n.driver, local: n.local, awsEni: n.awsEni }, { log });
  const sandboxes = createSandboxManager(config, runtime, log);
  const part = new NetworkTaskPart(driver, sandboxes, { setupTimeoutMs: n.sandbox.setupTimeoutMs }, log.child({ component: 'network' }));
  if (n.gcIntervalSeconds > 0) part.startPeriodicGc(n.gcIntervalSeconds * 1000);
  log.info({ driver: driver.name, pauseImage: sandboxes.imageRef, ...part.capacity() }, 'task networking enabled');
  return part;
};

const createSandboxManager = (config: NetworkPartConfig, runtime: SandboxRuntime, log: Logger): SandboxManager =>
  new SandboxManager(
    runtime,
    config.network.sandbox,
    {
      executorId: config.executorId,
      executorPid: process.pid,
      ...(config.docker.defaultRuntime !== undefined ? { defaultRuntime: config.docker.defaultRuntime } : {}),
    },
    log.child({ component: 'sandbox' }),
  );

/**
 * Pods' shared networks (a namespace with only lo, shared by a pod's
 * containers) when the executor has no network driver; with one, each of a
 * pod's containers gets a task network of its own, as any task does.
 */
export const createSharedNetworkPart = (config: NetworkPartConfig, runtime: SandboxRuntime, log: Logger): SharedNetworkPart | undefined =>
  config.network.driver === 'none' ? new SharedNetworkPart(createSandboxManager(config, runtime, log), log.child({ component: 'shared-network' })) : undefined;
