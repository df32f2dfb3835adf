import type { LaunchSpec, NetworkDetails } from './types.js';

/** What a part grants a task's container. */
export interface PartGrant {
  readonly env?: Readonly<Record<string, string>>;
  /** An OCI runtime the container must use (GPUs). */
  readonly runtime?: string;
  /** Docker network mode, e.g. `container:<sandbox>` once networking is in place. */
  readonly networkMode?: string;
  readonly network?: NetworkDetails;
}

/**
 * A per-task resource the core acquires before the container is created and
 * releases on every exit path (GPUs, addresses). Parts never call back into
 * the core or the API.
 */
export interface TaskPart {
  readonly name: string;
  acquire(launch: LaunchSpec, signal: AbortSignal): Promise<PartGrant>;
  /** Idempotent; called whether or not acquire succeeded. */
  release(taskId: string): Promise<void>;
}
