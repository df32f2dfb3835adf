import { z } from 'zod';
import type { DefaultResources } from '../config/config.js';
import { ExecutorError } from '../common/errors.js';
import { TASK_STATES, type LaunchSpec, type TaskState } from '../task/types.js';
import type { LaunchTaskRequest__Output } from '../proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import type { KillTaskRequest__Output } from '../proto/generated/titus/executor/v1/KillTaskRequest.js';
import type { ListTasksRequest__Output } from '../proto/generated/titus/executor/v1/ListTasksRequest.js';
import type { WatchTaskStatusRequest__Output } from '../proto/generated/titus/executor/v1/WatchTaskStatusRequest.js';
import type { SetDrainRequest__Output } from '../proto/generated/titus/executor/v1/SetDrainRequest.js';
import { MAX_DRAIN_REASON_LENGTH } from '../task/task-service.js';
import { checkContainerInfoWireTypes, undecodableReason } from './request-decoding.js';
import {
  checkField as check,
  parseLaunchRequest as parseLaunchInCore,
  parseTaskId,
  MAX_CONTAINER_INFO_BYTES,
  MAX_RUNTIME_LIMIT_SECONDS,
  RUNTIME_LIMIT_ATTRIBUTE,
  TASK_ID_RE,
  taskIdSchema,
} from '../task/launch-request.js';

// The launch request's validation is the core's (src/task/launch-request.ts), so every door gets it.
export { parseTaskId, MAX_CONTAINER_INFO_BYTES, MAX_RUNTIME_LIMIT_SECONDS, RUNTIME_LIMIT_ATTRIBUTE, TASK_ID_RE };

/** A request the service could not decode at all (src/api/request-decoding.ts) is the caller's fault. */
const rejectUndecodable = (request: unknown): void => {
  const why = undecodableReason(request);
  if (why !== undefined) throw new ExecutorError('INVALID_ARGUMENT', `request: ${why}`, { field: 'request' });
};

/** A ContainerInfo decoder that first checks the bytes' wire types, so a field of the wrong type is named. */
export const wireCheckedDecoder =
  (decodeBytes: (b: Uint8Array) => unknown) =>
  (bytes: Uint8Array): unknown => {
    checkContainerInfoWireTypes(bytes);
    return decodeBytes(bytes);
  };

/** A LaunchTaskRequest as gRPC delivered it: refused if undecodable, then the core's validation. */
export const parseLaunchRequest = (
  req: LaunchTaskRequest__Output,
  defaults: DefaultResources,
  decodeBytes: (b: Uint8Array) => unknown,
): LaunchSpec => {
  rejectUndecodable(req);
  return parseLaunchInCore(req, defaults, wireCheckedDecoder(decodeBytes));
};

export const parseKillRequest = (req: KillTaskRequest__Output): { taskId: string; reason: string; killWaitSeconds?: number } => {
  rejectUndecodable(req);
  const taskId = parseTaskId(req.taskId);
  const reason = check(z.string().max(1024), req.reason ?? '', 'reason');
  const wait = req.killWaitSeconds;
  return { taskId, reason, ...(wait !== undefined && req._killWaitSeconds === 'killWaitSeconds' ? { killWaitSeconds: wait } : {}) };
};

/** Proto enum names (`TASK_STATE_RUNNING`) to domain states. */
export const stateFromProto = (name: string): TaskState | undefined => {
  const s = name.replace(/^TASK_STATE_/, '');
  return (TASK_STATES as readonly string[]).includes(s) ? (s as TaskState) : undefined;
};

export const parseListRequest = (req: ListTasksRequest__Output): { includeTerminal: boolean; states: TaskState[] } => {
  rejectUndecodable(req);
  const states: TaskState[] = [];
  for (const name of req.states ?? []) {
    const s = stateFromProto(String(name));
    if (s === undefined) throw new ExecutorError('INVALID_ARGUMENT', `states: unknown state ${String(name)}`, { field: 'states' });
    states.push(s);
  }
  return { includeTerminal: req.includeTerminal === true, states };
};

export interface WatchRequest {
  readonly taskIds: ReadonlySet<string>;
  readonly sendSnapshot: boolean;
  readonly afterSequence: number;
  readonly keepAliveSeconds: number | undefined;
}

/**
 * The longest keep-alive period a watch may ask for: one day. Keep-alives are
 * how a client tells a quiet stream from a dead one; a longer period tells it nothing.
 */
export const MAX_KEEPALIVE_SECONDS = 86_400;

export const parseWatchRequest = (req: WatchTaskStatusRequest__Output): WatchRequest => {
  rejectUndecodable(req);
  const ids = (req.taskIds ?? []).map((id, i) => check(taskIdSchema, id, `taskIds.${i}`));
  const after = check(z.string().regex(/^\d{1,15}$/, 'must be a sequence number'), req.afterSequence ?? '0', 'afterSequence');
  const keepAlive = check(
    z.number().int().max(MAX_KEEPALIVE_SECONDS, `must be at most ${MAX_KEEPALIVE_SECONDS} seconds (one day), or 0 for the server default`).optional(),
    req.keepaliveSeconds,
    'keepaliveSeconds',
  );
  return {
    taskIds: new Set(ids),
    sendSnapshot: req.sendSnapshot === true,
    afterSequence: Number(after),
    keepAliveSeconds: keepAlive !== undefined && keepAlive > 0 ? keepAlive : undefined,
  };
};

/** Printable text only: the reason is echoed in refusals, GetHostResources and logs. */
const drainReasonSchema = z
  .string()
  .max(MAX_DRAIN_REASON_LENGTH, `must be at most ${MAX_DRAIN_REASON_LENGTH} characters`)
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

export const parseSetDrainRequest = (req: SetDrainRequest__Output): { draining: boolean; reason: string } => {
  rejectUndecodable(req);
  return { draining: req.draining === true, reason: check(drainReasonSchema, req.reason ?? '', 'reason').trim() };
};
