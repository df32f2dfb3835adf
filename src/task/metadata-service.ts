import { isIPv6 } from 'node:net';
import type { ExecutorConfig } from '../config/config.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { MetadataProxy } from '../metadata-proxy/metadata-proxy.js';
import { metadataProxyNftScript, metadataProxyNftTeardown } from '../metadata-proxy/nftables.js';
import { InMemoryTaskDirectory } from '../metadata-proxy/task-directory.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { hostToolContext, netnsPathOfName, runTool, type ToolContext } from '../vpc/exec.js';
import { TaskMetadataDirectory, type MetadataTaskSource } from './metadata-directory.js';

/** The nftables table holding the redirect to the proxy, in the namespace of the host-side veths. */
export const METADATA_NFT_TABLE = 'titus_metadata';

/** How often recovery of tasks that outlived a restart is retried while the engine cannot be reached. */
const RECOVERY_RETRY_MS = 5000;

export interface MetadataService {
  readonly directory: InMemoryTaskDirectory;
  readonly proxy: MetadataProxy;
  /** Goes in the task core's parts right after the network part (it detaches before the address is released). */
  readonly part: TaskMetadataDirectory;
  /** Starts feeding the directory from the task core's status updates. */
  connect(tasks: MetadataTaskSource): void;
  /** Stops serving and removes the redirect; idempotent. */
  stop(): Promise<void>;
}

/**
 * What `metadataProxy.enabled` needs, checked before anything starts. Tasks
 * reach 169.254.169.254 through the host side of their veth, where the
 * nftables rules send it to the proxy; without that hop there is nothing to
 * intercept.
 */
export const checkMetadataProxyConfig = (config: ExecutorConfig): void => {
  const mp = config.metadataProxy;
  if (!mp.enabled) return;
  const driver = config.network.driver;
  if (driver === 'none') {
    throw new ExecutorError(
      'FAILED_PRECONDITION',
      'metadataProxy.enabled needs task networking: set network.driver to local (with driver none tasks have no network, so nothing reaches 169.254.169.254)',
    );
  }
  if (driver !== 'local') {
    throw new ExecutorError(
      'FAILED_PRECONDITION',
      `metadataProxy.enabled is not supported with network.driver ${driver} yet: an ENI task sends 169.254.169.254 straight to the VPC's own instance metadata service, never through this host, so the proxy cannot intercept it (use network.driver local, or turn the proxy off)`,
    );
  }
  if (mp.listen.port === 0) {
    throw new ExecutorError('FAILED_PRECONDITION', 'metadataProxy.listen.port must be a fixed port: the nftables redirect of 169.254.169.254:80 names it');
  }
};

const hostPort = (host: string, port: number): string => `${isIPv6(host) ? `[${host}]` : host}:${port}`;

/**
 * The metadata proxy serving this executor's tasks (docs/metadata-proxy.md),
 * or undefined when `metadataProxy.enabled` is false. Listens where the host
 * side of the task veths lives (the executor's own namespace, or
 * `network.local.hostNetns`, through a socket bound there: netns-listen.ts),
 * loads the nftables redirect of 169.254.169.254:80 (and [fd00:ec2::254]:80
 * when it listens on IPv6) there, and attaches the tasks whose containers
 * outlived a restart. A proxy that cannot start stops the executor from
 * starting, as a network driver does.
 */
export const startMetadataService = async (
  config: ExecutorConfig,
  runtime: ContainerRuntime,
  log: Logger,
  onRequest?: (route: string, status: number) => void,
): Promise<MetadataService | undefined> => {
  const mp = config.metadataProxy;
  if (!mp.enabled) return undefined;
  checkMetadataProxyConfig(config);
  const plog = log.child({ component: 'metadata-proxy' });
  const local = config.network.local;
  const host: ToolContext = hostToolContext(local);
  const netnsPath = local.hostNetns === undefined ? undefined : netnsPathOfName(local.hostNetns);
  const ipv6 = mp.listen.hosts.some((h) => isIPv6(h));
  const where = `${mp.listen.hosts.map((h) => hostPort(h, mp.listen.port)).join(', ')}${local.hostNetns === undefined ? '' : ` in netns ${local.hostNetns}`}`;
  const directory = new InMemoryTaskDirectory();
  const part = new TaskMetadataDirectory(directory, plog, () => where);
  const proxy = new MetadataProxy({
    config: mp,
    directory,
    log: plog,
    events: part.events,
    ...(netnsPath === undefined ? {} : { netnsPath }),
    ...(onRequest === undefined ? {} : { onRequest }),
  });
  try {
    await proxy.start();
    await runTool(host, ['nft', '-f', '-'], { input: metadataProxyNftScript({ proxyPort: mp.listen.port, table: METADATA_NFT_TABLE, ipv6 }) });
  } catch (err) {
    await proxy.stop().catch(() => undefined);
    throw new ExecutorError('FAILED_PRECONDITION', `metadata proxy not started: ${errorMessage(err)}`, { cause: err });
  }
  if (local.ipv6Cidr !== undefined && !ipv6) {
    plog.warn({ listen: mp.listen.hosts }, 'IPv6 tasks get no metadata at [fd00:ec2::254]: add "::" to metadataProxy.listen.hosts');
  }
  plog.info({ listen: where, ipv6, table: METADATA_NFT_TABLE, requireToken: mp.requireToken }, 'metadata proxy serving tasks at 169.254.169.254:80');

  let stopped: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  const recover = async (): Promise<void> => {
    try {
      await part.recover(runtime, config.executorId, config.network.driver);
    } catch (err) {
      plog.warn({ err: errorMessage(err), retryMs: RECOVERY_RETRY_MS }, 'cannot list the tasks that outlived a restart yet; they get no metadata until then');
      if (stopped === undefined) {
        retry = setTimeout(() => void recover(), RECOVERY_RETRY_MS);
        retry.unref();
      }
    }
  };
  await recover();

  return {
    directory,
    proxy,
    part,
    connect: (tasks) => part.connect(tasks),
    stop: () => {
      stopped ??= (async () => {
        clearTimeout(retry);
        part.stop();
        await proxy.stop();
        const removed = await runTool(host, ['nft', '-f', '-'], { input: metadataProxyNftTeardown(METADATA_NFT_TABLE), allowFailure: true }).catch((err: unknown) => ({
          code: 1,
          stderr: errorMessage(err),
        }));
        if (removed.code !== 0 && !/No such file or directory/i.test(removed.stderr)) {
          plog.error({ err: removed.stderr.trim() }, `could not remove nft table inet ${METADATA_NFT_TABLE}`);
        }
        plog.info('metadata proxy stopped');
      })();
      return stopped;
    },
  };
};
