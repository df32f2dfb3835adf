import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerSummary } from '../runtime/container-runtime.js';
import { LABEL } from '../runtime/labels.js';
import type { LaunchSpec } from '../task/types.js';
import type { PartCapacity, PartGrant, TaskPart } from '../task/task-part.js';
import type { GpuDevice, GpuInventory } from '../gpu/gpu-device.js';
import type { GpuAllocator } from '../gpu/gpu-allocator.js';
import { gpuContainerConfig } from '../gpu/gpu-container-config.js';

/** Container label naming the GPUs a task holds, so they can be re-derived from the engine. */
export const GPU_LABEL = 'titus.executor.gpus';

export interface GpuTaskPartOptions {
  readonly nvidiaOciRuntime: string;
  readonly driverCapabilities: string;
}

/**
 * GPUs as a task part: exclusive allocation at admission (so a request that
 * does not fit is RESOURCE_EXHAUSTED, not a lost task), the OCI runtime and
 * NVIDIA env for the container, release on every exit path.
 */
export class GpuTaskPart implements TaskPart {
  readonly name = 'gpu';
  /** Set while the GPUs of containers that outlived a restart are not known yet (the engine was down at start). */
  #awaitingReconcile = false;

  constructor(
    private readonly allocator: GpuAllocator,
    private readonly inventory: GpuInventory,
    private readonly options: GpuTaskPartOptions,
    private readonly log: Logger,
  ) {}

  admit(launch: LaunchSpec): void {
    if (launch.resources.gpus === 0) return;
    if (this.#awaitingReconcile) {
      throw new ExecutorError('UNAVAILABLE', 'GPUs are not granted until the GPUs of tasks that outlived the executor restart are known again; retry shortly');
    }
    const lease = this.allocator.allocate(launch.taskId, launch.resources.gpus);
    this.log.info({ taskId: launch.taskId, gpus: lease.devices.map((d) => d.uuid) }, 'GPUs allocated');
  }

  async acquire(launch: LaunchSpec): Promise<PartGrant> {
    const lease = this.allocator.leases().find((l) => l.taskId === launch.taskId) ?? { taskId: launch.taskId, devices: [] };
    const { runtime, env } = gpuContainerConfig(lease, this.options);
    return {
      env,
      ...(runtime !== undefined ? { runtime } : {}),
      ...(lease.devices.length > 0 ? { labels: { [GPU_LABEL]: lease.devices.map((d) => d.uuid).join(',') } } : {}),
    };
  }

  async release(taskId: string): Promise<void> {
    const held = this.allocator.leases().some((l) => l.taskId === taskId);
    this.allocator.release(taskId);
    if (held) this.log.info({ taskId }, 'GPUs released');
  }

  /** Re-grants the GPUs a running container holds (after an executor restart). */
  restore(taskId: string, uuids: readonly string[]): void {
    this.allocator.restore(taskId, uuids);
  }

  /**
   * After a restart: the GPUs of live tasks whose containers run are granted
   * again (a no-op when that was done at start; needed when the engine was
   * down then), and every lock left by a process that is gone is removed,
   * whoever's task it named: a task that ended while the executor was down
   * never released its lock.
   */
  /**
   * The executor started while the engine was down: the GPUs its running
   * containers hold cannot be read yet, so none is granted until
   * reconcileAfterRestart (or the free ones could go to a second task).
   */
  holdUntilReconciled(): void {
    this.#awaitingReconcile = true;
  }

  async reconcileAfterRestart(containers: readonly ContainerSummary[], live: ReadonlySet<string>): Promise<void> {
    for (const c of containers) {
      const taskId = c.labels[LABEL.taskId] ?? '';
      const uuids = c.labels[GPU_LABEL];
      if (uuids === undefined || uuids === '' || c.state !== 'running' || !live.has(taskId)) continue;
      try {
        this.restore(taskId, uuids.split(','));
      } catch (err) {
        this.log.error({ taskId, err: errorMessage(err) }, 'cannot re-grant the GPUs of a running container');
      }
    }
    this.#awaitingReconcile = false;
    for (const owner of this.allocator.removeStaleLocks?.() ?? []) {
      this.log.warn({ taskId: owner.taskId, pid: owner.pid }, 'removed a GPU lock left by a process that is gone');
    }
  }

  capacity(): PartCapacity {
    const holder = new Map<string, string>();
    for (const l of this.allocator.leases()) for (const d of l.devices) holder.set(d.uuid, l.taskId);
    const describe = (d: GpuDevice) => ({ ...d, ...(holder.has(d.uuid) ? { taskId: holder.get(d.uuid) } : {}) });
    const status =
      this.inventory.gpus.length > 0
        ? `gpu: ${this.inventory.gpus.length} GPUs, ${this.allocator.inUse()} in use${this.inventory.driverVersion !== undefined ? `, driver ${this.inventory.driverVersion}` : ''}`
        : `gpu: none (${this.inventory.reason ?? 'no GPUs found'})`;
    return { gpus: this.allocator.total, status, gpuDevices: this.inventory.gpus.map(describe) };
  }
}
