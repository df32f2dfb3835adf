import type { ExecutorConfig } from './config/config.js';
import type { Logger } from './common/log.js';
import { ExecutorServer } from './api/server.js';
import { DockerRuntime } from './runtime/docker-runtime.js';
import type { ContainerRuntime } from './runtime/container-runtime.js';
import type { TaskPart } from './task/task-part.js';
import { TaskManager } from './task/task-manager.js';
import { createGpuPart, recoverGpuLeases } from './gpu/create-gpu-part.js';
import { createNetworkPart } from './task/create-network-part.js';
import { startNetworkRecovery } from './task/network-part.js';

export interface Executor {
  readonly tasks: TaskManager;
  readonly server: ExecutorServer;
  readonly runtime: ContainerRuntime;
  stop(): Promise<void>;
}

/** The composition root: builds the parts, injects them, starts the API. */
export const startExecutor = async (config: ExecutorConfig, log: Logger, parts: readonly TaskPart[] = []): Promise<Executor> => {
  const runtime = new DockerRuntime(config.docker.host);
  const engine = await runtime.version().catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, 'container engine not reachable yet; launches will fail until it is');
    return 'unreachable';
  });
  log.info({ engine, dockerHost: config.docker.host, executorId: config.executorId }, 'container engine');
  const gpu = await createGpuPart(config, log);
  if (engine !== 'unreachable') {
    await recoverGpuLeases(runtime, gpu, config.executorId, log).catch((err: unknown) =>
      log.error({ err: (err as Error).message }, 'could not re-derive GPU leases from the engine'),
    );
  }
  const network = await createNetworkPart(config, runtime, log);
  // Tasks that outlived a restart keep their networks, the rest is collected; retried while the engine is down.
  if (network !== undefined) await startNetworkRecovery(runtime, network, config.executorId, log);
  const tasks = new TaskManager({ runtime, config, log, parts: [gpu, ...(network !== undefined ? [network] : []), ...parts] });
  const server = new ExecutorServer(tasks, config, log);
  await server.start();
  return {
    tasks,
    server,
    runtime,
    stop: async () => {
      tasks.close();
      await server.stop();
    },
  };
};
