import type { TaskManager } from './task-manager.js';

/**
 * The core as a door (gRPC, interLink, the CLI) sees it: launch, kill, get,
 * list, watch (the status bus with its snapshot and replay), host resources
 * and drain. TaskManager is the one implementation; a door that types against
 * this cannot reach the runner, the store or the parts behind it.
 */
export type TaskService = Pick<
  TaskManager,
  'launch' | 'kill' | 'get' | 'list' | 'snapshot' | 'subscribe' | 'bus' | 'hostResources' | 'drainState' | 'setDrain'
>;

// ---- What the doors need of the adapters, named by the core ------------------------
// Doors reach adapters only through the core (rule door-imports-adapter in
// .dependency-cruiser.cjs): the types and checks below are the adapters' own,
// handed on here so a door never imports src/runtime, src/host or src/logs.

/** An engine failure (RuntimeError): the doors map its kind to a status (gRPC UNAVAILABLE, HTTP 503). */
export { isRuntimeError } from '../runtime/runtime-errors.js';
/** Reading a task's stored output (the log store): GetTaskLogs, interLink's /getLogs. */
export type { LogLine, LogQuery, TaskLogReader } from '../logs/types.js';
/** The host's drain switch: its state (GetHostResources, SetDrain) and the limit on a reason's length. */
export { MAX_DRAIN_REASON_LENGTH, type DrainStatus } from '../host/drain-switch.js';
/** A host path bind-mounted into a task's container (interLink pod volumes become these). */
export type { BindMount } from '../runtime/container-spec.js';
/** Whether the engine enforces a task's disk size or only accounts it (GetHostResources). */
export type { DiskQuotaSupport } from '../runtime/disk-quota.js';
/** A timestamp as the engine's output lines carry it, normalized (run-task's --since). */
export { normalizeTimestamp } from '../runtime/output-timestamp.js';
