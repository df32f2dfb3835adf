import { z } from 'zod';
import type { DefaultResources } from '../config/config.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { LaunchTaskRequest__Output } from '../proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import { containerInfoSchema, type ContainerInfo } from './container-info.js';
import { mapKeyForPath } from './env-limits.js';
import { refuseUndefinedContainerInfoFields, refuseUnsupportedContainerInfo } from './unsupported-fields.js';
import type { LaunchSpec, TaskResources } from './types.js';

/** Task ids name containers too, so they follow Docker's container-name rules. */
export const TASK_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** The largest serialized ContainerInfo accepted (the control plane's are a few KiB). */
export const MAX_CONTAINER_INFO_BYTES = 1024 * 1024;

export const taskIdSchema = z
  .string({ error: 'is required' })
  .min(1, 'is required')
  .regex(TASK_ID_RE, 'must be 1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit');

/** Turns the first zod issue into an INVALID_ARGUMENT naming the field. */
export const checkField = <T>(schema: z.ZodType<T>, value: unknown, prefix: string): T => {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== '').join('.');
  throw new ExecutorError('INVALID_ARGUMENT', `${path}: ${issue?.message ?? 'invalid'}`, { field: path });
};

/**
 * A ContainerInfo as a launch takes it: the schema, and no field set that the
 * executor would not honour (docs/fields.md). Only at launch: a stored task's
 * record is read back with the schema alone, so a task already running is
 * never lost to a refusal added later.
 */
const launchContainerInfoSchema = containerInfoSchema.superRefine(refuseUnsupportedContainerInfo);

/** Throws INVALID_ARGUMENT naming the first field of `info` that a launch refuses. */
export const checkContainerInfo = (info: unknown): void => {
  checkField(launchContainerInfoSchema, info, 'containerInfo');
};

export const parseTaskId = (value: unknown): string => checkField(taskIdSchema, value, 'taskId');

/**
 * Values of 2^31 and up in the proto's uint32 resources are negative numbers
 * a client wrapped (-1 arrives as 4294967295); saying so beats "more than
 * this host has". Whether a value fits the host is TaskManager's check.
 */
const MAX_RESOURCE_VALUE = 2 ** 31 - 1;
const count = (): z.ZodNumber =>
  z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .nonnegative('must not be negative')
    .max(MAX_RESOURCE_VALUE, 'must be below 2^31 (a negative number sent as uint32 arrives as 4294967295 or so)');
/** Docker refuses a memory limit under 6 MiB. */
const MIN_MEMORY_MB = 6;

const resourcesSchema = z
  .object({
    cpu: z
      .number({ error: 'must be a number' })
      .refine((n) => Number.isFinite(n), 'must be a finite number')
      .refine((n) => n >= 0, 'must not be negative')
      .optional(),
    memoryMb: count()
      .refine((n) => n === 0 || n >= MIN_MEMORY_MB, `must be at least ${MIN_MEMORY_MB} MiB (Docker's minimum), or 0 for the default`)
      .optional(),
    diskMb: count().optional(),
    networkMbps: count().optional(),
    gpus: count().optional(),
  })
  .strip();

/**
 * Resources: the request's own values win; zero or absent falls back to
 * ContainerInfo (numGpus, bandwidthLimitMbps), then to the configured defaults.
 */
const resolveResources = (raw: unknown, info: ContainerInfo, defaults: DefaultResources): TaskResources => {
  const r = checkField(resourcesSchema, raw ?? {}, 'resources');
  const pick = (v: number | undefined, ...fallbacks: Array<number | undefined>): number => {
    for (const c of [v, ...fallbacks]) if (c !== undefined && c > 0) return c;
    return 0;
  };
  return {
    cpu: pick(r.cpu, defaults.cpu),
    memoryMb: pick(r.memoryMb, defaults.memoryMb),
    diskMb: pick(r.diskMb, defaults.diskMb),
    networkMbps: pick(r.networkMbps, info.networkConfigInfo?.bandwidthLimitMbps, defaults.networkMbps),
    gpus: pick(r.gpus, info.numGpus, defaults.gpus),
  };
};

const labelsSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    const problem = key === '' ? 'the key is empty' : key.length > 256 ? 'the key is longer than 256 characters' : value.length > 4096 ? 'the value is longer than 4096 characters' : undefined;
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [mapKeyForPath(key)], message: problem });
  }
});

