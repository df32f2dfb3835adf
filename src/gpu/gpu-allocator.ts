import { ExecutorError, invalidArgument } from '../common/errors.js';
import { byIndex, type GpuDevice } from './gpu-device.js';
import { NO_CROSS_PROCESS_LOCKS, type GpuLockOwner, type GpuLockStore } from './gpu-lock-store.js';

/** The GPUs one task holds, lowest index first. */
export interface GpuLease {
  readonly taskId: string;
  readonly devices: readonly GpuDevice[];
}

export interface GpuAllocator {
  readonly total: number;
  inUse(): number;
  /**
   * Exactly `count` GPUs no other task holds, lowest index first. The same
   * taskId and count again returns the existing lease; 0 gives an empty lease.
   * Throws ExecutorError RESOURCE_EXHAUSTED when too few are free.
   */
  allocate(taskId: string, count: number): GpuLease;
  /** Gives the task's GPUs back; a no-op for a task that holds none. */
  release(taskId: string): void;
  /**
   * After an executor restart: re-grants exactly these GPUs (persisted with
   * the task). Throws rather than grant a GPU that is unknown or held by
   * another task.
   */
  restore(taskId: string, uuids: readonly string[]): GpuLease;
  leases(): readonly GpuLease[];
  /** Removes cross-process locks whose process is gone (after a crash); what was removed. */
  removeStaleLocks?(): readonly GpuLockOwner[];
}

export interface ExclusiveGpuAllocatorOptions {
  /** Exclusion against other executor processes; default none (in-process only). */
  readonly lockStore?: GpuLockStore;
}

const makeLease = (taskId: string, devices: readonly GpuDevice[]): GpuLease =>
  Object.freeze({ taskId, devices: Object.freeze([...devices].sort(byIndex)) });

const describeHolder = (holder: GpuLockOwner | undefined): string =>
  holder === undefined ? 'another executor process' : `task ${holder.taskId} in process ${holder.pid}`;

const assertTaskId = (taskId: string): void => {
  if (typeof taskId !== 'string' || taskId === '') throw invalidArgument('taskId', 'must be a non-empty string');
};

const assertCount = (count: number): void => {
  if (!Number.isSafeInteger(count) || count < 0) throw invalidArgument('gpu', `GPU count must be a whole number >= 0, got ${count}`);
};

const sameUuids = (lease: GpuLease, uuids: readonly string[]): boolean =>
  lease.devices.length === uuids.length && lease.devices.every((device) => uuids.includes(device.uuid));

const checkDistinct = (devices: readonly GpuDevice[]): void => {
  const uuids = new Set(devices.map((d) => d.uuid));
  const indexes = new Set(devices.map((d) => d.index));
  if (uuids.size !== devices.length || indexes.size !== devices.length) {
    throw new ExecutorError('INTERNAL', 'GPU inventory lists a GPU twice');
  }
};

/**
 * Hands out whole GPUs, each to at most one task, in memory (one executor
 * daemon per host; the task store persists leases and calls restore() after a
 * restart). Every method is synchronous, so concurrent requests in one process
 * cannot interleave; an optional GpuLockStore extends exclusion across processes.
 */
export class ExclusiveGpuAllocator implements GpuAllocator {
  readonly total: number;
  readonly #devices: readonly GpuDevice[];
  readonly #deviceByUuid: ReadonlyMap<string, GpuDevice>;
  readonly #locks: GpuLockStore;
  /** uuid → taskId, for every GPU granted by this allocator. */
  readonly #holders = new Map<string, string>();
  readonly #leases = new Map<string, GpuLease>();

  constructor(devices: readonly GpuDevice[], options: ExclusiveGpuAllocatorOptions = {}) {
    checkDistinct(devices);
    this.#devices = Object.freeze([...devices].sort(byIndex));
    this.#deviceByUuid = new Map(this.#devices.map((d) => [d.uuid, d]));
    this.total = this.#devices.length;
    this.#locks = options.lockStore ?? NO_CROSS_PROCESS_LOCKS;
  }

  inUse(): number {
    return this.#holders.size;
  }

