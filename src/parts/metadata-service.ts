import { isIPv6 } from 'node:net';
import type { ExecutorConfig } from '../config/config.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { MetadataProxy } from '../metadata-proxy/metadata-proxy.js';
import { IMDS_IPV4, IMDS_IPV6, metadataProxyNftScript, metadataProxyNftTeardown } from '../metadata-proxy/nftables.js';
import { InMemoryTaskDirectory } from '../metadata-proxy/task-directory.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { hostToolContext, netnsPathOfName, runTool, type ToolContext } from '../vpc/exec.js';
import type { ContainerDetails } from '../runtime/container-runtime.js';
import type { NetworkAttachment } from '../vpc/types.js';
import { TaskMetadataDirectory, type MetadataTaskSource, type TaskNamespaceListeners } from './metadata-directory.js';

/** The nftables table holding the redirect to the proxy, in the namespace of the host-side veths. */
export const METADATA_NFT_TABLE = 'titus_metadata';

/** Where clients look for instance metadata; ENI tasks' own listeners take it as it is. */
const IMDS_PORT = 80;

/** What the service needs of the network part (NetworkTaskPart has it). */
export interface TaskAttachments {
  attachmentOf(taskId: string): NetworkAttachment | undefined;
}

/** How to find a surviving task container's process (the Docker runtime has it). */
type InspectingRuntime = ContainerRuntime & { inspectContainer?(id: string): Promise<ContainerDetails | undefined> };

/** How often recovery of tasks that outlived a restart is retried while the engine cannot be reached. */
const RECOVERY_RETRY_MS = 5000;

export interface MetadataService {
  readonly directory: InMemoryTaskDirectory;
  readonly proxy: MetadataProxy;
  /** Goes in the task core's parts right after the network part (it detaches before the address is released). */
  readonly part: TaskMetadataDirectory;
  /** Starts feeding the directory from the task core's status bus (a listener only: it calls nothing back). */
  connect(bus: MetadataTaskSource): void;
  /** Stops serving and removes the redirect; idempotent. */
  stop(): Promise<void>;
}

/** The config slice the metadata part reads. */
export type MetadataPartConfig = Pick<ExecutorConfig, 'metadataProxy' | 'network' | 'executorId'>;

/**
 * What `metadataProxy.enabled` needs, checked before anything starts. Local
 * tasks reach 169.254.169.254 through the host side of their veth, where the
 * nftables rules send it to the proxy's fixed port; ENI tasks get a listener
 * of the proxy inside their own namespace (their traffic never passes the
 * host), so any driver but `none` works.
 */
export const checkMetadataProxyConfig = (config: MetadataPartConfig): void => {
  const mp = config.metadataProxy;
  if (!mp.enabled) return;
  const driver = config.network.driver;
  if (driver === 'none') {
    throw new ExecutorError(
      'FAILED_PRECONDITION',
      'metadataProxy.enabled needs task networking: set network.driver to local or aws-eni (with driver none tasks have no network, so nothing reaches 169.254.169.254)',
    );
  }
  if (driver === 'local' && mp.listen.port === 0) {
    throw new ExecutorError('FAILED_PRECONDITION', 'metadataProxy.listen.port must be a fixed port: the nftables redirect of 169.254.169.254:80 names it');
  }
};

const hostPort = (host: string, port: number): string => `${isIPv6(host) ? `[${host}]` : host}:${port}`;

/**
 * The metadata proxy serving this executor's tasks (docs/metadata-proxy.md),
 * or undefined when `metadataProxy.enabled` is false.
 *
 * - `local`: listens where the host side of the task veths lives (the
 *   executor's own namespace, or `network.local.hostNetns`, through a socket
 *   bound there: netns-listen.ts), loads the nftables redirect of
 *   169.254.169.254:80 (and [fd00:ec2::254]:80 when it listens on IPv6)
 *   there, and knows tasks by source address.
 * - `aws-eni`: nothing on the host; each task gets listeners at
 *   169.254.169.254:80 (and [fd00:ec2::254]:80 with IPv6) inside its own
 *   namespace, where the driver made those addresses local and guarded
 *   (src/vpc/metadata-guard.ts). Opened by the task part before the task's
 *   container exists; a task whose listener cannot be opened fails.
 *
 * Tasks whose containers outlived a restart are attached again. A proxy that
 * cannot start stops the executor from starting, as a network driver does.
 */
