import type { ExecutorConfig } from './config/config.js';
import type { Logger } from './common/log.js';
import { DockerRuntime } from './runtime/docker-runtime.js';
import { TaskManager } from './task/task-manager.js';
import { createGpuPart } from './parts/create-gpu-part.js';
import type { GpuTaskPart } from './parts/gpu-task-part.js';
import { createNetworkPart } from './parts/create-network-part.js';
import type { NetworkTaskPart } from './parts/network-part.js';

/**
 * The composition both `serve` (src/executor.ts) and `run-task` use, so the
 * two build the same parts the same way. Kept apart from executor.ts so that
 * run-task, one task in its own process, does not load the daemon's servers.
 */
export interface HostParts {
  /** On gpu.lockDir, shared by every process of this host: a GPU held by one is not granted by another. */
  readonly gpu: GpuTaskPart;
  /** The network part the config asks for; undefined for `network.driver: none` or when not asked for. */
  readonly network: NetworkTaskPart | undefined;
}

export const composeHostParts = async (config: ExecutorConfig, runtime: DockerRuntime, log: Logger, want: { network: boolean }): Promise<HostParts> => {
  const gpu = await createGpuPart(config, log);
  const network = want.network ? await createNetworkPart(config, runtime, log) : undefined;
  return { gpu, network };
};

/** run-task's core: the engine, the host's parts (the network part for a pod), one TaskManager. */
export const composeOneTaskCore = async (config: ExecutorConfig, log: Logger, want: { network: boolean }): Promise<TaskManager> => {
  const runtime = new DockerRuntime(config.docker.host, undefined, { engineConcurrency: config.docker.engineConcurrency });
  const { gpu, network } = await composeHostParts(config, runtime, log, want);
  return new TaskManager({ runtime, config, log, parts: [gpu, ...(network !== undefined ? [network] : [])] });
};