  leases(): readonly GpuLease[] {
    return Object.freeze([...this.#leases.values()]);
  }

  allocate(taskId: string, count: number): GpuLease {
    assertTaskId(taskId);
    assertCount(count);
    const existing = this.#leases.get(taskId);
    if (existing !== undefined) {
      if (existing.devices.length === count) return existing;
      throw new ExecutorError(
        'ALREADY_EXISTS',
        `task ${taskId} already holds ${existing.devices.length} GPUs and cannot ask for ${count}`,
      );
    }
    if (count === 0) return makeLease(taskId, []);
    const taken = this.#takeFree(taskId, count);
    if (taken.length < count) {
      this.#unlock(taskId, taken);
      const hint = this.total === 0 ? ' (this host has no GPUs)' : '';
      throw new ExecutorError(
        'RESOURCE_EXHAUSTED',
        `task ${taskId} asked for ${count} GPUs but only ${taken.length} of ${this.total} are free${hint}`,
      );
    }
    return this.#grant(taskId, taken);
  }

  release(taskId: string): void {
    const lease = this.#leases.get(taskId);
    if (lease === undefined) return;
    this.#leases.delete(taskId);
    for (const device of lease.devices) this.#holders.delete(device.uuid);
    this.#unlock(taskId, lease.devices);
  }

  restore(taskId: string, uuids: readonly string[]): GpuLease {
    assertTaskId(taskId);
    if (new Set(uuids).size !== uuids.length) throw invalidArgument('gpuUuids', `lists a GPU twice: ${uuids.join(',')}`);
    const existing = this.#leases.get(taskId);
    if (existing !== undefined) {
      if (sameUuids(existing, uuids)) return existing;
      const held = existing.devices.map((d) => d.uuid).join(',');
      throw new ExecutorError('ALREADY_EXISTS', `task ${taskId} already holds GPUs ${held}, not ${uuids.join(',')}`);
    }
    if (uuids.length === 0) return makeLease(taskId, []);
    const devices = uuids.map((uuid) => this.#restorable(taskId, uuid));
    this.#lockAll(taskId, devices);
    return this.#grant(taskId, devices);
  }

  removeStaleLocks(): readonly GpuLockOwner[] {
    return this.#locks.removeStale?.() ?? [];
  }

  /** Walks the GPUs lowest index first, locking free ones until it has `count`. */
  #takeFree(taskId: string, count: number): GpuDevice[] {
    const taken: GpuDevice[] = [];
    try {
      for (const device of this.#devices) {
        if (taken.length === count) break;
        if (this.#holders.has(device.uuid)) continue;
        if (this.#locks.tryAcquire(device.uuid, taskId).acquired) taken.push(device);
      }
    } catch (err) {
      this.#unlock(taskId, taken);
      throw err;
    }
    return taken;
  }

  #restorable(taskId: string, uuid: string): GpuDevice {
    const device = this.#deviceByUuid.get(uuid);
    if (device === undefined) {
      throw new ExecutorError('FAILED_PRECONDITION', `cannot restore GPUs of task ${taskId}: ${uuid} is not on this host`);
    }
    const holder = this.#holders.get(uuid);
    if (holder !== undefined) {
      throw new ExecutorError('FAILED_PRECONDITION', `cannot restore GPUs of task ${taskId}: ${uuid} is held by task ${holder}`);
    }
    return device;
  }

  /** All or nothing: on the first GPU another process holds, unlocks the rest and throws. */
  #lockAll(taskId: string, devices: readonly GpuDevice[]): void {
    const locked: GpuDevice[] = [];
    try {
      for (const device of devices) {
        const attempt = this.#locks.tryAcquire(device.uuid, taskId);
        if (!attempt.acquired) {
          throw new ExecutorError(
            'FAILED_PRECONDITION',
            `cannot restore GPUs of task ${taskId}: ${device.uuid} is held by ${describeHolder(attempt.holder)}`,
          );
        }
        locked.push(device);
      }
    } catch (err) {
      this.#unlock(taskId, locked);
      throw err;
    }
  }

  #grant(taskId: string, devices: readonly GpuDevice[]): GpuLease {
    const lease = makeLease(taskId, devices);
    for (const device of lease.devices) this.#holders.set(device.uuid, taskId);
    this.#leases.set(taskId, lease);
    return lease;
  }

  #unlock(taskId: string, devices: readonly GpuDevice[]): void {
    for (const device of devices) this.#locks.release(device.uuid, taskId);
  }
}
