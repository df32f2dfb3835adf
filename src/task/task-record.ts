import { z } from 'zod';
import { containerInfoSchema } from './container-info.js';
import { TASK_STATES, type ExitInfo, type LaunchSpec, type StatusUpdate } from './types.js';
import type { ImageRef } from '../runtime/image-ref.js';

/**
 * What the durable store keeps of one task: enough to answer Get/List/Watch
 * after a restart and to re-attach to its container. Written whole, after
 * every change, before the change is streamed.
 */
export interface TaskRecord {
  readonly launch: LaunchSpec;
  readonly image: ImageRef;
  readonly acceptedAtMs: number;
  readonly startedAtMs?: number;
  readonly finishedAtMs?: number;
  readonly containerId?: string;
  /** The command the container runs (for the exit-127 message). */
  readonly command?: readonly string[];
  /** Set once the container exited, before cleanup: a crash during cleanup still knows the exit code. */
  readonly exit?: ExitInfo;
  readonly outputTail?: string;
  readonly kill?: KillRequest;
  readonly history: readonly StatusUpdate[];
}

export interface KillRequest {
  readonly reason: string;
  readonly graceSeconds: number;
  /** Why the executor itself killed the task (runtime limit); absent for a control-plane kill. */
  readonly cause?: 'runtimeLimitExceeded' | 'stuckInState';
}

// ---- validation of what is read back: a record that does not fit is corrupt ----

const exitSchema = z.object({ exitCode: z.number().int(), oomKilled: z.boolean(), signal: z.string().optional() });
const updateSchema = z
  .object({
    taskId: z.string(),
    sequence: z.number().int().positive(),
    timestampMs: z.number(),
    state: z.enum(TASK_STATES),
    message: z.string(),
    titusState: z.string(),
    reasonCode: z.string(),
    containerId: z.string().optional(),
    exit: exitSchema.optional(),
    pull: z.object({ image: z.string(), currentBytes: z.number(), totalBytes: z.number(), layersDone: z.number(), layersTotal: z.number() }).optional(),
    network: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();
const resourcesSchema = z.object({ cpu: z.number(), memoryMb: z.number(), diskMb: z.number(), networkMbps: z.number(), gpus: z.number() });

const recordSchema = z
  .object({
    launch: z
      .object({
        taskId: z.string().min(1),
        containerInfo: containerInfoSchema,
        resources: resourcesSchema,
        labels: z.record(z.string(), z.string()),
      })
      .passthrough(),
    image: z.object({ repository: z.string(), ref: z.string(), tag: z.string().optional(), digest: z.string().optional() }),
    acceptedAtMs: z.number(),
    startedAtMs: z.number().optional(),
    finishedAtMs: z.number().optional(),
    containerId: z.string().optional(),
    command: z.array(z.string()).optional(),
    exit: exitSchema.optional(),
    outputTail: z.string().optional(),
    kill: z.object({ reason: z.string(), graceSeconds: z.number(), cause: z.enum(['runtimeLimitExceeded', 'stuckInState']).optional() }).optional(),
    history: z.array(updateSchema).min(1),
  })
  .passthrough();

/** JSON has no bytes: Uint8Array values (ContainerInfo.signedAddressAllocation) travel as base64. */
const BYTES_KEY = '$base64';

export const encodeRecord = (record: TaskRecord): string =>
  JSON.stringify(record, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    if (raw instanceof Uint8Array) return { [BYTES_KEY]: Buffer.from(raw).toString('base64') };
    return value;
  });

/** Parses and checks a record's body; throws with a reason when it does not fit. */
export const decodeRecord = (body: string): TaskRecord => {
  const raw = JSON.parse(body, (_key, value: unknown) => {
    if (typeof value === 'object' && value !== null && BYTES_KEY in value) {
      return Buffer.from(String((value as Record<string, unknown>)[BYTES_KEY]), 'base64');
    }
    return value;
  }) as unknown;
  const parsed = recordSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`record does not fit the schema at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data as unknown as TaskRecord;
};
