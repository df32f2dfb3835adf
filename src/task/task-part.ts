import type { ContainerSummary } from '../runtime/container-runtime.js';
import type { BindMount } from '../runtime/container-spec.js';
import type { LaunchSpec, NetworkDetails, TaskView } from './types.js';

export interface PartCapacity {
  readonly gpus?: number;
  /** Lines for operators: what the part found on this host. */
  readonly status?: string | readonly string[];
  readonly gpuDevices?: readonly { index: number; uuid: string; name: string; memoryMiB: number; pciBusId: string; taskId?: string }[];
}

/** What a part grants a task's container. */
export interface PartGrant {
  readonly env?: Readonly<Record<string, string>>;
  /** An OCI runtime the container must use (GPUs). */
  readonly runtime?: string;
  /** Docker network mode, e.g. `container:<sandbox>` once networking is in place. */
  readonly networkMode?: string;
  /**
   * With network mode `none`: the engine sets up no network at all and the OCI
   * runtime gives the container a namespace with only lo (Docker's
   * NetworkDisabled); the part supplies /etc/hosts and /etc/resolv.conf.
   */
  readonly networkDisabled?: boolean;
  readonly network?: NetworkDetails;
  /** Extra container labels, so what the part granted can be re-derived from the engine. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Host files bind-mounted into the container (the network sandbox's /etc/hosts and /etc/resolv.conf). */
  readonly mounts?: readonly BindMount[];
}

/**
 * What the core hands a part at acquire() for the task being launched, so the
 * part needs nothing back from the core itself: the task's view, and a way to
 * put a note on its status (the metadata part reports IAM role trouble there).
 */
export interface TaskHandle {
  /** The task's current view (ContainerInfo, image, times, state). */
  view(): TaskView;
  /**
   * Publishes `message` as one more RUNNING update. Returns false and publishes
   * nothing when the task is not RUNNING (or its end is decided). Not from
   * inside a bus listener: defer it, so every subscriber sees updates in order.
   */
  note(message: string): boolean;
}

/**
 * A per-task resource the core acquires before the container is created and
 * releases on every exit path (GPUs, addresses). Parts never call back into
 * the core or the API.
 */
export interface TaskPart {
  readonly name: string;
  /**
   * Synchronous admission at LaunchTask: reserve what the task needs or throw
   * (RESOURCE_EXHAUSTED, INVALID_ARGUMENT), so the caller gets a status code
   * instead of a task that fails later. Released like everything else.
   */
  admit?(launch: LaunchSpec): void;
  /** What this part contributes to GetHostResources. */
  capacity?(): PartCapacity;
  /** `task`: the task being launched, for a part that follows it after acquire (see TaskHandle). */
  acquire(launch: LaunchSpec, signal: AbortSignal, task: TaskHandle): Promise<PartGrant>;
  /** Idempotent; called whether or not acquire succeeded. */
  release(taskId: string): Promise<void>;
  /**
   * After an executor restart, once the engine answers and before the tasks
   * are picked up again: takes up again what the part granted the live tasks
   * whose containers still run, and removes what it finds that no live task
   * owns (a crash skips every release). `containers`: this executor's task
   * containers as the engine lists them; `live`: the tasks not ended.
   */
  reconcileAfterRestart?(containers: readonly ContainerSummary[], live: ReadonlySet<string>): Promise<void>;
}

/** Every part admits the task or none does: a refusal releases what earlier parts reserved. */
export const admitAll = (parts: readonly TaskPart[], spec: LaunchSpec): void => {
  const admitted: TaskPart[] = [];
  try {
    for (const part of parts) {
      part.admit?.(spec);
      admitted.push(part);
    }
  } catch (err) {
    for (const part of admitted) void part.release(spec.taskId).catch(() => undefined);
    throw err;
  }
};
