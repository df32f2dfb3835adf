import type { ExecutorConfig } from './config/config.js';
import type { Logger } from './common/log.js';
import { ExecutorError, errorMessage } from './common/errors.js';
import { DockerRuntime } from './runtime/docker-runtime.js';
import { RegistryAuth } from './runtime/registry-auth/index.js';
import { TaskManager } from './task/task-manager.js';
import { createGpuPart } from './parts/create-gpu-part.js';
import type { GpuTaskPart } from './parts/gpu-task-part.js';
import { createNetworkPart } from './parts/create-network-part.js';
import type { NetworkTaskPart } from './parts/network-part.js';
import { createVolumePart, type VolumeTaskPart } from './parts/volume-part.js';
import { readPublishedTaskViews } from './task/published-tasks.js';
import { isTerminal } from './task/types.js';

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
  /** EFS / NFS volumes (volumes config); mounts under volumes.mountDir, shared by serve and run-task. */
  readonly volumes: VolumeTaskPart;
}

export const composeHostParts = async (config: ExecutorConfig, runtime: DockerRuntime, log: Logger, want: { network: boolean }): Promise<HostParts> => {
  const gpu = await createGpuPart(config, log);
  const network = want.network ? await createNetworkPart(config, runtime, log) : undefined;
  // run-task's tasks are live too: the daemon's recovery must not unmount their volumes.
  const runTaskLive = (): ReadonlySet<string> =>
    new Set(readPublishedTaskViews(config.runTaskDir).filter((v) => !isTerminal(v.state)).map((v) => v.taskId));
  const volumes = createVolumePart(config.volumes, log, runTaskLive);
  return { gpu, network, volumes };
};

/**
 * The engine adapter with the registry credentials the config names. A broken
 * auths file stops the start here rather than failing every pull later.
 */
export const createDockerRuntime = async (config: ExecutorConfig, log: Logger): Promise<{ runtime: DockerRuntime; registryAuth: RegistryAuth }> => {
  const registryAuth = new RegistryAuth(config.docker.auth);
  try {
    await registryAuth.check();
  } catch (err) {
    throw new ExecutorError('INVALID_ARGUMENT', `docker.auth: ${errorMessage(err)}`, { cause: err });
  }
  const a = config.docker.auth;
  // Where credentials come from, never what they are.
  log.info(
    { authsFile: a.authsFile ?? null, ecr: a.ecr.enabled, ecrAliases: Object.keys(a.ecr.aliases), helperDirs: a.credentialHelperDirs },
    'registry credentials',
  );
  return { runtime: new DockerRuntime(config.docker.host, undefined, registryAuth, { engineConcurrency: config.docker.engineConcurrency }), registryAuth };
};

/** run-task's core: the engine, the host's parts (the network part for a pod), one TaskManager. */
export const composeOneTaskCore = async (config: ExecutorConfig, log: Logger, want: { network: boolean }): Promise<TaskManager> => {
  const { runtime } = await createDockerRuntime(config, log);
  const { gpu, network, volumes } = await composeHostParts(config, runtime, log, want);
  return new TaskManager({ runtime, config, log, parts: [gpu, volumes, ...(network !== undefined ? [network] : [])] });
};