/**
 * A LaunchTaskRequest as the core accepts it: the task id, the ContainerInfo
 * (checked against its schema whichever door it came through), resources,
 * labels and the runtime limit. `decodeBytes` turns containerInfoBytes into a
 * message and throws when they are not one; the door that received the bytes
 * knows the wire and adds its checks there (src/api/validate.ts).
 */
export const parseLaunchRequest = (
  req: LaunchTaskRequest__Output,
  defaults: DefaultResources,
  decodeBytes: (b: Uint8Array) => unknown,
): LaunchSpec => {
  const taskId = parseTaskId(req.taskId);
  const containerInfo = parseContainerInfo(req, decodeBytes);
  return {
    taskId,
    containerInfo,
    resources: resolveResources(req.resources, containerInfo, defaults),
    labels: checkField(labelsSchema, req.labels ?? {}, 'labels'),
    ...runtimeLimit(req.runtimeLimitSeconds, containerInfo),
  };
};

/** The passthrough attribute a control plane without the request field can set. */
export const RUNTIME_LIMIT_ATTRIBUTE = 'titusParameter.agent.runtimeLimitSeconds';

/**
 * The longest runtime limit accepted: 365 days. Longer is no batch job's
 * limit; a larger number is more likely a unit mistake (milliseconds) or a
 * wrapped negative. The timer that enforces it chains (src/common/long-timer.ts).
 */
export const MAX_RUNTIME_LIMIT_SECONDS = 365 * 24 * 3600;
const runtimeLimitTooLong = `must be at most ${MAX_RUNTIME_LIMIT_SECONDS} seconds (365 days)`;

/** The request's runtime_limit_seconds, else the passthrough attribute, else none. */
const runtimeLimit = (fromRequest: number | undefined, info: ContainerInfo): { runtimeLimitSeconds?: number } => {
  if (fromRequest !== undefined && fromRequest > 0) {
    return { runtimeLimitSeconds: checkField(z.number().int().max(MAX_RUNTIME_LIMIT_SECONDS, runtimeLimitTooLong), fromRequest, 'runtimeLimitSeconds') };
  }
  const attribute = info.passthroughAttributes?.[RUNTIME_LIMIT_ATTRIBUTE];
  if (attribute === undefined || attribute === '') return {};
  const field = `containerInfo.passthroughAttributes.${RUNTIME_LIMIT_ATTRIBUTE}`;
  const seconds = checkField(
    z
      .string()
      .regex(/^\d{1,12}$/, 'must be a whole number of seconds')
      .refine((s) => Number(s) <= MAX_RUNTIME_LIMIT_SECONDS, runtimeLimitTooLong),
    attribute,
    field,
  );
  return Number(seconds) > 0 ? { runtimeLimitSeconds: Number(seconds) } : {};
};

const parseContainerInfo = (req: LaunchTaskRequest__Output, decodeBytes: (b: Uint8Array) => unknown): ContainerInfo => {
  if (req.container === 'containerInfoBytes' && req.containerInfoBytes !== undefined) {
    const bytes = req.containerInfoBytes;
    if (bytes.length === 0) throw new ExecutorError('INVALID_ARGUMENT', 'containerInfoBytes: is empty', { field: 'containerInfoBytes' });
    if (bytes.length > MAX_CONTAINER_INFO_BYTES) {
      throw new ExecutorError('INVALID_ARGUMENT', `containerInfoBytes: ${bytes.length} bytes exceeds the ${MAX_CONTAINER_INFO_BYTES}-byte limit`, {
        field: 'containerInfoBytes',
      });
    }
    let decoded: unknown;
    try {
      decoded = decodeBytes(bytes);
    } catch (err) {
      throw new ExecutorError('INVALID_ARGUMENT', `containerInfoBytes: not a serialized messages.ContainerInfo (${errorMessage(err)})`, {
        field: 'containerInfoBytes',
      });
    }
    refuseUndefinedContainerInfoFields(bytes, 'containerInfoBytes');
    return checkField(launchContainerInfoSchema, decoded, 'containerInfoBytes');
  }
  if (req.containerInfo === undefined || req.containerInfo === null) {
    throw new ExecutorError('INVALID_ARGUMENT', 'containerInfo: is required (containerInfo or containerInfoBytes)', {
      field: 'containerInfo',
    });
  }
  return checkField(launchContainerInfoSchema, req.containerInfo, 'containerInfo');
};