export const startMetadataService = async (
  config: MetadataPartConfig,
  runtime: InspectingRuntime,
  log: Logger,
  onRequest?: (route: string, status: number) => void,
  network?: TaskAttachments,
): Promise<MetadataService | undefined> => {
  const mp = config.metadataProxy;
  if (!mp.enabled) return undefined;
  checkMetadataProxyConfig(config);
  const plog = log.child({ component: 'metadata-proxy' });
  const perTaskNamespace = config.network.driver === 'aws-eni';
  const local = config.network.local;
  const host: ToolContext = hostToolContext(local);
  const netnsPath = perTaskNamespace || local.hostNetns === undefined ? undefined : netnsPathOfName(local.hostNetns);
  const ipv6 = mp.listen.hosts.some((h) => isIPv6(h));
  const where = perTaskNamespace
    ? `in each task's namespace at ${IMDS_IPV4}:${IMDS_PORT}`
    : `${mp.listen.hosts.map((h) => hostPort(h, mp.listen.port)).join(', ')}${local.hostNetns === undefined ? '' : ` in netns ${local.hostNetns}`}`;
  const directory = new InMemoryTaskDirectory();
  let proxyRef: MetadataProxy | undefined;
  const namespaces = perTaskNamespace ? taskNamespaceListeners(() => proxyRef, network, runtime) : undefined;
  const part = new TaskMetadataDirectory(directory, plog, () => where, namespaces);
  const proxy = new MetadataProxy({
    config: mp,
    directory,
    log: plog,
    events: part.events,
    sharedListeners: !perTaskNamespace,
    ...(netnsPath === undefined ? {} : { netnsPath }),
    ...(onRequest === undefined ? {} : { onRequest }),
  });
  proxyRef = proxy;
  try {
    await proxy.start();
    if (!perTaskNamespace) {
      await runTool(host, ['nft', '-f', '-'], { input: metadataProxyNftScript({ proxyPort: mp.listen.port, table: METADATA_NFT_TABLE, ipv6 }) });
    }
  } catch (err) {
    await proxy.stop().catch(() => undefined);
    throw new ExecutorError('FAILED_PRECONDITION', `metadata proxy not started: ${errorMessage(err)}`, { cause: err });
  }
  if (!perTaskNamespace && local.ipv6Cidr !== undefined && !ipv6) {
    plog.warn({ listen: mp.listen.hosts }, 'IPv6 tasks get no metadata at [fd00:ec2::254]: add "::" to metadataProxy.listen.hosts');
  }
  plog.info(
    { listen: where, ipv6: perTaskNamespace || ipv6, ...(perTaskNamespace ? {} : { table: METADATA_NFT_TABLE }), requireToken: mp.requireToken },
    'metadata proxy serving tasks at 169.254.169.254:80',
  );

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
    connect: (bus) => part.connect(bus),
    stop: () => {
      stopped ??= (async () => {
        clearTimeout(retry);
        part.stop();
        await proxy.stop();
        if (perTaskNamespace) {
          plog.info('metadata proxy stopped');
          return;
        }
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

/**
 * ENI tasks' own listeners, in the namespace their attachment names (the
 * sandbox's) or, after a restart, their surviving container's. Refuses a task
 * with no ENI attachment: it would run with nothing answering its metadata
 * and must not be mistaken for served.
 */
const taskNamespaceListeners = (
  proxy: () => MetadataProxy | undefined,
  network: TaskAttachments | undefined,
  runtime: InspectingRuntime,
): TaskNamespaceListeners => {
  const serve = async (taskId: string, netnsPath: string, attachment: NetworkAttachment): Promise<void> => {
    const p = proxy();
    if (p === undefined) throw new ExecutorError('FAILED_PRECONDITION', 'metadata proxy not started');
    const hosts = attachment.ipv6 === undefined ? [IMDS_IPV4] : [IMDS_IPV4, IMDS_IPV6];
    try {
      await p.serveTaskNamespace({ taskId, netnsPath, hosts, port: IMDS_PORT });
    } catch (err) {
      throw new ExecutorError('FAILED_PRECONDITION', `task ${taskId} gets no instance metadata listener, so it is not started: ${errorMessage(err)}`, { cause: err });
    }
  };
  return {
    open: async (taskId) => {
      const attachment = network?.attachmentOf(taskId);
      const netnsPath = attachment?.details['netnsPath'];
      if (attachment === undefined || netnsPath === undefined || netnsPath === '') {
        throw new ExecutorError('FAILED_PRECONDITION', `task ${taskId} has no ENI network namespace to serve instance metadata in, so it is not started`);
      }
      await serve(taskId, netnsPath, attachment);
    },
    reopen: async (taskId, containerId, attachment) => {
      const details = await runtime.inspectContainer?.(containerId);
      if (details === undefined || details.pid <= 0) throw new Error(`container ${containerId} has no running process to find its namespace by`);
      await serve(taskId, `/proc/${details.pid}/ns/net`, attachment);
    },
    close: async (taskId) => {
      await proxy()?.closeTaskNamespace(taskId);
    },
  };
};
