import type { ExecutorConfig } from '../config/config.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { LABEL } from '../runtime/labels.js';
import type { GpuInventory } from '../gpu/gpu-device.js';
import { ExclusiveGpuAllocator } from '../gpu/gpu-allocator.js';
import { FileGpuLockStore, NO_CROSS_PROCESS_LOCKS } from '../gpu/gpu-lock-store.js';
import { GPU_LABEL, GpuTaskPart } from './gpu-task-part.js';
import { readGpuInventory } from '../gpu/nvidia-inventory.js';
import { writeNvidiaHooksConfig } from '../gpu/oci-hooks-config.js';

/**
 * Reads the host's GPUs and builds the GPU part. A failing or hanging
 * nvidia-smi leaves the host with zero GPUs and says why; it never stops the
 * executor from serving tasks without GPUs.
 */
export const createGpuPart = async (config: Pick<ExecutorConfig, 'gpu'>, log: Logger): Promise<GpuTaskPart> => {
  const g = config.gpu;
  let inventory: GpuInventory;
  try {
    inventory = await readGpuInventory({ nvidiaSmiPath: g.nvidiaSmiPath, deviceNodePath: g.deviceNodePath, timeoutMs: g.inventoryTimeoutMs });
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'GPU inventory failed; this host offers no GPUs until it is fixed');
    inventory = { gpus: [], reason: `GPU inventory failed: ${errorMessage(err)}` };
  }
  if (inventory.gpus.length === 0) log.info({ reason: inventory.reason }, 'no GPUs on this host');
  else log.info({ gpus: inventory.gpus.map((d) => `${d.index}:${d.uuid}`), driver: inventory.driverVersion }, 'GPUs found');
  const lockStore = inventory.gpus.length > 0 ? new FileGpuLockStore({ lockDir: g.lockDir, log }) : NO_CROSS_PROCESS_LOCKS;
  const allocator = new ExclusiveGpuAllocator(inventory.gpus, { lockStore });
  if (inventory.gpus.length > 0 && g.writeHookConfig) {
    await writeNvidiaHooksConfig({ configPath: g.hookConfigPath, hookPath: g.hookPath }).catch((err: unknown) =>
      log.warn({ err: errorMessage(err), path: g.hookConfigPath }, 'could not write the OCI hook config'),
    );
  }
  return new GpuTaskPart(allocator, inventory, { nvidiaOciRuntime: g.nvidiaOciRuntime, driverCapabilities: g.driverCapabilities }, log);
};

/**
 * After a restart: GPUs held by this executor's still-running containers are
 * re-granted from their labels (never double-granted), before the API opens.
 * They come back when the re-attached task (or, for a container with no task
 * record, the orphan removal) releases its parts; not on the end of a wait
 * here, which an engine restart also ends while a live-restored container
 * runs on. Task records themselves are recovered elsewhere.
 */
export const recoverGpuLeases = async (runtime: ContainerRuntime, part: GpuTaskPart, executorId: string, log: Logger): Promise<void> => {
  const containers = await runtime.listContainers({ [LABEL.executor]: executorId });
  for (const c of containers) {
    const uuids = c.labels[GPU_LABEL];
    const taskId = c.labels[LABEL.taskId];
    if (uuids === undefined || uuids === '' || taskId === undefined || c.state !== 'running') continue;
    try {
      part.restore(taskId, uuids.split(','));
      log.info({ taskId, gpus: uuids }, 'GPUs of a running container re-granted after restart');
    } catch (err) {
      log.error({ taskId, err: errorMessage(err) }, 'cannot re-grant the GPUs of a running container');
    }
  }
};
